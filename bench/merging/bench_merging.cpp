// spire's side of bench/merging/run: for an n^3 autocorrelation, the time of one Toeplitz
// application at each candidate FFT size >= 2n-1, then, with M points from random rotations
// of a detector-like cap, the kernel set-up (Merger::accumulate: one type-1 NUFFT onto
// (2n-1)^3 modes), the kernel's FFT (set_kernel) and one application at the default size.
// Arguments: n points nufft_tolerance (float NUFFT below 1e-6 is refused by the NUFFT).
// Prints lines for people, then one JSON object.
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>
#include <vector>

#include "merging/merging.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <typename S>
double apply_seconds(int n, int L, int reps) {
  spire::merging::Toeplitz<S> t(n, L);
  const std::int64_t nk = 2 * std::int64_t{n} - 1;
  std::vector<double> kernel(static_cast<std::size_t>(nk * nk * nk), 0.0);
  kernel[kernel.size() / 2] = 1;
  t.set_kernel(kernel);
  std::vector<S> x(static_cast<std::size_t>(n) * n * n, S(1)), y(x.size());
  t.apply(x.data(), y.data());  // warm-up
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

  fmt::print("Toeplitz application, n = {}, best of 3 (FFTW measure, wisdom cached):\n", n);
  std::string sizes_json;
  for (int L = 2 * n - 1; L <= 2 * n + 30; ++L) {
    if (!smooth(L)) continue;
    const double d = apply_seconds<double>(n, L, 3), f = apply_seconds<float>(n, L, 3);
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

  spire::merging::Settings settings;
  settings.n = n;
  settings.nufft_tolerance = tol;
  auto t0 = clock_type::now();
  spire::merging::Merger<float> merger(settings);
  const double t_plan = since(t0);
  t0 = clock_type::now();
  merger.accumulate(px, py, pz, val);
  const double t_accumulate = since(t0);
  spire::merging::Toeplitz<double> toeplitz(n, spire::merging::toeplitz_fft_size(n));
  t0 = clock_type::now();
  toeplitz.set_kernel(merger.kernel());
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
             "\"apply_by_fft_size\": {{{}}}}}\n",
             n, m, tol, t_plan, t_accumulate, t_set_kernel, t_apply, sizes_json);
}
