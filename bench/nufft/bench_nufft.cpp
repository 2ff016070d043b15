// spire's side of `scripts/bench nufft`: 3D type 1 and 2 at N^3 modes and M random points,
// set-points and execute timed separately; accuracy on sampled entries against direct sums.
// Prints one JSON object per case.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "../timing.hpp"
#include "nufft/nufft.hpp"

namespace {

using bench::clock_type;
using bench::since;

// Relative l2 error of `sample` entries against the direct sum: type 2 at sampled points,
// type 1 at sampled modes.
template <typename T>
double sampled_error(int type, std::int64_t n_modes, const std::vector<T>& x, const std::vector<T>& y,
                     const std::vector<T>& z, const std::vector<std::complex<T>>& in,
                     const std::vector<std::complex<T>>& out, int samples) {
  std::mt19937_64 rng(7);
  double num = 0, den = 0;
  const std::int64_t half = n_modes / 2, m = static_cast<std::int64_t>(x.size());
  for (int s = 0; s < samples; ++s) {
    std::complex<double> exact = 0, got;
    if (type == 2) {
      const std::int64_t j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(m));
      for (std::int64_t k3 = 0; k3 < n_modes; ++k3)
        for (std::int64_t k2 = 0; k2 < n_modes; ++k2)
          for (std::int64_t k1 = 0; k1 < n_modes; ++k1) {
            const double ph = static_cast<double>(k1 - half) * x[j] + static_cast<double>(k2 - half) * y[j] +
                              static_cast<double>(k3 - half) * z[j];
            exact += std::complex<double>(in[(k3 * n_modes + k2) * n_modes + k1]) * std::polar(1.0, ph);
          }
      got = out[j];
    } else {
      const std::int64_t k = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n_modes * n_modes * n_modes));
      const double k1 = static_cast<double>(k % n_modes - half), k2 = static_cast<double>((k / n_modes) % n_modes - half),
                   k3 = static_cast<double>(k / (n_modes * n_modes) - half);
#pragma omp parallel
      {
        std::complex<double> local = 0;
#pragma omp for
        for (std::int64_t j = 0; j < m; ++j)
          local += std::complex<double>(in[j]) * std::polar(1.0, k1 * x[j] + k2 * y[j] + k3 * z[j]);
#pragma omp critical
        exact += local;
      }
      got = out[k];
    }
    num += std::norm(got - exact);
    den += std::norm(exact);
  }
  return std::sqrt(num / den);
}

// m points uniform in [-pi, pi)^3, Gaussian strengths c and modes f (n_modes^3).
template <typename T>
struct Inputs {
  std::vector<T> x, y, z;
  std::vector<std::complex<T>> c, f;
};

template <typename T>
Inputs<T> random_inputs(std::int64_t n_modes, std::int64_t m, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<T> pos(-std::numbers::pi_v<T>, std::numbers::pi_v<T>);
  std::normal_distribution<T> gauss;
  Inputs<T> in{std::vector<T>(m), std::vector<T>(m), std::vector<T>(m), std::vector<std::complex<T>>(m),
               std::vector<std::complex<T>>(static_cast<std::size_t>(n_modes * n_modes * n_modes))};
  for (std::int64_t j = 0; j < m; ++j) in.x[j] = pos(rng), in.y[j] = pos(rng), in.z[j] = pos(rng);
  for (auto& v : in.c) v = {gauss(rng), gauss(rng)};
  for (auto& v : in.f) v = {gauss(rng), gauss(rng)};
  return in;
}

template <typename T>
void run(const char* precision, double tol, std::int64_t n_modes, std::int64_t m, int reps, int threads) {
  const auto [x, y, z, c, f] = random_inputs<T>(n_modes, m, 1);
  for (int type : {2, 1}) {
    auto t0 = clock_type::now();
    spire::nufft::Options options;
    options.threads = threads;
    spire::nufft::Plan<T> plan(type, {n_modes, n_modes, n_modes}, +1, tol, options);
    const double t_plan = since(t0);
    t0 = clock_type::now();
    plan.set_points(m, x.data(), y.data(), z.data());
    const double t_setpts = since(t0);
    std::vector<std::complex<T>> cc = c, ff = f;
    double t_exec = 1e30;
    for (int r = 0; r < reps; ++r) {
      t0 = clock_type::now();
      plan.execute(cc.data(), ff.data());
      t_exec = std::min(t_exec, since(t0));
    }
    const double err = type == 2 ? sampled_error<T>(2, n_modes, x, y, z, f, cc, 20)
                                 : sampled_error<T>(1, n_modes, x, y, z, c, ff, 20);
    fmt::print(
        "{{\"program\": \"spire\", \"precision\": \"{}\", \"tolerance\": {:.0e}, \"type\": {}, "
        "\"modes\": {}, \"points\": {}, \"threads\": {}, \"width\": {}, \"plan_s\": {:.3f}, \"setpts_s\": {:.3f}, "
        "\"exec_s\": {:.3f}, \"setpts_pts_per_s\": {:.4g}, \"exec_pts_per_s\": {:.4g}, "
        "\"rel_error\": {:.3e}}}\n",
        precision, tol, type, n_modes, m, plan.threads(), plan.kernel().width, t_plan, t_setpts, t_exec,
        static_cast<double>(m) / t_setpts, static_cast<double>(m) / t_exec, err);
    std::fflush(stdout);
  }
}

// Type 2 with the gradient (local refinement's slices) against the plain type 2 on the same
// sorted points, timed alternately: the ratio is what a Gauss-Newton step costs in slices.
template <typename T>
void run_gradient(const char* precision, double tol, std::int64_t n_modes, std::int64_t m, int reps, int threads) {
  auto [x, y, z, c, f] = random_inputs<T>(n_modes, m, 2);
  std::vector<std::complex<T>> g(3 * m);
  spire::nufft::Options options;
  options.threads = threads;
  spire::nufft::Plan<T> plan(2, {n_modes, n_modes, n_modes}, +1, tol, options);
  const auto points = plan.sort_points(m, x.data(), y.data(), z.data());
  double plain = 1e30, gradient = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = clock_type::now();
    plan.execute(points, c.data(), f.data());
    plain = std::min(plain, since(t0));
    t0 = clock_type::now();
    plan.execute_with_gradient(points, c.data(), g.data(), f.data());
    gradient = std::min(gradient, since(t0));
  }
  fmt::print(
      "{{\"program\": \"spire\", \"precision\": \"{}\", \"tolerance\": {:.0e}, \"type\": \"2+gradient\", "
      "\"modes\": {}, \"points\": {}, \"threads\": {}, \"plain_exec_s\": {:.3f}, \"gradient_exec_s\": {:.3f}, "
      "\"gradient_over_plain\": {:.2f}}}\n",
      precision, tol, n_modes, m, plan.threads(), plain, gradient, gradient / plain);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n_modes = argc > 1 ? std::atol(argv[1]) : 81;
  const std::int64_t m = argc > 2 ? std::atol(argv[2]) : 16'000'000;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 2;
  const std::string only = argc > 4 ? argv[4] : "";
  const int threads = argc > 5 ? std::atoi(argv[5]) : 0;
  if (only.empty() || only == "float") run<float>("float", 1e-5, n_modes, m, reps, threads);
  if (only.empty() || only == "gradient") {
    run_gradient<float>("float", 1e-2, n_modes, m, reps, threads);
    run_gradient<float>("float", 1e-5, n_modes, m, reps, threads);
  }
  if (only.empty() || only == "double") {
    run<double>("double", 1e-6, n_modes, m, reps, threads);
    run<double>("double", 1e-12, n_modes, m, reps, threads);
  }
}
