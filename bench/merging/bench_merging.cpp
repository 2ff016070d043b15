// spire's side of bench/merging/run: for an n^3 autocorrelation, one Toeplitz application
// (best and median, double and float) by the complex 3D FFTs spire used before and by the
// real, pruned transforms it uses now, alternating, with their largest difference; spire's
// application at each candidate FFT size >= 2n-1; then, with M points from random rotations
// of a detector-like cap, the kernel set-up (Merger::accumulate: one type-1 NUFFT onto
// (2n-1)^3 modes), the kernel's FFT (set_kernel) and one application at the default size.
// Arguments: n points nufft_tolerance threads rounds (defaults 81 2e7 1e-6 0 20; threads 0:
// all; float NUFFT below 1e-6 is refused by the NUFFT).
// Prints lines for people, then one JSON object.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <complex>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>
#include <utility>
#include <vector>

#include "../timing.hpp"
#include "core/fft.hpp"
#include "merging/merging.hpp"

namespace {

using bench::clock_type;
using bench::since;

// The complex-FFT application spire used before the real, pruned one (kept here only to
// compare with): the kernel wrapped onto a complex L^3 grid and FFT'd (its real part / L^3
// is the spectrum); per application, zero the grid, put x in the n^3 corner, FFT, multiply,
// inverse FFT, keep the real part of the corner.
template <typename S>
class ComplexToeplitz {
 public:
  ComplexToeplitz(int n, int L, int threads)
      : n_(n), L_(L), threads_(threads > 0 ? threads : omp_get_max_threads()),
        work_(spire::aligned_zeros<std::complex<S>>(grid())), spectrum_(spire::aligned_zeros<S>(grid())),
        forward_(L, L, L, -1, work_.get(), threads_, spire::Planning::measure),
        backward_(L, L, L, +1, work_.get(), threads_, spire::Planning::measure) {}

  void set_kernel(const std::vector<double>& kernel) {
    const std::int64_t nk = 2 * std::int64_t{n_} - 1, L = L_, h = n_ - 1, g = grid();
    std::complex<S>* w = work_.get();
    std::fill_n(w, g, std::complex<S>(0));
    for (std::int64_t i3 = 0; i3 < nk; ++i3)
      for (std::int64_t i2 = 0; i2 < nk; ++i2)
        for (std::int64_t i1 = 0; i1 < nk; ++i1)
          w[(i1 - h + L) % L + L * ((i2 - h + L) % L + L * ((i3 - h + L) % L))] =
              static_cast<S>(kernel[static_cast<std::size_t>(i1 + nk * (i2 + nk * i3))]);
    forward_.execute(w);
    for (std::int64_t i = 0; i < g; ++i) spectrum_[static_cast<std::size_t>(i)] = w[i].real() / static_cast<S>(g);
  }

  void apply(const S* x, S* y) {
    const std::int64_t n = n_, L = L_, g = grid();
    std::complex<S>* w = work_.get();
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < g; ++i) w[i] = 0;
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i3 = 0; i3 < n; ++i3)
      for (std::int64_t i2 = 0; i2 < n; ++i2)
        for (std::int64_t i1 = 0; i1 < n; ++i1) w[i1 + L * (i2 + L * i3)] = x[i1 + n * (i2 + n * i3)];
    forward_.execute(w);
    const S* sp = spectrum_.get();
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < g; ++i) w[i] *= sp[i];
    backward_.execute(w);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i3 = 0; i3 < n; ++i3)
      for (std::int64_t i2 = 0; i2 < n; ++i2)
        for (std::int64_t i1 = 0; i1 < n; ++i1) y[i1 + n * (i2 + n * i3)] = w[i1 + L * (i2 + L * i3)].real();
  }

 private:
  std::int64_t grid() const { return std::int64_t{L_} * L_ * L_; }
  int n_, L_, threads_;
  spire::AlignedArray<std::complex<S>> work_;
  spire::AlignedArray<S> spectrum_;
  spire::FftPlan3<S> forward_, backward_;
};

std::vector<double> random_values(std::size_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> v(size);
  for (double& e : v) e = g(rng);
  return v;
}

