// The conjugate-gradient template (merging/cg.hpp) on plain host vectors: a small SPD system
// against Gaussian elimination in float and double, the stopping rule, b = 0, a warm start
// and the count of applications of M.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "merging/cg.hpp"

using spire::merging::CgResult;
using spire::merging::conjugate_gradient;

namespace {

// Serial operations on k values with a dense row-major M (double entries, S vectors).
template <typename S>
struct DenseOps {
  const std::vector<double>& M;
  std::size_t k;
  int applications = 0;

  void apply(const S* in, S* out) {
    ++applications;
    for (std::size_t i = 0; i < k; ++i) {
      S s = 0;
      for (std::size_t j = 0; j < k; ++j) s += static_cast<S>(M[i * k + j]) * in[j];
      out[i] = s;
    }
  }
  double dot(const S* a, const S* b) const {
    double s = 0;
    for (std::size_t i = 0; i < k; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return s;
  }
  void zero(S* x) const {
    for (std::size_t i = 0; i < k; ++i) x[i] = 0;
  }
  void start(const S* b, const S* q, S* r, S* p) const {
    for (std::size_t i = 0; i < k; ++i) p[i] = r[i] = b[i] - q[i];
  }
  void step(S alpha, const S* p, const S* q, S* x, S* r) const {
    for (std::size_t i = 0; i < k; ++i) {
      x[i] += alpha * p[i];
      r[i] -= alpha * q[i];
    }
  }
  void direction(S beta, const S* r, S* p) const {
    for (std::size_t i = 0; i < k; ++i) p[i] = r[i] + beta * p[i];
  }
  double distance2(const S* b, const S* q, S*) const {
    double s = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const double d = static_cast<double>(b[i]) - static_cast<double>(q[i]);
      s += d * d;
    }
    return s;
  }
};

struct System {
  std::vector<double> M, b;
};

// M = G G^T / k + shift I with G Gaussian (SPD, condition number a few tens), b Gaussian.
System spd_system(std::size_t k, double shift, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> G(k * k);
  System sys{std::vector<double>(k * k), std::vector<double>(k)};
  for (double& e : G) e = g(rng);
  for (double& e : sys.b) e = g(rng);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      double s = i == j ? shift : 0.0;
      for (std::size_t p = 0; p < k; ++p) s += G[i * k + p] * G[j * k + p] / static_cast<double>(k);
      sys.M[i * k + j] = s;
    }
  return sys;
}

// Gaussian elimination with partial pivoting, in long double: the reference solution.
std::vector<double> dense_solve(std::vector<double> M, std::vector<double> b) {
  const std::size_t k = b.size();
  std::vector<long double> A(M.begin(), M.end()), y(b.begin(), b.end());
  for (std::size_t c = 0; c < k; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < k; ++r)
      if (std::fabs(A[r * k + c]) > std::fabs(A[piv * k + c])) piv = r;
    for (std::size_t j = 0; j < k; ++j) std::swap(A[c * k + j], A[piv * k + j]);
    std::swap(y[c], y[piv]);
    for (std::size_t r = c + 1; r < k; ++r) {
      const long double f = A[r * k + c] / A[c * k + c];
      for (std::size_t j = c; j < k; ++j) A[r * k + j] -= f * A[c * k + j];
      y[r] -= f * y[c];
    }
  }
  std::vector<double> x(k);
  for (std::size_t c = k; c-- > 0;) {
    long double s = y[c];
    for (std::size_t j = c + 1; j < k; ++j) s -= A[c * k + j] * static_cast<long double>(x[j]);
    x[c] = static_cast<double>(s / A[c * k + c]);
  }
  return x;
}

