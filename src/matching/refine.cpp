#include "matching/refine.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "matching/photon_scores.hpp"
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

// d = -H^-1 g by Cholesky (H = L L^T); false, d untouched, where H is not positive definite.
bool solve_definite(const double (&H)[3][3], const std::array<double, 3>& g, std::array<double, 3>& d) {
  double L[3][3] = {};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c <= r; ++c) {
      double v = H[r][c];
      for (int k = 0; k < c; ++k) v -= L[r][k] * L[c][k];
      if (r == c) {
        if (!(v > 0)) return false;
        L[r][r] = std::sqrt(v);
      } else {
        L[r][c] = v / L[c][c];
      }
    }
  std::array<double, 3> y{}, x{};
  for (int r = 0; r < 3; ++r) {
    double v = -g[r];
    for (int k = 0; k < r; ++k) v -= L[r][k] * y[k];
    y[r] = v / L[r][r];
  }
  for (int r = 2; r >= 0; --r) {
    double v = y[r];
    for (int k = r + 1; k < 3; ++k) v -= L[k][r] * x[k];
    x[r] = v / L[r][r];
  }
  d = x;
  return true;
}

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
  if (solve_definite(H, g, d)) {
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

// The sums over one image's pixels that its Gauss-Newton step needs (refine.hpp's formulas),
// J_p = d W_p / d v the slice's change as the centre turns by v.
struct Sums {
  double k = 0, w = 0, xw = 0, ww = 0;          // photon count, sum W, <x,W>, |W|^2
  std::array<double, 3> j{}, xj{}, wj{};         // sum J, sum (k/W or x) J, sum W J
  double jj[3][3] = {};                          // sum J J^T (/ W for poisson)
};

// x the image, w the centre's slice, grad its gradient in x (P x 3), R the centre's
// rotation; bad marks the image's bad pixels (left out).
template <typename T>
Sums pixel_sums(const T* x, const T* w, const T* grad, const geometry::Mat3& R, double scale,
                std::span<const std::array<double, 3>> pixels, const Options& m, const std::uint8_t* bad) {
  const bool poisson = m.metric == Metric::poisson;
  const T floor = static_cast<T>(m.poisson_floor);
  Sums s;
  for (std::size_t p = 0; p < pixels.size(); ++p) {
    if (bad && bad[p]) continue;
    const auto& q = pixels[p];
    // x0 = scale R^T s (slicing.hpp), J = grad x x0.
    const double x0[3] = {scale * (R[0] * q[0] + R[3] * q[1] + R[6] * q[2]),
                          scale * (R[1] * q[0] + R[4] * q[1] + R[7] * q[2]),
                          scale * (R[2] * q[0] + R[5] * q[1] + R[8] * q[2])};
    const T* g = grad + 3 * p;
    const bool flat = poisson && w[p] < floor;
    const double W = poisson ? std::max(w[p], floor) : w[p], X = x[p];
    const double J[3] = {flat ? 0.0 : g[1] * x0[2] - g[2] * x0[1], flat ? 0.0 : g[2] * x0[0] - g[0] * x0[2],
                         flat ? 0.0 : g[0] * x0[1] - g[1] * x0[0]};
    const double c = poisson ? X / W : X, inv = poisson ? 1 / W : 1.0;
    s.k += X;
    s.w += W;
    s.xw += X * W;
    s.ww += W * W;
    for (int a = 0; a < 3; ++a) {
      s.j[a] += J[a];
      s.xj[a] += c * J[a];
      s.wj[a] += W * J[a];
      for (int b = 0; b <= a; ++b) s.jj[a][b] += inv * J[a] * J[b];
    }
  }
  return s;
}

// The step -H^-1 g, kept within `limit` radians; none where H is singular or the image has
// no signal.
std::array<double, 3> gauss_newton_step(const Sums& s, const Options& m, double limit) {
  std::array<double, 3> g{}, d{};
  double H[3][3];
  const bool scaled = m.scale == Scale::per_slice;
  // H = f sum J J^T (/W) - u u^T / norm, g = a sum J - b sum (c J) (+ e sum W J).
  double f = 1, a = 1, b = 1, e = 0, norm = 0;
  const std::array<double, 3>* u = nullptr;
  if (m.metric == Metric::poisson) {
    if (scaled) {
      if (!(s.w > 0) || !(s.k > 0)) return d;
      f = s.k / s.w, a = s.k / s.w, u = &s.j, norm = s.w;
    }
  } else {
    const double t = scaled ? (s.xw > 0 && s.ww > 0 ? s.xw / s.ww : 0.0) : 1.0;
    if (t == 0) return d;
    f = 2 * t * t, a = 0, b = 2 * t, e = 2 * t * t;
    if (scaled) u = &s.wj, norm = s.ww;
  }
  for (int r = 0; r < 3; ++r) {
    g[r] = a * s.j[r] - b * s.xj[r] + e * s.wj[r];
    for (int c = 0; c <= r; ++c) {
      H[r][c] = f * s.jj[r][c] - (u ? f * (*u)[r] * (*u)[c] / norm : 0.0);
      H[c][r] = H[r][c];
    }
  }
  if (!solve_definite(H, g, d)) return {0, 0, 0};
  const double length = std::hypot(d[0], d[1], d[2]);
  if (length > limit)
    for (auto& v : d) v *= limit / length;
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

// One refinement: the slicer (plan, fine grid, point buffers made once) and the images,
// scored candidate set after candidate set; each image keeps the best orientation evaluated.
template <typename T>
struct Refiner {
  const ImageSet<T>& images;
  const Options& matching;
  std::span<const std::array<double, 3>> pixels;
  double s_ext;
  int threads;
  slicing::Slicer<T>& slicer;
  Progress& progress;
  RefineStats& stats;
  std::span<geometry::Quaternion> orientations;
  std::span<double> scores;
  const PhotonScores<T>* photons = nullptr;  // scores from the photons (fit method, poisson)
  std::int64_t points_per_execution = 0;
  std::vector<double> candidate_scores;
  std::vector<T> slices, gradients;

  void keep_best(const std::vector<geometry::Quaternion>& candidates, std::int64_t per_image) {
    for (std::size_t i = 0; i < scores.size(); ++i)
      for (std::int64_t c = 0; c < per_image; ++c) {
        const auto k = i * static_cast<std::size_t>(per_image) + static_cast<std::size_t>(c);
        const double s = candidate_scores[k];
        if (!std::isfinite(s)) fail("refine_orientations: a non-finite score (non-finite model slice?)");
        if (s < scores[i]) scores[i] = s, orientations[i] = candidates[k];
      }
  }

  // Scores every orientation of `candidates` (image-major: per image `per_image` of them).
  void evaluate(const std::vector<geometry::Quaternion>& candidates, std::int64_t per_image) {
    candidate_scores.resize(candidates.size());
    if (photons) {
      const auto t0 = clock_type::now();
      photons->score(slicer, candidates, per_image, points_per_execution, threads, candidate_scores.data(), progress);
      stats.slices += static_cast<std::int64_t>(candidates.size());
      stats.slicing_s += since(t0);
      keep_best(candidates, per_image);
      return;
    }
    slice_and_score(candidates, per_image);
    keep_best(candidates, per_image);
  }

  // Every image's score at its orientation with every pixel (score_one), replacing the
  // photon scores' approximate sum of W (photon_scores.hpp).
  void score_exactly() {
    const std::vector<geometry::Quaternion> final_orientations(orientations.begin(), orientations.end());
    slice_and_score(final_orientations, 1);
    std::copy(candidate_scores.begin(), candidate_scores.end(), scores.begin());
  }

  void slice_and_score(const std::vector<geometry::Quaternion>& candidates, std::int64_t per_image) {
    auto t0 = clock_type::now();
    slicer.set_references(candidates);
    candidate_scores.resize(candidates.size());
    double scoring = 0;
    const std::int64_t P = images.n_pixels;
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
  }

  // Method fit: per step, 10 scores around each centre fix a quadratic (newton_step).
  void fit_steps(std::vector<geometry::Quaternion>& centres, const RefineOptions& options) {
    std::vector<geometry::Quaternion> candidates;
    const std::vector<double> start_scores(scores.begin(), scores.end());
    for (int step = 0; step < options.steps; ++step) {
      const double h = options.first_step / std::pow(2.0, step);
      // Step 0's centre is the best start, already scored.
      const std::int64_t per_image = step == 0 ? 9 : 10, offset = per_image - 9;
      step_candidates(centres, h, offset, candidates);
      evaluate(candidates, per_image);
      for (std::size_t i = 0; i < centres.size(); ++i) {
        const double* s = candidate_scores.data() + i * static_cast<std::size_t>(per_image) + offset;
        const double s0 = offset ? s[-1] : start_scores[i];
        centres[i] = turned(centres[i], newton_step(s0, s, h));
      }
    }
  }

  // Method gradient: per step, the slice and its gradient at each trial centre (which scores
  // it); where the trial beats its image's anchor (the best centre so far) it becomes the
  // anchor and its Gauss-Newton step, kept within 2 first_step / 2^step, the next trial;
  // elsewhere the next trial is half the anchor's last step (backtracking).
  void gradient_steps(std::vector<geometry::Quaternion>& centres, const RefineOptions& options) {
    std::vector<std::array<double, 3>> moves(centres.size()), last(centres.size());
    std::vector<geometry::Quaternion> anchors(centres);
    std::vector<double> anchor_scores(centres.size(), std::numeric_limits<double>::infinity());
    for (int step = 0; step < options.steps; ++step) {
      const double limit = 2 * options.first_step / std::pow(2.0, step);
      auto t0 = clock_type::now();
      slicer.set_references(centres);
      candidate_scores.resize(centres.size());
      double scoring = 0;
      for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
        const std::int64_t first = slicer.batch_first(b), count = slicer.batch_count(b);
        slices.resize(static_cast<std::size_t>(count * images.n_pixels));
        gradients.resize(3 * slices.size());
        slicer.slice_batch_with_gradient(b, slices.data(), gradients.data());
        const auto t1 = clock_type::now();
        gradient_batch(centres, first, count, limit, moves);
        scoring += since(t1);
        progress.add(4 * count);
      }
      stats.slices += 4 * static_cast<std::int64_t>(centres.size());
      stats.scoring_s += scoring;
      stats.slicing_s += since(t0) - scoring;
      keep_best(centres, 1);
      for (std::size_t i = 0; i < centres.size(); ++i) {
        if (candidate_scores[i] < anchor_scores[i]) {
          anchors[i] = centres[i], anchor_scores[i] = candidate_scores[i], last[i] = moves[i];
        } else {
          for (auto& v : last[i]) v /= 2;
        }
        centres[i] = turned(anchors[i], last[i]);
      }
    }
  }

  // Scores of the centres [first, first + count) and their Gauss-Newton moves.
  void gradient_batch(const std::vector<geometry::Quaternion>& centres, std::int64_t first, std::int64_t count,
                      double limit, std::vector<std::array<double, 3>>& moves) {
    const std::int64_t P = images.n_pixels;
    const double scale = std::numbers::pi / s_ext;
#pragma omp parallel num_threads(threads)
    {
      std::vector<T> row(static_cast<std::size_t>(P));
      std::vector<std::uint8_t> bad(static_cast<std::size_t>(P), 0);
#pragma omp for schedule(static)
      for (std::int64_t k = 0; k < count; ++k) {
        const std::int64_t i = first + k;
        images.row(i, row.data());
        const auto bad_list = matching.bad_pixels.of(i);
        for (const auto p : bad_list) bad[static_cast<std::size_t>(p)] = 1;
        const T* w = slices.data() + k * P;
        candidate_scores[static_cast<std::size_t>(i)] = score_one(row.data(), w, P, matching, bad_list);
        const Sums sums = pixel_sums(row.data(), w, gradients.data() + 3 * k * P,
                                     geometry::rotation_matrix(centres[static_cast<std::size_t>(i)]), scale, pixels,
                                     matching, bad_list.empty() ? nullptr : bad.data());
        moves[static_cast<std::size_t>(i)] = gauss_newton_step(sums, matching, limit);
        for (const auto p : bad_list) bad[static_cast<std::size_t>(p)] = 0;
      }
    }
  }
};

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
  slicing::Options so;
  so.batch_size = options.batch_size;
  so.tolerance = options.tolerance;
  so.threads = options.threads;
  so.planning = options.planning;
  so.keep_points = false;  // each candidate's points are sorted once and used once
  slicing::Slicer<T> slicer(starts, pixels, s_ext, n, so);
  slicer.set_autocorrelation(autocorrelation);
  slicer.set_pixel_weights(images.pixel_weights);
  Progress silent;
  Progress& progress = options.progress ? *options.progress : silent;
  const bool fit = options.method == LocalMethod::fit;
  std::optional<PhotonScores<T>> photons;
  // Pixels that are cells already (pixel weights) are few: every one is scored.
  if (fit && options.photon_scores && options.steps > 0 && matching.metric == Metric::poisson &&
      images.pixel_weights.empty()) {
    std::vector<geometry::Quaternion> first(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) first[i] = starts[i * starts_per_image];
    const auto choice =
        choose_cells(slicer, images, pixels, s_ext, n, matching, first, options.first_step / 2, options.photon_error);
    stats.cell_voxels = choice.voxels, stats.cell_error = choice.error, stats.cells = choice.cells;
    if (choice.voxels > 0) {
      photons.emplace(images, pixels, s_ext, n, matching, choice.voxels);
      stats.positions_per_candidate = photons->mean_positions();
    }
  }
  const std::int64_t steps_slices = options.steps > 0 ? (fit ? 9 + 10 * (options.steps - 1) : 4 * options.steps) + 1 : 0;
  progress.begin("local refinement (slices)", N * (starts_per_image + steps_slices + (photons ? 1 : 0)));
  Refiner<T> refiner{images, matching, pixels, s_ext, options.threads > 0 ? options.threads : omp_get_max_threads(),
                     slicer, progress, stats, orientations, scores, photons ? &*photons : nullptr,
                     options.batch_size * P, {}, {}, {}};

  std::fill(scores.begin(), scores.end(), std::numeric_limits<double>::infinity());
  refiner.evaluate(std::vector<geometry::Quaternion>(starts.begin(), starts.end()), starts_per_image);
  const std::vector<geometry::Quaternion> best_start(orientations.begin(), orientations.end());
  std::vector<geometry::Quaternion> centres(best_start);
  if (fit)
    refiner.fit_steps(centres, options);
  else
    refiner.gradient_steps(centres, options);
  if (options.steps > 0) refiner.evaluate(centres, 1);
  if (photons) refiner.score_exactly();

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
