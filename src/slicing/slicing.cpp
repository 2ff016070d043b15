#include "slicing/slicing.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "nufft/nufft.hpp"

namespace spire::slicing {

namespace {

// Component c of x = scale R^T s, clamped so round-off cannot push a point past pi.
template <typename T>
T rotated(const geometry::Mat3& R, double scale, const std::array<double, 3>& s, int c) {
  const double v = scale * (R[c] * s[0] + R[3 + c] * s[1] + R[6 + c] * s[2]);
  return static_cast<T>(std::clamp(v, -std::numbers::pi, std::numbers::pi));
}

}  // namespace

template <typename T>
void rotated_points(const geometry::Quaternion& q, std::span<const std::array<double, 3>> pixels,
                    double s_ext, std::vector<T>& xs, std::vector<T>& ys, std::vector<T>& zs) {
  const auto R = geometry::rotation_matrix(q);
  const double scale = std::numbers::pi / s_ext;
  for (const auto& s : pixels) {
    xs.push_back(rotated<T>(R, scale, s, 0));
    ys.push_back(rotated<T>(R, scale, s, 1));
    zs.push_back(rotated<T>(R, scale, s, 2));
  }
}

template <typename T>
struct Slicer<T>::State {
  std::int64_t n = 0, n_references = 0, n_pixels = 0, batch_size = 0;
  bool keep_points = true;
  std::unique_ptr<nufft::Plan<T>> plan;
  std::vector<nufft::Points<T>> batches;
  std::vector<std::complex<T>> modes;  // the autocorrelation as complex NUFFT modes
  std::vector<std::complex<T>> gradient_values;  // one batch's complex slice gradients
  std::vector<std::complex<T>> values;  // one batch of complex slice values
  std::vector<std::array<double, 3>> pixels;
  std::vector<T> weights;  // per pixel (set_pixel_weights); empty: 1
  double s_ext = 0;
  // keep_points = false: what each batch's points are made from.
  std::vector<geometry::Quaternion> references;
  std::vector<T> xs, ys, zs;
  nufft::Points<T> scratch;  // the last batch's sorted points, whose storage the next reuses

  // rows x n_pixels x per_pixel values, each pixel's multiplied by its weight.
  void weigh(T* out, std::int64_t rows, int per_pixel) const {
    if (weights.empty()) return;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t p = 0; p < n_pixels; ++p)
        for (int d = 0; d < per_pixel; ++d) out[(r * n_pixels + p) * per_pixel + d] *= weights[static_cast<std::size_t>(p)];
  }

  nufft::Points<T> sort_batch(std::int64_t first, std::int64_t count,
                              std::span<const geometry::Quaternion> refs,
                              std::span<const std::array<double, 3>> pix, double ext,
                              nufft::Points<T> reuse = {}) {
    xs.clear();
    ys.clear();
    zs.clear();
    for (std::int64_t k = first; k < first + count; ++k) rotated_points(refs[k], pix, ext, xs, ys, zs);
    return plan->sort_points(static_cast<std::int64_t>(xs.size()), xs.data(), ys.data(), zs.data(), std::move(reuse));
  }

  // Batch b's sorted points: kept, or sorted now into the scratch set.
  const nufft::Points<T>& points(std::int64_t b, std::int64_t first, std::int64_t count) {
    if (keep_points) return batches[static_cast<std::size_t>(b)];
    scratch = sort_batch(first, count, references, pixels, s_ext, std::move(scratch));
    return scratch;
  }
};