template <typename S>
double rel_diff(const std::vector<S>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

struct CgRun {
  CgResult result;
  int applications;
};

template <typename S>
CgRun solve(const std::vector<double>& M, const std::vector<double>& b, std::vector<S>& x, int max_iterations,
          double tolerance) {
  const std::size_t k = b.size();
  DenseOps<S> ops{M, k};
  std::vector<S> bs(b.begin(), b.end()), r(k), p(k), q(k);
  const CgResult res = conjugate_gradient<S>(ops, bs.data(), x.data(), r.data(), p.data(), q.data(),
                                             max_iterations, tolerance);
  return {res, ops.applications};
}

template <typename S>
void check_dense_spd(double tolerance, double max_error) {
  const std::size_t k = 32;
  const auto [M, b] = spd_system(k, 0.5, 1);
  const std::vector<double> exact = dense_solve(M, b);
  std::vector<S> x(k, S(0));
  const CgRun run = solve<S>(M, b, x, 200, tolerance);
  EXPECT_TRUE(run.result.converged);
  EXPECT_GT(run.result.iterations, 0);
  EXPECT_LE(run.result.iterations, 3 * static_cast<int>(k));
  EXPECT_EQ(run.applications, run.result.iterations + 2);  // the start's residual, the loop, the true one
  EXPECT_LT(rel_diff(x, exact), max_error);
  EXPECT_LT(run.result.residual, 10 * tolerance);
}

}  // namespace

TEST(CgTemplate, SolvesDenseSpdSystemDouble) { check_dense_spd<double>(1e-12, 1e-10); }
TEST(CgTemplate, SolvesDenseSpdSystemFloat) { check_dense_spd<float>(1e-5, 1e-4); }

// Zero iterations allowed: x stays, the true residual is that of the start.
TEST(CgTemplate, IterationLimitStopsAndReportsTheTrueResidual) {
  const std::size_t k = 12;
  const auto [M, b] = spd_system(k, 1.0, 3);
  std::vector<double> x(k, 0.25);
  const CgRun run = solve<double>(M, b, x, 0, 1e-12);
  EXPECT_EQ(run.result.iterations, 0);
  EXPECT_FALSE(run.result.converged);
  for (double v : x) EXPECT_EQ(v, 0.25);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < k; ++i) {
    double mx = 0;
    for (std::size_t j = 0; j < k; ++j) mx += M[i * k + j] * 0.25;
    num += (b[i] - mx) * (b[i] - mx);
    den += b[i] * b[i];
  }
  EXPECT_NEAR(run.result.residual, std::sqrt(num / den), 1e-14);

  std::vector<double> y(k, 0.0);
  const CgRun three = solve<double>(M, b, y, 3, 1e-12);
  EXPECT_EQ(three.result.iterations, 3);
  EXPECT_FALSE(three.result.converged);
}

TEST(CgTemplate, ZeroRightHandSideGivesZeroWithoutApplyingM) {
  const std::size_t k = 8;
  const std::vector<double> M = spd_system(k, 1.0, 5).M, b(k, 0.0);
  std::vector<float> x(k, 3.0f);
  const CgRun run = solve<float>(M, b, x, 10, 1e-6);
  EXPECT_TRUE(run.result.converged);
  EXPECT_EQ(run.result.iterations, 0);
  EXPECT_EQ(run.result.residual, 0.0);
  EXPECT_EQ(run.applications, 0);
  for (float v : x) EXPECT_EQ(v, 0.0f);
}

// From the exact solution the recursive residual is already below the tolerance.
TEST(CgTemplate, WarmStartAtTheSolutionNeedsNoIteration) {
  const std::size_t k = 10;
  const auto [M, b] = spd_system(k, 1.0, 6);
  std::vector<double> x = dense_solve(M, b);
  const CgRun run = solve<double>(M, b, x, 50, 1e-10);
  EXPECT_TRUE(run.result.converged);
  EXPECT_EQ(run.result.iterations, 0);
  EXPECT_EQ(run.applications, 2);
}

