#pragma once
// The M-TIP loop (SPEC.md's five steps), one generation after another:
//   1. slicing   model images of the current autocorrelation at the reference orientations
//   2. matching  each data image's nearest model image (one GEMM per batch, running argmin)
//   3. merging   the autocorrelation that explains the data at those orientations (CG)
//   4. phasing   a density whose autocorrelation that is (HIO/ER/shrinkwrap)
//   5. (resolution is measured by the caller on the returned density)
//
// Schedule (measured on noise-free 2cex, see README "How spire converges"):
//  - Generation 0 merges at random orientations: a spherically averaged start from the data
//    alone. No true orientation is used (unless settings.orientations.oracle asks, for
//    evaluation only, to merge with the file's true orientations in every generation).
//  - Search stage: slicing takes the autocorrelation of the PHASED density. Phasing (cold
//    start, its own seed each generation) imposes a compact, positive molecule, which is
//    what breaks the spherical symmetry of the start; merged models alone stay spherical.
//  - Refinement stage: slicing takes the MERGED autocorrelation, which carries no phasing
//    error (the phased one keeps a few percent of Fourier error and, sliced every
//    generation, lets the orientations drift). The search ends when the fit (mean over
//    images of the best match's residual beyond what shot noise leaves, relative to the
//    image: (|x - a y|^2 - sum x) / |x|^2 for photon counts, |x - a y|^2 / |x|^2 for
//    noise-free intensities; for the poisson metric the best score less the saturated
//    model's, per photon) improves by less than
//    generations.search_improvement, or after generations.search_max generations.
//  - Stop in refinement when the merged autocorrelation changes by less than
//    generations.stop_change (relative l2), or fewer than generations.stop_reassigned of the
//    images change orientation (the fixed point of hard assignment: merging the same
//    assignment again only polishes CG), or the fit improves by less than
//    generations.stop_fit in generations.fit_patience (2) generations in a row (on
//    noise-free 2cex the median orientation error moved by 0.1 degree over the last 5
//    generations before that; one slow step alone is noise: on 5,000 Poisson images it
//    ended refinement at 19.5 degrees, with 6% of the images still to move), or after
//    generations.max generations.
//  - Local stage (generations.local_max > 0): refinement has converged ON THE REFERENCE SET,
//    whose spacing (covering radius 9.6 deg for 1e4 references) then limits the map. Up to
//    local_max more generations slice and match as in refinement, then refine every image's
//    orientation on its own (matching/refine.hpp: Newton steps on the image's score, from
//    the better of its grid match and its previous orientation) and merge at those. It
//    stops on stop_change or stop_fit (with fit_patience) like refinement. (reassigned
//    counts every image that moved at all, so it is not a criterion here.)
// Every generation is deterministic given the settings, so a run resumed from the State
// after generation g gives the same result as one that was never interrupted.
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

// With a Team of several ranks (mpirun), Data holds THIS rank's images (a contiguous range of
// the file's, in rank order: Team::images) with their truth, and State::orientations are
// this rank's; everything else in the State is the same on every rank.
struct Data {
  std::int64_t n_images = 0, n_pixels = 0;
  std::vector<float> images;                       // n_images x n_pixels
  std::vector<std::array<double, 3>> pixels;       // reciprocal positions (any unit)
  std::vector<geometry::Quaternion> truth;         // empty when the file has none
};

enum class Stage { start, search, refine, oracle, local };
const char* stage_name(Stage stage);

struct Generation {
  int index = 0;
  Stage stage = Stage::start;
  double slicing_s = 0, matching_s = 0, merging_s = 0, phasing_s = 0;
  double refining_s = 0;          // local refinement (local stage), its slicing included
  double fit = -1;                // mean relative excess residual of the best matches (-1: none)
  double change = 0;              // relative change of the merged autocorrelation
  double reassigned = 1;          // fraction of images whose orientation changed
  double fourier_error = 0;       // phasing's final Fourier error
  int cg_iterations = 0;
  double median_error_deg = -1;   // against the true orientations (evaluation only), -1: none
};

