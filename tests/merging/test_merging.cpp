// Merging: the Toeplitz operator against the explicit NUFFT composition, CG against a dense
// solve, recovery of a known autocorrelation, and the split-invariance ranks rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "merging/merging.hpp"
#include "nufft/nufft.hpp"

using namespace spire;

namespace {

template <typename T>
struct Points {
  std::vector<T> x, y, z, b, w;
  std::int64_t size() const { return static_cast<std::int64_t>(x.size()); }
};

template <typename T>
Points<T> random_points(std::int64_t m, unsigned seed) {
  Points<T> p;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-std::numbers::pi, std::numbers::pi), w(0.5, 1.5), g(0, 1);
  for (std::int64_t j = 0; j < m; ++j) {
    p.x.push_back(static_cast<T>(u(rng)));
    p.y.push_back(static_cast<T>(u(rng)));
    p.z.push_back(static_cast<T>(u(rng)));
    p.b.push_back(static_cast<T>(g(rng)));
    p.w.push_back(static_cast<T>(w(rng)));
  }
  return p;
}

std::vector<double> random_real(std::int64_t n3, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> v(static_cast<std::size_t>(n3));
  for (auto& x : v) x = g(rng);
  return v;
}

double rel(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

// Re A*(D A x) by two NUFFTs: the definition the Toeplitz operator must reproduce.
template <typename T>
std::vector<double> explicit_normal(std::int64_t n, const Points<T>& p, const std::vector<double>& x, double tol) {
  const std::array<std::int64_t, 3> modes{n, n, n};
  nufft::Plan<T> a(2, modes, +1, tol), at(1, modes, -1, tol);
  a.set_points(p.size(), p.x.data(), p.y.data(), p.z.data());
  at.set_points(p.size(), p.x.data(), p.y.data(), p.z.data());
  std::vector<std::complex<T>> f(x.begin(), x.end()), c(static_cast<std::size_t>(p.size()));
  a.execute(c.data(), f.data());
  for (std::int64_t j = 0; j < p.size(); ++j) c[j] *= p.w[j];
  at.execute(c.data(), f.data());
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = f[i].real();
  return out;
}

}  // namespace

template <typename T>
class MergingTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(MergingTest, Precisions);

TYPED_TEST(MergingTest, ToeplitzEqualsExplicitComposition) {
  using T = TypeParam;
  const std::int64_t n = 15;
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-12;
  const auto p = random_points<T>(4000, 1);
  merging::Options opt;
  opt.tolerance = tol;
  merging::Merger<T> merger(n, opt);
  merger.accumulate(p.size(), p.x.data(), p.y.data(), p.z.data(), p.b.data(), p.w.data());
  const auto x = random_real(n * n * n, 2);
  std::vector<double> got;
  merger.apply_normal(x, got);
  EXPECT_LT(rel(got, explicit_normal(n, p, x, tol)), sizeof(T) == 4 ? 1e-5 : 1e-10);
}

TEST(ConjugateGradients, SolvesADenseSpdSystem) {
  const int n = 40;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  std::vector<double> B(n * n), A(n * n, 0.0), rhs(n);
  for (auto& v : B) v = g(rng);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      for (int k = 0; k < n; ++k) A[i * n + j] += B[k * n + i] * B[k * n + j];
      if (i == j) A[i * n + j] += 1.0;
    }
  for (auto& v : rhs) v = g(rng);
  // Dense reference: Cholesky.
  std::vector<double> Lc(n * n, 0.0), want(rhs);
  for (int j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (int k = 0; k < j; ++k) d -= Lc[j * n + k] * Lc[j * n + k];
    Lc[j * n + j] = std::sqrt(d);
    for (int i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      for (int k = 0; k < j; ++k) s -= Lc[i * n + k] * Lc[j * n + k];
      Lc[i * n + j] = s / Lc[j * n + j];
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < i; ++k) want[i] -= Lc[i * n + k] * want[k];
    want[i] /= Lc[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    for (int k = i + 1; k < n; ++k) want[i] -= Lc[k * n + i] * want[k];
    want[i] /= Lc[i * n + i];
  }
  std::vector<double> x(n, 0.0);
  const auto [it, res] = merging::conjugate_gradients(
      [&](const std::vector<double>& v, std::vector<double>& out) {
        out.assign(n, 0.0);
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < n; ++j) out[i] += A[i * n + j] * v[j];
      },
      rhs, x, 500, 1e-12);
  EXPECT_LT(res, 1e-12);
  EXPECT_LT(rel(x, want), 1e-9) << it << " iterations";
}

