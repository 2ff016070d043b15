#include "matching/refine.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "slicing/slicing.hpp"

namespace spire::matching {

geometry::Quaternion turned(const geometry::Quaternion& q, const std::array<double, 3>& v) {
  const double angle = std::hypot(v[0], v[1], v[2]);
  if (angle == 0) return q;
  const double s = std::sin(angle / 2) / angle;
  return geometry::canonical(geometry::normalized(
      geometry::product(q, geometry::Quaternion{std::cos(angle / 2), s * v[0], s * v[1], s * v[2]})));
}

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// The minimum of the quadratic through the centre's score s0, the axis points s[2a] (+h e_a)
// and s[2a+1] (-h e_a) and the pair points s[6 + k] (h (e_a + e_b)): gradient and Hessian
// by finite differences, a Newton step kept within 2h. Where the Hessian is not positive
// definite (far from a minimum), each axis on its own: the parabola's minimum if it curves
// up, else the better side.
std::array<double, 3> newton_step(double s0, const double* s, double h) {
  constexpr int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  std::array<double, 3> g{}, d{};
  double H[3][3];
  for (int a = 0; a < 3; ++a) {
    g[a] = (s[2 * a] - s[2 * a + 1]) / (2 * h);
    H[a][a] = (s[2 * a] + s[2 * a + 1] - 2 * s0) / (h * h);
  }
  for (int k = 0; k < 3; ++k) {
    const int a = pairs[k][0], b = pairs[k][1];
    H[a][b] = H[b][a] = (s[6 + k] - s0 - (g[a] + g[b]) * h - 0.5 * (H[a][a] + H[b][b]) * h * h) / (h * h);
  }
  // Cholesky H = L L^T; positive pivots <=> positive definite.
  double L[3][3] = {};
  bool definite = true;
  for (int r = 0; r < 3 && definite; ++r)
    for (int c = 0; c <= r; ++c) {
      double v = H[r][c];
      for (int k = 0; k < c; ++k) v -= L[r][k] * L[c][k];
      if (r == c) {
        if (!(v > 0)) {
          definite = false;
          break;
        }
        L[r][r] = std::sqrt(v);
      } else {
        L[r][c] = v / L[c][c];
      }
    }
  if (definite) {
    std::array<double, 3> y{};
    for (int r = 0; r < 3; ++r) {
      double v = -g[r];
      for (int k = 0; k < r; ++k) v -= L[r][k] * y[k];
      y[r] = v / L[r][r];
    }
    for (int r = 2; r >= 0; --r) {
      double v = y[r];
      for (int k = r + 1; k < 3; ++k) v -= L[k][r] * d[k];
      d[r] = v / L[r][r];
    }
    const double length = std::hypot(d[0], d[1], d[2]);
    if (length > 2 * h)
      for (auto& v : d) v *= 2 * h / length;
    return d;
  }
  for (int a = 0; a < 3; ++a) {
    const double plus = s[2 * a], minus = s[2 * a + 1];
    if (H[a][a] > 0)
      d[a] = std::clamp(-g[a] / H[a][a], -h, h);
    else if (std::min(plus, minus) < s0)
      d[a] = plus < minus ? h : -h;
  }
  return d;
}

// Per centre, image-major: the centre itself when `offset` is 1, then the 6 axis points
// c exp(+-h e_a) and the 3 pair points c exp(h (e_a + e_b)).
void step_candidates(const std::vector<geometry::Quaternion>& centres, double h, std::int64_t offset,
                     std::vector<geometry::Quaternion>& candidates) {
  constexpr int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  const std::int64_t per_image = 9 + offset;
  candidates.resize(centres.size() * static_cast<std::size_t>(per_image));
  for (std::size_t i = 0; i < centres.size(); ++i) {
    auto* c = candidates.data() + static_cast<std::int64_t>(i) * per_image;
    if (offset) c[0] = centres[i];
    for (int a = 0; a < 3; ++a) {
      std::array<double, 3> v{0, 0, 0};
      v[a] = h;
      c[offset + 2 * a] = turned(centres[i], v);
      v[a] = -h;
      c[offset + 2 * a + 1] = turned(centres[i], v);
    }
    for (int k = 0; k < 3; ++k) {
      std::array<double, 3> v{0, 0, 0};
      v[pairs[k][0]] = v[pairs[k][1]] = h;
      c[offset + 6 + k] = turned(centres[i], v);
    }
  }
}

// Scores of candidates [first, first + count) (image-major, per_image of them per image)
// against their images, one slice each (count x P), on `threads` threads; a sparse image is
// made dense for each of its candidates.
template <typename T>
void score_batch(const ImageSet<T>& images, const T* slices, std::int64_t first, std::int64_t count,
                 std::int64_t per_image, const Options& matching, int threads, double* scores) {
  const std::int64_t P = images.n_pixels;
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> row(images.sparse() ? static_cast<std::size_t>(P) : 0);
#pragma omp for schedule(static)
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t c = first + k, i = c / per_image;
      const T* x = images.sparse() ? row.data() : images.dense.data() + i * P;
      if (images.sparse()) images.row(i, row.data());
      scores[c] = score_one(x, slices + k * P, P, matching, matching.bad_pixels.of(i));
    }
  }
}

}  // namespace