// Everything the next generation needs: a checkpoint. Autocorrelations and the density are
// n^3, centred (origin at voxel n/2).
struct State {
  int next_generation = 0;
  bool refining = false;
  bool local = false;  // in the local stage (after refinement converged)
  bool finished = false;
  // Finished by a stop criterion, not by generations.max: a resume with a larger
  // generations.max continues only a run that has not converged (reconstruct/checkpoint.hpp).
  bool converged = false;
  std::vector<geometry::Quaternion> orientations;  // assigned to each image
  std::vector<double> autocorrelation;             // merged
  std::vector<double> density;                     // phased
  std::vector<double> slicing_input;               // what the next slicing takes
  std::vector<Generation> generations;             // history
};

// Runs until finished, from `resume` if given (a State an earlier run with the same data and
// settings handed to `progress`). `progress` sees every generation and the State after it.
// On a Team of R ranks (collective: every rank calls it): slicing and matching go through
// distributed::OrientationSearch (settings.distribution), merging sums the Toeplitz kernel
// and A*Db over ranks, the lead solves and phases and broadcasts; every rank ends with the
// same State. Against one rank (tests/distributed): the same random start; from the same
// slicing input the same orientations (but for near-ties within float round-off); the merged
// sums to float round-off (3e-6), the merged map to that times the system's conditioning
// (6e-6 at regularisation 0.1, 1e-4 at 1e-3). Phasing is chaotic in its input: a 5e-7
// change of the autocorrelation moved the phased density by 2-4% (as does running one rank
// with 2 threads instead of 1), so later generations of 1- and R-rank runs drift apart the
// way two 1-rank runs with different thread counts do.
// Several ranks run on the CPU only (runtime.device = cuda fails) and start fresh: resuming
// from a checkpoint (one process's State, every image's orientation) fails.
State run(const Data& data, const Settings& settings,
          const std::function<void(const Generation&, const State&)>& progress = {},
          const State* resume = nullptr, const distributed::Team& team = distributed::Team());

// The final density. Phasing is chaotic in its random start: from one autocorrelation (2cex,
// 3,200 photons per image) single runs reached FSC 0.5 against the model anywhere from 10.2
// to 25 A depending on the seed, and the lowest Fourier error picks a good one only roughly.
// So the final density is the mean of settings.phasing.final_average runs (seeds seed,
// seed + 1, ...), each aligned by shift and hand (resolution::align) to the run with the
// lowest Fourier error: the mean of 8 reached 11.2 A where single runs scattered over
// 11.4-24.5 A. Computed on the calling rank (the lead) on the CPU.
struct AveragedPhasing {
  std::vector<double> density;         // n^3, centred
  std::vector<double> fourier_errors;  // each run's final Fourier error, lowest first
};
AveragedPhasing phase_averaged(const Settings& settings, std::span<const double> autocorrelation, std::uint64_t seed);

// Half-data maps, a resolution estimate without a model: the images split by the parity of
// their index among the images used, each half merged at `orientations` (this rank's, as in
// State), regularised toward zero (not toward the run's map, which both halves would then
// share), and phased as the final density is (phase_averaged) with seeds of its own (seed +
// (h + 1) final_average for half h, so that no random start is shared). Their FSC counts
// each half's photon noise, but the halves share the orientations, found against a model
// made from all the images, so it is optimistic next to two fully independent
// reconstructions ("gold standard"). On the CPU (also with runtime.device = cuda);
// collective on a Team like run().
struct HalfMaps {
  std::array<std::vector<double>, 2> density;  // n^3 each, centred
};
HalfMaps half_maps(const Data& data, const Settings& settings, std::span<const geometry::Quaternion> orientations,
                   std::uint64_t seed, const distributed::Team& team = distributed::Team());

// Median angle between found and true orientations, in degrees, after the global rotation
// between the reconstruction's frame and the model's (the one most images agree on), each
// image taken as the nearer of q and q turned by pi about the beam (the near-Friedel
// ambiguity of a flat detector).
double median_orientation_error(const std::vector<geometry::Quaternion>& found,
                                const std::vector<geometry::Quaternion>& truth);

// The NUFFT tolerance of the local stage's slices: orientations.local_tolerance, or where
// that is 0 (auto), 1e-3 for photon counts (counts: every value an integer) and
// slicing.tolerance for noise-free intensities.
double local_tolerance(const Settings& settings, bool counts);

// The stopping rule's count: generations in a row, the last one included, whose fit (lower
// is better) improved by less than the fraction stop_fit over the one before; fits are one
// stage's generations in order.
std::int64_t slow_generations(std::span<const double> fits, double stop_fit);

}  // namespace spire::reconstruct