// p in M's null space (here M = 0): p.q = 0 stops the loop after one application.
TEST(CgTemplate, StopsWhenTheDirectionHasNoCurvature) {
  const std::size_t k = 6;
  const std::vector<double> M(k * k, 0.0), b = spd_system(k, 1.0, 8).b;
  std::vector<double> x(k, 0.0);
  const CgRun run = solve<double>(M, b, x, 50, 1e-10);
  EXPECT_EQ(run.result.iterations, 1);
  EXPECT_FALSE(run.result.converged);
  EXPECT_DOUBLE_EQ(run.result.residual, 1.0);
  for (double v : x) EXPECT_EQ(v, 0.0);
}

TEST(CgTemplate, RejectsBadLimits) {
  const auto [M, b] = spd_system(4, 1.0, 9);
  std::vector<double> x(4, 0.0);
  EXPECT_THROW(solve<double>(M, b, x, -1, 1e-6), spire::Error);
  EXPECT_THROW(solve<double>(M, b, x, 10, -1.0), spire::Error);
  EXPECT_THROW(solve<double>(M, b, x, 10, std::nan("")), spire::Error);
}

namespace {

// DenseOps with the inverse diagonal as the preconditioner (Jacobi).
template <typename S>
struct JacobiOps : DenseOps<S> {
  int preconditionings = 0;
  void precondition(const S* r, S* z) {
    ++preconditionings;
    for (std::size_t i = 0; i < this->k; ++i) z[i] = static_cast<S>(r[i] / this->M[i * this->k + i]);
  }
};

// A badly scaled SPD system: D M D with D spanning three decades, where Jacobi undoes D.
System badly_scaled(std::size_t k, unsigned seed) {
  System sys = spd_system(k, 0.5, seed);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      sys.M[i * k + j] *= std::pow(10.0, 1.5 * (static_cast<double>(i) + static_cast<double>(j)) / static_cast<double>(k));
  return sys;
}

template <typename S>
void check_preconditioned(double tolerance, double max_error) {
  const std::size_t k = 40;
  const auto [M, b] = badly_scaled(k, 11);
  const std::vector<double> exact = dense_solve(M, b);
  std::vector<S> bs(b.begin(), b.end()), x(k, S(0)), r(k), p(k), q(k), z(k);
  JacobiOps<S> ops{{M, k}};
  const CgResult pcg =
      conjugate_gradient<S>(ops, bs.data(), x.data(), r.data(), p.data(), q.data(), 400, tolerance, z.data());
  EXPECT_TRUE(pcg.converged);
  EXPECT_LT(rel_diff(x, exact), max_error);
  EXPECT_EQ(ops.preconditionings, pcg.iterations + 1);  // the start's and one per iteration
  std::vector<S> y(k, S(0));
  const CgRun plain = solve<S>(M, b, y, 400, tolerance);
  ::testing::Test::RecordProperty("iterations", pcg.iterations);
  ::testing::Test::RecordProperty("iterations_plain", plain.result.iterations);
  EXPECT_LT(2 * pcg.iterations, plain.result.iterations);
}

}  // namespace

// Preconditioned CG solves what plain CG solves (against elimination), in far fewer
// iterations where the preconditioner is a good inverse.
TEST(CgTemplate, PreconditionedSolveMatchesEliminationDouble) { check_preconditioned<double>(1e-12, 1e-9); }
TEST(CgTemplate, PreconditionedSolveMatchesEliminationFloat) { check_preconditioned<float>(1e-5, 3e-3); }

TEST(CgTemplate, PreconditionedSolveNeedsItsWorkspace) {
  const auto [M, b] = spd_system(4, 1.0, 12);
  std::vector<double> x(4, 0.0), r(4), p(4), q(4);
  JacobiOps<double> ops{{M, 4}};
  EXPECT_THROW(conjugate_gradient<double>(ops, b.data(), x.data(), r.data(), p.data(), q.data(), 10, 1e-6),
               spire::Error);
}
