#include "merging/merging.hpp"

#include <omp.h>

#include <cmath>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "nufft/kernel.hpp"
#include "nufft/nufft.hpp"

namespace spire::merging {

std::pair<int, double> conjugate_gradients(
    const std::function<void(const std::vector<double>&, std::vector<double>&)>& apply,
    const std::vector<double>& rhs, std::vector<double>& x, int max_iterations, double tolerance) {
  const std::size_t n = rhs.size();
  auto dot = [n](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  };
  const double norm_b = std::sqrt(dot(rhs, rhs));
  if (norm_b == 0) {
    std::fill(x.begin(), x.end(), 0.0);
    return {0, 0.0};
  }
  std::vector<double> r(n), p(n), q(n);
  apply(x, q);
  for (std::size_t i = 0; i < n; ++i) r[i] = rhs[i] - q[i];
  p = r;
  double rr = dot(r, r);
  int it = 0;
  while (it < max_iterations && std::sqrt(rr) > tolerance * norm_b) {
    apply(p, q);
    const double alpha = rr / dot(p, q);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      x[i] += alpha * p[i];
      r[i] -= alpha * q[i];
    }
    const double rr_new = dot(r, r);
    const double beta = rr_new / rr;
    rr = rr_new;
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) p[i] = r[i] + beta * p[i];
    ++it;
  }
  return {it, std::sqrt(rr) / norm_b};
}

template <typename T>
struct Merger<T>::State {
  std::int64_t n = 0, nk = 0, L = 0;  // grid, kernel modes (2n-1), convolution size
  Options options;
  int threads = 1;
  std::unique_ptr<nufft::Plan<T>> rhs_plan, kernel_plan;  // type 1 onto n^3 and nk^3
  std::vector<double> rhs, kernel;
  std::vector<std::complex<T>> strengths, modes;
  AlignedArray<std::complex<double>> work, kernel_hat;
  std::unique_ptr<FftPlan3<double>> forward, backward;
  bool kernel_ready = false;

  std::int64_t wrap(std::int64_t i) const { return (i % L + L) % L; }
};

template <typename T>
Merger<T>::Merger(std::int64_t n, const Options& options) : s_(std::make_unique<State>()) {
  State& s = *s_;
  if (n < 3 || n % 2 == 0) fail("merging: grid size n must be odd and at least 3, got " + std::to_string(n));
  if (options.cg_iterations < 1) fail("merging: cg_iterations must be at least 1");
  if (!(options.regularisation >= 0)) fail("merging: regularisation must not be negative");
  s.n = n;
  s.nk = 2 * n - 1;
  s.options = options;
  s.threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  // A fast FFT size for the linear convolution: 2,3,5,7-smooth, at least 2n - 1.
  s.L = nufft::fine_grid_size(s.nk, 1.0, 1);
  nufft::Options nopt;
  nopt.threads = options.threads;
  nopt.planning = options.planning;
  s.rhs_plan = std::make_unique<nufft::Plan<T>>(1, std::array<std::int64_t, 3>{n, n, n}, -1, options.tolerance, nopt);
  s.kernel_plan = std::make_unique<nufft::Plan<T>>(1, std::array<std::int64_t, 3>{s.nk, s.nk, s.nk}, -1,
                                                   options.tolerance, nopt);
  const auto L3 = static_cast<std::size_t>(s.L * s.L * s.L);
  s.work = aligned_zeros<std::complex<double>>(L3);
  s.kernel_hat = aligned_zeros<std::complex<double>>(L3);
  const int L = static_cast<int>(s.L);
  s.forward = std::make_unique<FftPlan3<double>>(L, L, L, -1, s.work.get(), s.threads, options.planning);
  s.backward = std::make_unique<FftPlan3<double>>(L, L, L, +1, s.work.get(), s.threads, options.planning);
  clear();
}

template <typename T>
Merger<T>::~Merger() = default;
template <typename T>
Merger<T>::Merger(Merger&&) noexcept = default;
template <typename T>
Merger<T>& Merger<T>::operator=(Merger&&) noexcept = default;

template <typename T>
void Merger<T>::clear() {
  State& s = *s_;
  s.rhs.assign(static_cast<std::size_t>(s.n * s.n * s.n), 0.0);
  s.kernel.assign(static_cast<std::size_t>(s.nk * s.nk * s.nk), 0.0);
  s.kernel_ready = false;
}