template <typename T>
RefineStats refine_orientations(std::span<const T> autocorrelation, std::int64_t n,
                                std::span<const std::array<double, 3>> pixels, double s_ext,
                                const ImageSet<T>& images, std::span<const geometry::Quaternion> starts,
                                std::int64_t starts_per_image, const Options& matching,
                                const RefineOptions& options, std::span<geometry::Quaternion> orientations,
                                std::span<double> scores) {
  const auto P = static_cast<std::int64_t>(pixels.size());
  const auto N = static_cast<std::int64_t>(orientations.size());
  if (P < 1) fail("refine_orientations: no pixels");
  const auto values = images.sparse() ? N * P : static_cast<std::int64_t>(images.dense.size());
  if (images.n_images != N || images.n_pixels != P || values != N * P || static_cast<std::int64_t>(scores.size()) != N)
    fail("refine_orientations: " + std::to_string(values) + " image values and " +
         std::to_string(scores.size()) + " scores for " + std::to_string(N) + " orientations of " +
         std::to_string(P) + " pixels");
  if (starts_per_image < 1 || static_cast<std::int64_t>(starts.size()) != N * starts_per_image)
    fail("refine_orientations: starts must hold starts_per_image >= 1 orientations per image");
  if (options.steps < 0 || (options.steps > 0 && !(options.first_step > 0 && options.first_step < 3.2)))
    fail("refine_orientations: steps must be >= 0 and first_step in (0, pi) radians");
  RefineStats stats;
  if (N == 0) return stats;
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  slicing::Options so;
  so.batch_size = options.batch_size;
  so.tolerance = options.tolerance;
  so.threads = options.threads;
  so.planning = options.planning;
  so.keep_points = false;  // each candidate's points are sorted once and used once
  // One slicer (plan, fine grid, point buffers) for every evaluation: only the orientations change.
  slicing::Slicer<T> slicer(starts, pixels, s_ext, n, so);
  slicer.set_autocorrelation(autocorrelation);
  Progress silent;
  Progress& progress = options.progress ? *options.progress : silent;
  const std::int64_t steps_slices = options.steps > 0 ? 9 + 10 * (options.steps - 1) + 1 : 0;
  progress.begin("local refinement (slices)", N * (starts_per_image + steps_slices));

  // Scores every orientation of `candidates` (image-major: per image `per_image` of them)
  // against its image; keeps each image's best in orientations/scores.
  std::vector<double> candidate_scores;
  std::vector<T> slices;
  const auto evaluate = [&](const std::vector<geometry::Quaternion>& candidates, std::int64_t per_image) {
    auto t0 = clock_type::now();
    slicer.set_references(candidates);
    candidate_scores.resize(candidates.size());
    double scoring = 0;
    for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
      const std::int64_t first = slicer.batch_first(b), count = slicer.batch_count(b);
      slices.resize(static_cast<std::size_t>(count * P));
      slicer.slice_batch(b, slices.data());
      const auto t1 = clock_type::now();
      score_batch(images, slices.data(), first, count, per_image, matching, threads, candidate_scores.data());
      scoring += since(t1);
      progress.add(count);
    }
    stats.slices += static_cast<std::int64_t>(candidates.size());
    stats.scoring_s += scoring;
    stats.slicing_s += since(t0) - scoring;
    for (std::int64_t i = 0; i < N; ++i)
      for (std::int64_t c = 0; c < per_image; ++c) {
        const double s = candidate_scores[static_cast<std::size_t>(i * per_image + c)];
        if (!std::isfinite(s)) fail("refine_orientations: a non-finite score (non-finite model slice?)");
        if (s < scores[i]) scores[i] = s, orientations[i] = candidates[static_cast<std::size_t>(i * per_image + c)];
      }
  };

  std::fill(scores.begin(), scores.end(), std::numeric_limits<double>::infinity());
  evaluate(std::vector<geometry::Quaternion>(starts.begin(), starts.end()), starts_per_image);
  const std::vector<geometry::Quaternion> best_start(orientations.begin(), orientations.end());

  // Each step scores, around each centre c (first in its image's block, but in step 0 where
  // c is the best start, already scored), the 6 axis points c exp(+-h e_a) and the 3 pair
  // points c exp(h (e_a + e_b)): 10 scores that fix a quadratic in 3 dimensions.
  std::vector<geometry::Quaternion> centres(best_start), candidates;
  const std::vector<double> start_scores(scores.begin(), scores.end());
  for (int step = 0; step < options.steps; ++step) {
    const double h = options.first_step / std::pow(2.0, step);
    const std::int64_t per_image = step == 0 ? 9 : 10, offset = per_image - 9;
    step_candidates(centres, h, offset, candidates);
    evaluate(candidates, per_image);
    for (std::int64_t i = 0; i < N; ++i) {
      const double* s = candidate_scores.data() + i * per_image + offset;
      const double s0 = offset ? s[-1] : start_scores[i];
      centres[i] = turned(centres[i], newton_step(s0, s, h));
    }
  }
  if (options.steps > 0) evaluate(centres, 1);

  progress.end();
  double moved = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const double a = geometry::angle_between(orientations[i], best_start[i]);
    stats.moved += a > 0;
    moved += a;
  }
  stats.mean_move_rad = moved / static_cast<double>(N);
  return stats;
}

template RefineStats refine_orientations<float>(std::span<const float>, std::int64_t, std::span<const std::array<double, 3>>,
                                                double, const ImageSet<float>&, std::span<const geometry::Quaternion>,
                                                std::int64_t, const Options&, const RefineOptions&,
                                                std::span<geometry::Quaternion>, std::span<double>);
template RefineStats refine_orientations<double>(std::span<const double>, std::int64_t, std::span<const std::array<double, 3>>,
                                                 double, const ImageSet<double>&, std::span<const geometry::Quaternion>,
                                                 std::int64_t, const Options&, const RefineOptions&,
                                                 std::span<geometry::Quaternion>, std::span<double>);

}  // namespace spire::matching