template <typename T>
Slicer<T>::Slicer(std::span<const geometry::Quaternion> references,
                  std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                  const Options& options)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  if (references.empty()) fail("slicing: no reference orientations");
  if (pixels.empty()) fail("slicing: no pixels");
  if (n < 3 || n % 2 == 0) fail("slicing: grid size n must be odd and at least 3, got " + std::to_string(n));
  if (options.batch_size < 1) fail("slicing: batch_size must be at least 1");
  double largest = 0;
  for (const auto& p : pixels) largest = std::max(largest, std::hypot(p[0], p[1], p[2]));
  if (!(s_ext > 0) || largest > s_ext * (1 + 1e-9))
    fail("slicing: s_ext must be positive and at least the largest pixel |s|");
  s.n = n;
  s.n_pixels = static_cast<std::int64_t>(pixels.size());
  s.batch_size = options.batch_size;
  s.keep_points = options.keep_points;
  s.pixels.assign(pixels.begin(), pixels.end());
  s.s_ext = s_ext;
  nufft::Options nopt;
  nopt.threads = options.threads;
  nopt.planning = options.planning;
  s.plan = std::make_unique<nufft::Plan<T>>(2, std::array<std::int64_t, 3>{n, n, n}, +1,
                                            options.tolerance, nopt);
  set_references(references);
}

template <typename T>
void Slicer<T>::set_references(std::span<const geometry::Quaternion> references) {
  State& s = *s_;
  if (references.empty()) fail("slicing: no reference orientations");
  s.n_references = static_cast<std::int64_t>(references.size());
  s.batches.clear();
  if (s.keep_points) {
    for (std::int64_t b = 0; b < n_batches(); ++b)
      s.batches.push_back(s.sort_batch(batch_first(b), batch_count(b), references, s.pixels, s.s_ext));
    s.xs = {};
    s.ys = {};
    s.zs = {};
  } else {
    s.references.assign(references.begin(), references.end());
  }
}

template <typename T>
Slicer<T>::~Slicer() = default;
template <typename T>
Slicer<T>::Slicer(Slicer&&) noexcept = default;
template <typename T>
Slicer<T>& Slicer<T>::operator=(Slicer&&) noexcept = default;

template <typename T>
void Slicer<T>::set_autocorrelation(std::span<const T> autocorrelation) {
  State& s = *s_;
  if (static_cast<std::int64_t>(autocorrelation.size()) != s.n * s.n * s.n)
    fail("slicing: the autocorrelation has " + std::to_string(autocorrelation.size()) +
         " values, expected n^3 = " + std::to_string(s.n * s.n * s.n));
  s.modes.assign(autocorrelation.begin(), autocorrelation.end());
}

template <typename T>
void Slicer<T>::check_batch(std::int64_t b) const {
  if (b < 0 || b >= n_batches()) fail("slicing: no batch " + std::to_string(b));
  if (s_->modes.empty()) fail("slicing: set_autocorrelation was not called");
}

template <typename T>
void Slicer<T>::set_pixel_weights(std::span<const T> weights) {
  State& s = *s_;
  if (!weights.empty() && static_cast<std::int64_t>(weights.size()) != s.n_pixels)
    fail("slicing: " + std::to_string(weights.size()) + " pixel weights for " + std::to_string(s.n_pixels) + " pixels");
  for (const T w : weights)
    if (!(w > T(0)) || !std::isfinite(w)) fail("slicing: pixel weights must be positive and finite");
  s.weights.assign(weights.begin(), weights.end());
}

template <typename T>
void Slicer<T>::slice_batch(std::int64_t b, T* out) {
  State& s = *s_;
  check_batch(b);
  const std::int64_t m = batch_count(b) * s.n_pixels;
  s.values.resize(static_cast<std::size_t>(m));
  s.plan->execute(s.points(b, batch_first(b), batch_count(b)), s.values.data(), s.modes.data());
  // A real autocorrelation gives Hermitian slices; its real part is the Friedel-symmetric
  // model intensity.
  for (std::int64_t i = 0; i < m; ++i) out[i] = s.values[i].real();
  s.weigh(out, batch_count(b), 1);
}

template <typename T>
void Slicer<T>::slice_batch_with_gradient(std::int64_t b, T* values, T* gradient) {
  State& s = *s_;
  check_batch(b);
  const std::int64_t m = batch_count(b) * s.n_pixels;
  s.values.resize(static_cast<std::size_t>(m));
  s.gradient_values.resize(static_cast<std::size_t>(3 * m));
  s.plan->execute_with_gradient(s.points(b, batch_first(b), batch_count(b)), s.values.data(),
                                s.gradient_values.data(), s.modes.data());
  for (std::int64_t i = 0; i < m; ++i) values[i] = s.values[i].real();
  for (std::int64_t i = 0; i < 3 * m; ++i) gradient[i] = s.gradient_values[i].real();
  s.weigh(values, batch_count(b), 1);
  s.weigh(gradient, batch_count(b), 3);
}

