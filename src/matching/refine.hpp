#pragma once
// Local refinement of orientations below the reference set's spacing: an assignment that
// has converged on a set of M rotations is still up to its covering radius from the truth,
// so each image's orientation is refined on its own, around where the grid search left it,
// against the same model and with the same score (matching.hpp).
//
//   step s = 0 .. steps-1, h = first_step / 2^s, centre c (step 0: the best start):
//     score c, its 6 axis neighbours c exp(+-h e_a) (a right turn about body axis a) and 3
//     pair points c exp(h (e_a + e_b)): 10 scores fix a quadratic (gradient and Hessian by
//     finite differences); the next centre is c exp(d), d its Newton step kept within 2h.
//     Where the Hessian is not positive definite, each axis on its own (its parabola's
//     minimum within +-h, or the better side).
//   method gradient, instead: at the centre c, the slice W_p and its gradient give each
//     pixel's J_p = d W_p / d v (v the turn c -> c exp(v)); the score's gradient g and its
//     Gauss-Newton (Fisher) matrix H follow from the metric:
//       poisson:   g = sum (1 - k/W) J,            H = sum J J^T / W
//       poisson, per_slice (a = K / sum W):  g = K sum J / sum W - sum (k/W) J,
//                  H = (K / sum W) (sum J J^T / W - (sum J)(sum J)^T / sum W)
//       euclidean: g = -2 sum (x - W) J,          H = 2 sum J J^T
//       euclidean, per_slice (a = <x,W>/|W|^2): g = -2a sum (x - aW) J,
//                  H = 2a^2 (sum J J^T - (sum W J)(sum W J)^T / |W|^2)
//     (W below the poisson floor counts as the floor, with J = 0); the next centre is
//     c exp(-H^-1 g), the step kept within 2h (no step where H is singular). The slice at
//     the centre scores it too: a centre that scores worse than the best one so far is not
//     stepped from; the next centre is half the best one's step instead (backtracking).
//     Cost per image: one slice per start, a gradient pass (counted as 4 slices, about 2.5
//     slices' time) per step, 1 for the final centre.
//   after the last step the final centre is scored too.
// Each image ends at the best-scoring orientation EVALUATED (a start, a neighbour or a
// centre), so refinement never worsens an image's score. Cost per image: one slice per
// start, then 10 per step (9 in the first, whose centre is the best start) and 1 for the
// final centre, through slicing::Slicer with points sorted per batch.
// Photon scores (method fit, poisson, RefineOptions::photon_scores): every candidate is
// scored from its image's photon pixels and the detector's cells (photon_scores.hpp; the
// cell size measured first), a slice of (photons + cells) values instead of P; the best
// candidate is chosen by those scores, and each image's result is scored again with every
// pixel (one full slice per image), so the scores returned are score_one's.
//
// Every image is refined independently (MPI: each rank its own images).
// Measurements (what it gained on 2cex, Newton against per-axis steps): docs/matching.md.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/fft.hpp"
#include "core/names.hpp"
#include "core/progress.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"

namespace spire::matching {

// How each step finds its next centre: fit (10 scores around the centre fix a quadratic,
// 10 slices per image and step) or gradient (Gauss-Newton on the slice and its analytic
// gradient at the centre, slicing::Slicer::slice_batch_with_gradient: about 4 slices' cost).
enum class LocalMethod { fit, gradient };
inline constexpr NameTable<LocalMethod, 2> kLocalMethodNames{
    {{LocalMethod::fit, "fit"}, {LocalMethod::gradient, "gradient"}}};

struct RefineOptions {
  LocalMethod method = LocalMethod::fit;
  int steps = 2;                    // halvings of the step; 0: only pick the best start
  double first_step = 0.0;          // radians, > 0 when steps > 0 (the loop: 0.6 x the covering-radius bound)
  std::int64_t batch_size = 1000;   // slices per NUFFT execution
  double tolerance = 1e-5;          // slicing NUFFT tolerance
  // Method fit with the poisson metric: score candidates from each image's photon pixels
  // and the detector's cells (photon_scores.hpp), the cell size measured first on 64 images
  // (choose_cells, within photon_error of the score changes at h = first_step / 2); each
  // image's result is then scored with every pixel. false, no cell size within the bound,
  // or images whose pixels are cells already (ImageSet::pixel_weights, which the slices
  // carry): every pixel for every candidate.
  bool photon_scores = false;
  double photon_error = 0.03;
  int threads = 0;                  // OpenMP threads; 0: OpenMP's default
  Planning planning = Planning::measure;  // of the slicing NUFFT's FFT
  Progress* progress = nullptr;     // not a setting: told of every batch of slices scored
};

struct RefineStats {
  std::int64_t slices = 0;         // model slices computed
  double slicing_s = 0, scoring_s = 0;
  std::int64_t moved = 0;          // images that left their best start
  double mean_move_rad = 0;        // mean angle from the best start to the result
  // Photon scores: the measured cell size (0: not used), its error, cells and mean positions
  // per candidate (against n_pixels for every pixel).
  double cell_voxels = 0, cell_error = 0, positions_per_candidate = 0;
  std::int64_t cells = 0;
};

// images: n_images of pixels.size() (dense or sparse; a sparse image is made dense for each
// of its candidates, O(pixels) like the score); starts: n_images x starts_per_image
// orientations (for example the grid search's best and the previous generation's refined
// one); autocorrelation: n^3, as slicing::Slicer takes it. Writes each image's refined
// orientation and its score (matching.hpp's, lower is better, computed in double by score_one).
template <typename T>
RefineStats refine_orientations(std::span<const T> autocorrelation, std::int64_t n,
                                std::span<const std::array<double, 3>> pixels, double s_ext,
                                const ImageSet<T>& images, std::span<const geometry::Quaternion> starts,
                                std::int64_t starts_per_image, const Options& matching,
                                const RefineOptions& options, std::span<geometry::Quaternion> orientations,
                                std::span<double> scores);

// Dense images: n_images x pixels.size() values (n_images = orientations.size()).
template <typename T>
RefineStats refine_orientations(std::span<const T> autocorrelation, std::int64_t n,
                                std::span<const std::array<double, 3>> pixels, double s_ext,
                                std::span<const T> images, std::span<const geometry::Quaternion> starts,
                                std::int64_t starts_per_image, const Options& matching,
                                const RefineOptions& options, std::span<geometry::Quaternion> orientations,
                                std::span<double> scores) {
  const ImageSet<T> set{static_cast<std::int64_t>(orientations.size()), static_cast<std::int64_t>(pixels.size()),
                        images, {}, {}, {}};
  return refine_orientations<T>(autocorrelation, n, pixels, s_ext, set, starts, starts_per_image, matching, options,
                                orientations, scores);
}

// q exp(v): q turned by the rotation vector v (radians) about its own (body) axes.
geometry::Quaternion turned(const geometry::Quaternion& q, const std::array<double, 3>& v);

}  // namespace spire::matching