// An even random kernel on (2n-1)^3 lags.
std::vector<double> even_kernel(int n) {
  const std::size_t nk = 2 * static_cast<std::size_t>(n) - 1, size = nk * nk * nk;
  const std::vector<double> r = random_values(size, 1);
  std::vector<double> k(size);
  for (std::size_t i = 0; i < size; ++i) k[i] = (r[i] + r[size - 1 - i]) / 2;
  return k;
}

struct Timing {
  double best = 0, median = 0;
};
Timing timing(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

struct SideBySide {
  Timing before, after;
  double difference = 0;  // max |after - before| / max |before|
};

// The old and the new application on the same x and kernel, alternating (the cores are
// shared: alternating exposes both to the same load), after one warm-up each.
template <typename S>
SideBySide side_by_side(int n, int L, int threads, int rounds) {
  ComplexToeplitz<S> before(n, L, threads);
  spire::merging::Toeplitz<S> after(n, L, threads);
  const std::vector<double> kernel = even_kernel(n), xd = random_values(static_cast<std::size_t>(n) * n * n, 2);
  before.set_kernel(kernel);
  after.set_kernel(kernel);
  const std::vector<S> x(xd.begin(), xd.end());
  std::vector<S> yb(x.size()), ya(x.size());
  before.apply(x.data(), yb.data());
  after.apply(x.data(), ya.data());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(ya[i]) - static_cast<double>(yb[i])));
    scale = std::max(scale, std::abs(static_cast<double>(yb[i])));
  }
  std::vector<double> tb, ta;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = clock_type::now();
    before.apply(x.data(), yb.data());
    tb.push_back(since(t0));
    t0 = clock_type::now();
    after.apply(x.data(), ya.data());
    ta.push_back(since(t0));
  }
  return {timing(tb), timing(ta), diff / scale};
}

// Best of `reps` applications of spire's Toeplitz (after one warm-up).
template <typename S>
double apply_seconds(int n, int L, int threads, int reps) {
  spire::merging::Toeplitz<S> t(n, L, threads);
  t.set_kernel(even_kernel(n));
  std::vector<S> x(static_cast<std::size_t>(n) * n * n, S(1)), y(x.size());
  t.apply(x.data(), y.data());
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    t.apply(x.data(), y.data());
    best = std::min(best, since(t0));
  }
  return best;
}

