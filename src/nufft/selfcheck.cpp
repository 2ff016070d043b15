#include "nufft/selfcheck.hpp"

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "nufft/nufft.hpp"

namespace spire::nufft {
namespace {

template <typename T>
double relative_l2(const std::vector<std::complex<T>>& a, const std::vector<std::complex<T>>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += std::norm(std::complex<double>(a[i]) - std::complex<double>(b[i]));
    den += std::norm(std::complex<double>(b[i]));
  }
  return std::sqrt(num / den);
}

template <typename T>
void check(const char* name, std::vector<double> tolerances, int n_modes, long n_points,
           int threads, std::vector<CheckResult>& out) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<T> pos(-std::numbers::pi_v<T>, std::numbers::pi_v<T>);
  std::normal_distribution<T> gauss;
  std::vector<T> x(n_points), y(n_points), z(n_points);
  for (long j = 0; j < n_points; ++j) x[j] = pos(rng), y[j] = pos(rng), z[j] = pos(rng);
  const std::array<std::int64_t, 3> modes = {n_modes, n_modes, n_modes};
  const std::size_t nm = static_cast<std::size_t>(n_modes) * n_modes * n_modes;
  std::vector<std::complex<T>> c(n_points), f(nm);
  for (auto& v : c) v = {gauss(rng), gauss(rng)};
  for (auto& v : f) v = {gauss(rng), gauss(rng)};
  std::vector<std::complex<T>> f_ref(nm), c_ref(n_points);
  direct_type1(n_points, x.data(), y.data(), z.data(), c.data(), +1, modes, f_ref.data());
  direct_type2(n_points, x.data(), y.data(), z.data(), c_ref.data(), +1, modes, f.data());
  Options opt;
  opt.threads = threads;
  for (double tol : tolerances)
    for (int type : {1, 2}) {
      Plan<T> plan(type, modes, +1, tol, opt);
      plan.set_points(n_points, x.data(), y.data(), z.data());
      std::vector<std::complex<T>> cc = c, ff = f;
      const auto t0 = std::chrono::steady_clock::now();
      plan.execute(cc.data(), ff.data());
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double err = type == 1 ? relative_l2(ff, f_ref) : relative_l2(cc, c_ref);
      out.push_back({name, type, tol, err, plan.kernel().width, dt, err <= 10 * tol});
    }
}

}  // namespace

std::vector<CheckResult> self_check(int n_modes, long n_points, int threads) {
  std::vector<CheckResult> out;
  check<float>("float", {1e-3, 1e-5}, n_modes, n_points, threads, out);
  check<double>("double", {1e-6, 1e-9, 1e-12}, n_modes, n_points, threads, out);
  return out;
}

}  // namespace spire::nufft