// Exact data of a known centrosymmetric autocorrelation, many points: the solve returns it.
TYPED_TEST(MergingTest, RecoversAKnownAutocorrelation) {
  using T = TypeParam;
  const std::int64_t n = 11, h = n / 2, n3 = n * n * n;
  std::vector<double> truth(static_cast<std::size_t>(n3), 0.0);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> g;
  for (std::int64_t i = 0; i < n3; ++i) {
    const std::int64_t a = i % n - h, b = (i / n) % n - h, c = i / (n * n) - h;
    const std::int64_t mirror = (h - a) + n * ((h - b) + n * (h - c));
    if (i <= mirror && a * a + b * b + c * c <= 16) truth[i] = truth[mirror] = g(rng);
  }
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-12;
  auto p = random_points<T>(20000, 5);
  // b = A truth exactly (type 2, the forward model)
  nufft::Plan<T> forward(2, {n, n, n}, +1, tol);
  forward.set_points(p.size(), p.x.data(), p.y.data(), p.z.data());
  std::vector<std::complex<T>> f(truth.begin(), truth.end()), c(static_cast<std::size_t>(p.size()));
  forward.execute(c.data(), f.data());
  for (std::int64_t j = 0; j < p.size(); ++j) p.b[j] = c[j].real();
  merging::Options opt;
  opt.tolerance = tol;
  opt.regularisation = 1e-9;
  opt.cg_tolerance = sizeof(T) == 4 ? 1e-7 : 1e-12;
  opt.cg_iterations = 500;
  merging::Merger<T> merger(n, opt);
  merger.accumulate(p.size(), p.x.data(), p.y.data(), p.z.data(), p.b.data(), p.w.data());
  const auto sol = merger.solve({});
  EXPECT_LT(rel(sol.autocorrelation, truth), sizeof(T) == 4 ? 1e-3 : 1e-6) << sol.iterations << " iterations";
}

// Two halves accumulated (as two ranks would) give the solution of all points at once.
TEST(Merging, SplitAccumulationGivesTheSameSolution) {
  const std::int64_t n = 9;
  const auto p = random_points<double>(6000, 6);
  merging::Merger<double> all(n), halves(n);
  all.accumulate(p.size(), p.x.data(), p.y.data(), p.z.data(), p.b.data(), p.w.data());
  const std::int64_t half = p.size() / 2;
  halves.accumulate(half, p.x.data(), p.y.data(), p.z.data(), p.b.data(), p.w.data());
  halves.accumulate(p.size() - half, p.x.data() + half, p.y.data() + half, p.z.data() + half,
                    p.b.data() + half, p.w.data() + half);
  const auto x0 = random_real(n * n * n, 7);
  EXPECT_LT(rel(halves.solve(x0).autocorrelation, all.solve(x0).autocorrelation), 1e-9);
}

TEST(Merging, RejectsBadInput) {
  EXPECT_THROW(merging::Merger<float>(10), spire::Error);
  merging::Merger<float> merger(5);
  std::vector<float> x{0.1f, 4.0f}, y{0, 0}, z{0, 0}, b{1, 1}, w{1, 1};
  EXPECT_THROW(merger.accumulate(2, x.data(), y.data(), z.data(), b.data(), w.data()), spire::Error);
  x[1] = 0;
  b[0] = std::nanf("");
  EXPECT_THROW(merger.accumulate(2, x.data(), y.data(), z.data(), b.data(), w.data()), spire::Error);
  b[0] = 1;
  w[1] = -1;
  EXPECT_THROW(merger.accumulate(2, x.data(), y.data(), z.data(), b.data(), w.data()), spire::Error);
  EXPECT_THROW(merger.solve(std::vector<double>(3)), spire::Error);
}