bool smooth(int m) {
  for (int p : {2, 3, 5, 7})
    while (m % p == 0) m /= p;
  return m == 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 81;
  const std::int64_t points = argc > 2 ? std::atoll(argv[2]) : 20000000;
  const double tol = argc > 3 ? std::atof(argv[3]) : 1e-6;

  const int threads = argc > 4 ? std::atoi(argv[4]) : 0;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 20;

  const int L0 = spire::merging::toeplitz_fft_size(n);
  fmt::print("Toeplitz application, n = {}, L = {}, {} threads, {} alternating rounds (FFTW measure, "
             "wisdom cached), best / median:\n",
             n, L0, threads > 0 ? threads : omp_get_max_threads(), rounds);
  const SideBySide sd = side_by_side<double>(n, L0, threads, rounds);
  const SideBySide sf = side_by_side<float>(n, L0, threads, rounds);
  for (const auto& [name, r] : {std::pair{"double", sd}, std::pair{"float", sf}})
    fmt::print("  {:6}: complex FFT {:.4f} / {:.4f} s, spire (real, pruned) {:.4f} / {:.4f} s: {:.1f}x "
               "(best), max difference {:.2g} of max |y|\n",
               name, r.before.best, r.before.median, r.after.best, r.after.median, r.before.best / r.after.best,
               r.difference);
  fmt::print("spire's application by FFT size, best of 3:\n");
  std::string sizes_json;
  for (int L = 2 * n - 1; L <= 2 * n + 30; ++L) {
    if (!smooth(L)) continue;
    const double d = apply_seconds<double>(n, L, threads, 3), f = apply_seconds<float>(n, L, threads, 3);
    fmt::print("  L = {:4d}: double {:.4f} s, float {:.4f} s\n", L, d, f);
    sizes_json += fmt::format("{}\"{}\": [{:.5f}, {:.5f}]", sizes_json.empty() ? "" : ", ", L, d, f);
  }

  // Detector-like points: a spherical cap through the origin (Ewald sphere), 128 x 128
  // pixels, randomly rotated, scaled so the largest |p| is pi.
  const int side = 128;
  std::vector<float> cap;
  const double radius = 3.0;  // sphere radius in detector units: moderate curvature
  double pmax = 0;
  for (int v = 0; v < side; ++v)
    for (int u = 0; u < side; ++u) {
      const double a = (u - (side - 1) / 2.0) / ((side - 1) / 2.0), b = (v - (side - 1) / 2.0) / ((side - 1) / 2.0);
      const double dz = radius - std::sqrt(radius * radius - a * a - b * b);
      cap.insert(cap.end(), {static_cast<float>(a), static_cast<float>(b), static_cast<float>(dz)});
      pmax = std::max(pmax, std::sqrt(a * a + b * b + dz * dz));
    }
  const std::int64_t per = side * side, images = (points + per - 1) / per, m = images * per;
  std::vector<float> px(static_cast<std::size_t>(m)), py(px.size()), pz(px.size()), val(px.size());
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const double s = std::numbers::pi / pmax * (1 - 1e-6);
  for (std::int64_t i = 0; i < images; ++i) {
    double q[4] = {g(rng), g(rng), g(rng), g(rng)};
    const double nq = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    for (double& c : q) c /= nq;
    const double w = q[0], x = q[1], y = q[2], z = q[3];
    const double R[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                         2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                         2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)};
    for (std::int64_t p = 0; p < per; ++p) {
      const double a = cap[3 * p], b = cap[3 * p + 1], c = cap[3 * p + 2];
      const std::size_t j = static_cast<std::size_t>(i * per + p);
      px[j] = static_cast<float>(s * (R[0] * a + R[1] * b + R[2] * c));
      py[j] = static_cast<float>(s * (R[3] * a + R[4] * b + R[5] * c));
      pz[j] = static_cast<float>(s * (R[6] * a + R[7] * b + R[8] * c));
      val[j] = static_cast<float>(1 + 0.1 * g(rng));
    }
  }

  spire::merging::Options settings;
  settings.n = n;
  settings.nufft_tolerance = tol;
  settings.nufft.threads = threads;
  auto t0 = clock_type::now();
  spire::merging::Merger<float> merger(settings);
  const double t_plan = since(t0);
  t0 = clock_type::now();
  merger.accumulate(px, py, pz, val);
  const std::span<const double> kernel = merger.kernel();  // finishes the deferred NUFFT FFT
  const double t_accumulate = since(t0);
  spire::merging::Toeplitz<double> toeplitz(n, spire::merging::toeplitz_fft_size(n), threads);
  t0 = clock_type::now();
  toeplitz.set_kernel(kernel);
  const double t_set_kernel = since(t0);
  std::vector<double> x(merger.rhs().begin(), merger.rhs().end()), y(x.size());
  t0 = clock_type::now();
  toeplitz.apply(x.data(), y.data());
  const double t_apply = since(t0);
  fmt::print("n = {}, {} points (float, NUFFT tolerance {:g}), FFT size {}:\n", n, m, tol,
             spire::merging::toeplitz_fft_size(n));
  fmt::print("  Merger construction (NUFFT and FFT plans) {:.2f} s\n", t_plan);
  fmt::print("  accumulate (kernel and A*Db, one type-1 NUFFT) {:.2f} s = {:.3g} points/s\n",
             t_accumulate, static_cast<double>(m) / t_accumulate);
  fmt::print("  set_kernel (kernel FFT, double) {:.3f} s, one application (double) {:.3f} s\n",
             t_set_kernel, t_apply);
  fmt::print("{{\"n\": {}, \"points\": {}, \"nufft_tolerance\": {}, \"plan_s\": {:.3f}, "
             "\"accumulate_s\": {:.3f}, \"set_kernel_s\": {:.4f}, \"apply_s\": {:.4f}, "
             "\"apply_before_after_s\": {{\"double\": [{:.5f}, {:.5f}], \"float\": [{:.5f}, {:.5f}]}}, "
             "\"apply_by_fft_size\": {{{}}}}}\n",
             n, m, tol, t_plan, t_accumulate, t_set_kernel, t_apply, sd.before.best, sd.after.best, sf.before.best,
             sf.after.best, sizes_json);
}