template <typename T>
void Slicer<T>::slice_subsets(std::span<const geometry::Quaternion> orientations, std::span<const std::int64_t> offsets,
                              std::span<const std::int32_t> indices, std::span<const std::array<double, 3>> table,
                              T* out) {
  State& s = *s_;
  if (s.modes.empty()) fail("slicing: set_autocorrelation was not called");
  const auto K = static_cast<std::int64_t>(orientations.size());
  if (static_cast<std::int64_t>(offsets.size()) != K + 1 || offsets.front() != 0 ||
      offsets.back() != static_cast<std::int64_t>(indices.size()))
    fail("slicing: slice_subsets needs orientations + 1 offsets from 0 to the number of indices");
  for (const auto& p : table)
    if (!(std::hypot(p[0], p[1], p[2]) <= s.s_ext * (1 + 1e-9)))
      fail("slicing: a position of slice_subsets lies beyond s_ext");
  const auto m = static_cast<std::int64_t>(indices.size());
  s.xs.resize(static_cast<std::size_t>(m));
  s.ys.resize(static_cast<std::size_t>(m));
  s.zs.resize(static_cast<std::size_t>(m));
  const double scale = std::numbers::pi / s.s_ext;
  const auto rows = static_cast<std::int64_t>(table.size());
  bool bad_index = false;
#pragma omp parallel for schedule(dynamic, 16) num_threads(s.plan->threads()) reduction(|| : bad_index)
  for (std::int64_t k = 0; k < K; ++k) {
    const auto R = geometry::rotation_matrix(orientations[static_cast<std::size_t>(k)]);
    for (auto j = offsets[static_cast<std::size_t>(k)]; j < offsets[static_cast<std::size_t>(k) + 1]; ++j) {
      const std::int32_t i = indices[static_cast<std::size_t>(j)];
      if (i < 0 || i >= rows) {
        bad_index = true;
        continue;
      }
      const auto& p = table[static_cast<std::size_t>(i)];
      s.xs[static_cast<std::size_t>(j)] = rotated<T>(R, scale, p, 0);
      s.ys[static_cast<std::size_t>(j)] = rotated<T>(R, scale, p, 1);
      s.zs[static_cast<std::size_t>(j)] = rotated<T>(R, scale, p, 2);
    }
  }
  if (bad_index) fail("slicing: slice_subsets has an index outside its table");
  s.scratch = s.plan->sort_points(m, s.xs.data(), s.ys.data(), s.zs.data(), std::move(s.scratch));
  s.values.resize(static_cast<std::size_t>(m));
  s.plan->execute(s.scratch, s.values.data(), s.modes.data());
  for (std::int64_t j = 0; j < m; ++j) out[j] = s.values[static_cast<std::size_t>(j)].real();
}

template <typename T>
std::int64_t Slicer<T>::n_references() const { return s_->n_references; }
template <typename T>
std::int64_t Slicer<T>::n_pixels() const { return s_->n_pixels; }
template <typename T>
std::int64_t Slicer<T>::n_batches() const {
  return (s_->n_references + s_->batch_size - 1) / s_->batch_size;
}
template <typename T>
std::int64_t Slicer<T>::batch_first(std::int64_t b) const { return b * s_->batch_size; }
template <typename T>
std::int64_t Slicer<T>::batch_count(std::int64_t b) const {
  return std::min(s_->batch_size, s_->n_references - b * s_->batch_size);
}

template void rotated_points<float>(const geometry::Quaternion&, std::span<const std::array<double, 3>>,
                                    double, std::vector<float>&, std::vector<float>&, std::vector<float>&);
template void rotated_points<double>(const geometry::Quaternion&, std::span<const std::array<double, 3>>,
                                     double, std::vector<double>&, std::vector<double>&, std::vector<double>&);
template class Slicer<float>;
template class Slicer<double>;

}  // namespace spire::slicing