template <typename T>
void Merger<T>::accumulate(std::int64_t m, const T* x, const T* y, const T* z, const T* values,
                           const T* weights) {
  State& s = *s_;
  for (std::int64_t j = 0; j < m; ++j) {
    if (!std::isfinite(values[j])) fail("merging: intensity " + std::to_string(j) + " is not finite");
    if (!(weights[j] >= 0)) fail("merging: weight " + std::to_string(j) + " is negative or NaN");
  }
  const T pi = std::numbers::pi_v<T>;
  for (const T* c : {x, y, z})
    for (std::int64_t j = 0; j < m; ++j)
      if (!(c[j] >= -pi && c[j] <= pi))
        fail("merging: point " + std::to_string(j) + " lies outside [-pi, pi]");
  s.strengths.resize(static_cast<std::size_t>(m));
  // A*Db: type 1 (sign -1) of D b onto the grid.
  for (std::int64_t j = 0; j < m; ++j) s.strengths[j] = weights[j] * values[j];
  s.modes.resize(static_cast<std::size_t>(s.n * s.n * s.n));
  s.rhs_plan->set_points(m, x, y, z);
  s.rhs_plan->execute(s.strengths.data(), s.modes.data());
  for (std::size_t i = 0; i < s.rhs.size(); ++i) s.rhs[i] += s.modes[i].real();
  // The Toeplitz kernel: type 1 of D onto (2n-1)^3.
  for (std::int64_t j = 0; j < m; ++j) s.strengths[j] = weights[j];
  s.modes.resize(static_cast<std::size_t>(s.nk * s.nk * s.nk));
  s.kernel_plan->set_points(m, x, y, z);
  s.kernel_plan->execute(s.strengths.data(), s.modes.data());
  for (std::size_t i = 0; i < s.kernel.size(); ++i) s.kernel[i] += s.modes[i].real();
  s.kernel_ready = false;
}

template <typename T>
std::span<double> Merger<T>::rhs() { return s_->rhs; }
template <typename T>
std::span<double> Merger<T>::kernel() {
  s_->kernel_ready = false;  // the caller may change it (allreduce)
  return s_->kernel;
}

template <typename T>
void Merger<T>::apply_normal(const std::vector<double>& x, std::vector<double>& out) {
  State& s = *s_;
  const std::int64_t n = s.n, nk = s.nk, L = s.L, h = n - 1;
  const std::size_t L3 = static_cast<std::size_t>(L * L * L);
  if (!s.kernel_ready) {  // K(m) at circular index m mod L, transformed once per generation
    std::fill(s.kernel_hat.get(), s.kernel_hat.get() + L3, std::complex<double>(0));
    for (std::int64_t c = 0; c < nk; ++c)
      for (std::int64_t b = 0; b < nk; ++b)
        for (std::int64_t a = 0; a < nk; ++a)
          s.kernel_hat[s.wrap(a - h) + L * (s.wrap(b - h) + L * s.wrap(c - h))] = s.kernel[a + nk * (b + nk * c)];
    s.forward->execute(s.kernel_hat.get());
    s.kernel_ready = true;
  }
  // x at offsets 0..n-1 (zero padded), y(p) = sum_q K(p - q) x(q) for p in 0..n-1.
  std::fill(s.work.get(), s.work.get() + L3, std::complex<double>(0));
  for (std::int64_t c = 0; c < n; ++c)
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t a = 0; a < n; ++a) s.work[a + L * (b + L * c)] = x[a + n * (b + n * c)];
  s.forward->execute(s.work.get());
  const double scale = 1.0 / static_cast<double>(L3);
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(L3); ++i) s.work[i] *= s.kernel_hat[i] * scale;
  s.backward->execute(s.work.get());
  out.resize(x.size());
  for (std::int64_t c = 0; c < n; ++c)
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t a = 0; a < n; ++a) out[a + n * (b + n * c)] = s.work[a + L * (b + L * c)].real();
}

template <typename T>
Solution Merger<T>::solve(std::span<const double> x0, std::span<const std::uint8_t> mask) {
  State& s = *s_;
  const std::size_t n3 = s.rhs.size();
  if (!x0.empty() && x0.size() != n3) fail("merging: the previous estimate has the wrong size");
  if (!mask.empty() && mask.size() != n3) fail("merging: the support mask has the wrong size");
  Solution sol;
  const std::int64_t centre = (s.nk / 2) * (1 + s.nk + s.nk * s.nk);
  sol.lambda = s.options.regularisation * s.kernel[static_cast<std::size_t>(centre)];
  auto project = [&](std::vector<double>& v) {
    if (!mask.empty())
      for (std::size_t i = 0; i < n3; ++i)
        if (!mask[i]) v[i] = 0;
  };
  std::vector<double> rhs(s.rhs);
  if (!x0.empty())
    for (std::size_t i = 0; i < n3; ++i) rhs[i] += sol.lambda * x0[i];
  project(rhs);
  sol.autocorrelation.assign(n3, 0.0);
  if (!x0.empty()) sol.autocorrelation.assign(x0.begin(), x0.end());
  project(sol.autocorrelation);
  std::vector<double> tmp;
  auto apply = [&](const std::vector<double>& v, std::vector<double>& out) {
    tmp = v;
    project(tmp);
    apply_normal(tmp, out);
    for (std::size_t i = 0; i < n3; ++i) out[i] += sol.lambda * tmp[i];
    project(out);
  };
  const auto [it, res] = conjugate_gradients(apply, rhs, sol.autocorrelation, s.options.cg_iterations,
                                             s.options.cg_tolerance);
  sol.iterations = it;
  sol.residual = res;
  return sol;
}

template <typename T>
std::int64_t Merger<T>::n() const { return s_->n; }
template <typename T>
std::int64_t Merger<T>::convolution_size() const { return s_->L; }

template class Merger<float>;
template class Merger<double>;

}  // namespace spire::merging
