#pragma once
// The back ends of the M-TIP loop: the steps the loop (reconstruct.cpp) asks for, and
// nothing else. The loop holds no device branch and no MPI call; back ends differ below
// this interface only (CPU or CUDA kernels, a local or an MPI reduction).
//
// Implementations (make_backend picks one from runtime.device and the team):
//  - CPU, one process: slicing and matching a batch at a time (matching::SliceSearch),
//    merging, phasing, on OpenMP threads; a one-rank Team, no MPI call.
//  - CPU on the R ranks of a Team (mpirun): the same object with the team inside: slices in
//    MPI windows (distributed::OrientationSearch), merging sums the Toeplitz kernel and A*Db
//    over ranks, the lead solves and phases, and broadcasts.
//  - CUDA (one rank): src/cuda's GenerationRunner; local refinement and subset merges (half
//    maps) run on the CPU.
// A back end that cannot run these settings (CUDA without a GPU or build, CUDA on several
// ranks, TF32 GEMMs on the CPU) fails when it is made, naming the setting, before any work.
//
// Contract (every implementation; "rank" is this process, images are Data's):
//  - Maps (autocorrelations, densities) are n^3 doubles, centred (origin at voxel n/2), and
//    the same on every rank after every call that returns one.
//  - slice_and_match: for each of this rank's images, the reference (index into
//    references()) whose slice of `model` scores best (matching.hpp: lower is better, ties
//    to the lowest index) and that score. The spans stay valid until the next call.
//  - refine: each image refined below the reference spacing (matching/refine.hpp) from its
//    `per_image` starts, against `model`; writes its orientation and its score (double).
//  - merge: the autocorrelation explaining every rank's images i with keep(i) (all when
//    keep is empty; i indexes this rank's images) at `orientations` (this rank's), by CG
//    from x0 (empty: zeros) regularised toward x0. With `scales` (this rank's, one per
//    image; empty: all 1) image i is a_i times the model (fluence.hpp): values b / a_i,
//    weights a_i for photon counts and a_i^2 otherwise; a_i = 0 leaves the image out.
//    Bad pixels (Data) are left out. Images at the same orientation (bit for bit: the grid
//    stages' matches) may be merged as one set of points with their weights summed (the
//    CPU's does: the same sums up to float rounding, fewer points to spread).
//  - phase: one phasing run with the schedule (its seed) of an autocorrelation on a centred
//    box of m^3 voxels (any odd m <= n, the grid's voxel: phasing/box.hpp), its density on
//    that box and the final Fourier error; the data's sphere |s| <= extent is |k| <= m/2 there.
//  - autocorrelation_of(density): its circular autocorrelation.
//  - sum: per-rank partial sums summed over ranks, in place; gather: every rank's
//    orientations (or values per image) in rank order on the lead (empty elsewhere).
//  - Deterministic: the same calls in the same order give the same results (bit for bit on
//    one process and the CPU).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/progress.hpp"
#include "distributed/search.hpp"
#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "matching/refine.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "reconstruct/data.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

struct Matches {
  std::span<const std::int64_t> reference;  // per image: its best
  std::span<const float> score;             // per image: its best's
  // Per reference: its slice's |y|^2 or sum W (matching::NearestSlices::reference_sums),
  // the same on every rank; empty where the back end gives none.
  std::span<const double> reference_sums;
  double slicing_s = 0, matching_s = 0;
  // With matching top_k > 1 (soft assignment): per image its top_k references and scores,
  // best first (image-major, n_images x top_k; matching.hpp); else empty.
  std::int64_t top_k = 1;
  std::span<const std::int64_t> candidates = {};
  std::span<const float> candidate_scores = {};
};

struct Phased {
  std::vector<double> density;
  double fourier_error = 0;
};

// Phasing on the CPU for every box size asked for (phasing/box.hpp): a Phaser per size (its
// FFT plans and buffers made on first use and kept), in the precision phasing.precision asks.
class CpuPhasers {
 public:
  CpuPhasers(PhasingPrecision precision, int threads, Planning planning)
      : precision_(precision), threads_(threads), planning_(planning) {}
  // autocorrelation: m^3 values (m odd); the data's sphere is |k| <= m/2.
  Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule);
  std::vector<double> autocorrelation_of(std::span<const double> density);

 private:
  template <typename T>
  phasing::Phaser<T>& phaser(std::vector<std::unique_ptr<phasing::Phaser<T>>>& made, int m);
  PhasingPrecision precision_;
  int threads_;
  Planning planning_;
  std::vector<std::unique_ptr<phasing::Phaser<float>>> float_;
  std::vector<std::unique_ptr<phasing::Phaser<double>>> double_;
};

// The box the loop phases in (phasing.box; 0: phasing::phasing_box of the autocorrelation's
// support radius), and one phasing run there with its density back on the n^3 grid: host
// logic for every back end.
class Backend;
int phasing_box_for(const Settings& settings, std::span<const double> autocorrelation);
Phased phase_in_box(Backend& backend, const Settings& settings, std::span<const double> autocorrelation,
                    const phasing::Schedule& schedule);

// A soft assignment of this rank's images: image i at references()[references[i k + j]] with
// weight weights[i k + j], j < k (weight 0 or a negative index: not used).
struct Candidates {
  std::int64_t k = 1;
  std::span<const std::int64_t> references;
  std::span<const float> weights;
};

// The kept maps' merges after a loop on cells (finish.hpp): every image regularised toward
// x0 (full), and each half's images (half(i) = 0 or 1) regularised toward zero.
struct HalvesMerge {
  merging::Solution full;
  std::array<merging::Solution, 2> halves;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const std::vector<geometry::Quaternion>& references() const = 0;
  virtual Matches slice_and_match(std::span<const double> model) = 0;
  virtual void refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
                      std::span<geometry::Quaternion> orientations, std::span<double> scores) = 0;
  virtual merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                  const std::function<bool(std::int64_t)>& keep = {},
                                  std::span<const double> scales = {}) = 0;
  // merge for a soft assignment: each image at each of its candidates, its weight (D above)
  // times the candidate's; images at one reference are merged as one set of points, so the
  // cost grows with the references used, not with k. Back ends without it fail.
  virtual merging::Solution merge_candidates(const Candidates& candidates, std::span<const double> x0,
                                             std::span<const double> scales);
  // merge() of every image toward x0 and of each half toward zero, as three merge() calls
  // would give them (to rounding); the CPU back end spreads each image once, the full
  // merge's sums being the halves' summed. This default merges three times.
  virtual HalvesMerge merge_with_halves(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                        const std::function<int(std::int64_t)>& half, std::span<const double> scales);
  virtual Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) = 0;
  virtual std::vector<double> autocorrelation_of(std::span<const double> density) = 0;

  virtual void sum(std::span<double> values) const = 0;
  virtual std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> mine) const = 0;
  virtual std::vector<double> gather(std::span<const double> mine) const = 0;
  virtual bool lead() const = 0;

  // The loop's box (box_backend.hpp): back ends that can change it (BoxBackend, which
  // make_backend returns) work on the centred m^3 box from now on; box() is that m, 0 for
  // the whole grid. The others stay on the grid.
  virtual void set_box(int /*m*/) {}
  virtual int box() const { return 0; }
  // The reference set from now on (orientations.references or the search's coarser set,
  // search_references below); collective. Back ends that cannot change it keep theirs.
  virtual void set_references(std::int64_t /*count*/) {}

  // Where the long steps (slicing and matching, local refinement, merging) report how far
  // they are: silent unless set (the lead's terminal; core/progress.hpp).
  void report_to(Progress& progress) { progress_ = &progress; }
  Progress& progress() const { return progress_ ? *progress_ : silent_; }

 private:
  Progress* progress_ = nullptr;
  static inline Progress silent_;
};

// The local stage's line about its photon scores (matching/photon_scores.hpp): the measured
// cell size, its error and the positions per candidate; empty where they were not used.
std::string photon_scores_note(const matching::RefineStats& stats, std::int64_t pixels);

// The options of every stage, derived once from the settings and the data.
struct StageOptions {
  slicing::Options slicing;
  matching::Options matching;
  matching::RefineOptions refine;
  merging::Options merging;
  phasing::Schedule phasing;  // seed: runtime.seed; the loop sets each generation's
  distributed::SearchOptions search;
  Planning planning = Planning::measure;
  int threads = 0;
};
StageOptions stage_options(const Settings& settings, const Data& data, std::size_t n_references);

// The phasing schedule of the settings, with seed runtime.seed.
phasing::Schedule phasing_schedule(const Settings& settings);

// The search stage's reference count: orientations.search_references, or where that is 0
// (auto) for photon counts a quarter of orientations.references but at least 1000 (all of
// them if fewer), for noise-free intensities all of them; all of them under the hybrid
// distribution strategy (its node groups hold one set's cut). A coarser set for the search:
// its generations only have to bring the images within the reach of refinement on the full
// set. Measured (docs/speed.md, session 11): the README's Poisson case and the demo converged
// with it at a third of the search's cost; noise-free t1 did not (its search, slow with all
// 10,000 references, stayed at 77-96 degrees with 2,500).
std::int64_t search_references(const Settings& settings, bool counts);

// The metric orientations.metric asks for on these data (auto: poisson for photon counts).
matching::Metric metric_for(const Settings& settings, bool counts);

// The assignment orientations.assignment asks for on these data (auto: soft for the poisson
// metric on the CPU back end, where it was as good as or better than hard in every pair
// measured, clearly so below 1,000 photons per image (docs/sparse.md); hard for intensities,
// whose euclidean scores the beta schedule was not made for, and on the GPU, which merges
// hard assignments only).
Assignment assignment_for(const Settings& settings, bool counts);

// The NUFFT tolerances of a run: each the setting, or where that is 0 (auto), by the data.
// Photon counts carry a Poisson error of 1/sqrt(k) per pixel, orders of magnitude above a
// 1e-2 slice error, so their NUFFTs are cut to what the noise hides (each a kernel narrower:
// width ceil(log10(100 / tolerance)), so (6/5)^3-(7/6)^3 fewer grid points per point);
// noise-free intensities have no noise to hide an error and keep the fine ones.
//                      photon counts   noise-free
//   slicing.tolerance        1e-3         1e-5
//   local_tolerance          1e-2         slicing's
//   merging.tolerance        1e-4         1e-6
// Measurements: docs/convergence.md ("NUFFT tolerances").
struct Tolerances {
  double slicing = 0, local = 0, merging = 0;
};
Tolerances tolerances(const Settings& settings, bool counts);

// Fails (spire::Error naming the setting) where the settings ask for what no back end here
// can do on `ranks` ranks: checked before any data are read.
void check_backend(const Settings& settings, int ranks);

// The back end runtime.device names, over this rank's `data` (kept by reference: it must
// outlive the back end). Collective on the team. With orientations.oracle nothing is sliced:
// slice_and_match and refine fail.
std::unique_ptr<Backend> make_backend(const Data& data, const Settings& settings, const distributed::Team& team);

// The implementations, for make_backend (cpu_backend.cpp, cuda_backend.cpp; a build without
// CUDA gets make_cuda_backend's clear error).
std::unique_ptr<Backend> make_cpu_backend(const Data& data, const Settings& settings, const distributed::Team& team);
std::unique_ptr<Backend> make_cuda_backend(const Data& data, const Settings& settings);

}  // namespace spire::reconstruct
