// Type 1 and type 2 against the direct sum, in float and double, across tolerances, plus
// adjointness and the edge cases a caller can run into.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "nufft/nufft.hpp"

using namespace spire::nufft;

namespace {

template <typename T>
struct Problem {
  std::array<std::int64_t, 3> modes;
  std::vector<T> x, y, z;
  std::vector<std::complex<T>> c, f;
  std::int64_t n_modes() const { return modes[0] * modes[1] * modes[2]; }
  std::int64_t n() const { return static_cast<std::int64_t>(x.size()); }
};

template <typename T>
Problem<T> make_problem(std::array<std::int64_t, 3> modes, std::int64_t n, unsigned seed,
                        T range = std::numbers::pi_v<T>) {
  Problem<T> p;
  p.modes = modes;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> pos(-range, range);
  std::normal_distribution<double> g;
  for (std::int64_t j = 0; j < n; ++j) {
    p.x.push_back(static_cast<T>(pos(rng)));
    p.y.push_back(static_cast<T>(pos(rng)));
    p.z.push_back(static_cast<T>(pos(rng)));
    p.c.emplace_back(static_cast<T>(g(rng)), static_cast<T>(g(rng)));
  }
  for (std::int64_t k = 0; k < p.n_modes(); ++k)
    p.f.emplace_back(static_cast<T>(g(rng)), static_cast<T>(g(rng)));
  return p;
}

template <typename T>
double rel_l2(const std::vector<std::complex<T>>& a, const std::vector<std::complex<T>>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += std::norm(std::complex<double>(a[i]) - std::complex<double>(b[i]));
    den += std::norm(std::complex<double>(b[i]));
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

template <typename T>
std::vector<std::complex<T>> nufft(const Problem<T>& p, int type, int sign, double tol,
                                   Options opt = {}) {
  Plan<T> plan(type, p.modes, sign, tol, opt);
  plan.set_points(p.n(), p.x.data(), p.y.data(), p.z.data());
  auto c = p.c;
  auto f = p.f;
  plan.execute(c.data(), f.data());
  return type == 1 ? f : c;
}

template <typename T>
std::vector<std::complex<T>> direct(const Problem<T>& p, int type, int sign) {
  if (type == 1) {
    std::vector<std::complex<T>> f(p.n_modes());
    direct_type1(p.n(), p.x.data(), p.y.data(), p.z.data(), p.c.data(), sign, p.modes, f.data());
    return f;
  }
  std::vector<std::complex<T>> c(p.n());
  direct_type2(p.n(), p.x.data(), p.y.data(), p.z.data(), c.data(), sign, p.modes, p.f.data());
  return c;
}

// The measured error stays within this factor of the requested tolerance (FINUFFT's own
// tests allow a similar margin: the tolerance is a target for the relative l2 error).
constexpr double kSlack = 10;

template <typename T>
class NufftTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NufftTest, Precisions);

// Tolerances each precision and upsampling factor can reach (choose_kernel rejects others).
template <typename T>
std::vector<double> tolerances(double sigma) {
  if constexpr (sizeof(T) == 4) {
    if (sigma < 2) return {1e-2, 1e-3, 1e-4};
    return {1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
  }
  if (sigma < 2) return {1e-2, 1e-4, 1e-6, 1e-8, 1e-10};
  return {1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12};
}

}  // namespace

// A few thousand points, odd and even mode counts, both signs, both upsampling factors.
TYPED_TEST(NufftTest, MatchesDirectSumAcrossTolerances) {
  using T = TypeParam;
  const auto p = make_problem<T>({24, 19, 16}, 4000, 1);
  for (int sign : {+1, -1})
    for (int type : {1, 2}) {
      const auto exact = direct(p, type, sign);
      for (double sigma : {2.0, 1.25})
        for (double tol : tolerances<T>(sigma)) {
          Options opt;
          opt.upsampling = sigma;
          const double err = rel_l2(nufft(p, type, sign, tol, opt), exact);
          EXPECT_LT(err, kSlack * tol) << "type " << type << " sign " << sign << " sigma " << sigma
                                       << " tol " << tol;
          // and not absurdly better either: the kernel width is not oversized
          if (tol >= 1e-10 && (sizeof(T) == 8 || tol >= 1e-4)) {
            EXPECT_GT(err, tol / 1000);
          }
        }
    }
}

// The realistic size: 81^3 modes (SpiniFEL's grid), type 2 at 2000 points, type 1 likewise.
TYPED_TEST(NufftTest, MatchesDirectSumAtRealisticGrid) {
  using T = TypeParam;
  const auto p = make_problem<T>({81, 81, 81}, 1500, 2);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
  for (int type : {1, 2}) {
    const double err = rel_l2(nufft(p, type, +1, tol), direct(p, type, +1));
    EXPECT_LT(err, kSlack * tol) << "type " << type;
  }
}

// Type 2 with the gradient: the values equal execute's, and the gradient matches the direct
// sums of the modes times sign i k_d, for both signs, SIMD and scalar paths, across
// tolerances, and at the realistic 81^3 grid. Measured errors sit within a few times the
// tolerance (the derivative weighs the kernel's error by the frequency).
template <typename T>
void check_gradient(const Problem<T>& p, int sign, double tol, bool simd, double slack) {
  Options opt;
  opt.simd = simd;
  Plan<T> plan(2, p.modes, sign, tol, opt);
  const auto points = plan.sort_points(p.n(), p.x.data(), p.y.data(), p.z.data());
  auto f = p.f;
  std::vector<std::complex<T>> c(p.n()), gradient(3 * p.n()), plain(p.n());
  plan.execute_with_gradient(points, c.data(), gradient.data(), f.data());
  plan.execute(points, plain.data(), f.data());
  EXPECT_LT(rel_l2(c, plain), 1e-6) << "values differ from execute's";
  for (int d = 0; d < 3; ++d) {
    Problem<T> q = p;
    for (std::int64_t k = 0; k < p.n_modes(); ++k) {
      const std::int64_t idx[3] = {k % p.modes[0], (k / p.modes[0]) % p.modes[1], k / (p.modes[0] * p.modes[1])};
      const T kd = static_cast<T>(idx[d] - p.modes[d] / 2);
      q.f[k] = p.f[k] * std::complex<T>(0, static_cast<T>(sign) * kd);
    }
    const auto exact = direct(q, 2, sign);
    std::vector<std::complex<T>> got(p.n());
    for (std::int64_t j = 0; j < p.n(); ++j) got[j] = gradient[3 * j + d];
    EXPECT_LT(rel_l2(got, exact), slack * tol) << "d " << d << " sign " << sign << " tol " << tol << " simd " << simd;
  }
}

TYPED_TEST(NufftTest, GradientMatchesTheDirectSum) {
  using T = TypeParam;
  const auto p = make_problem<T>({24, 19, 16}, 3000, 5);
  for (int sign : {+1, -1})
    for (bool simd : {true, false})
      for (double tol : tolerances<T>(2.0)) check_gradient(p, sign, tol, simd, 3 * kSlack);
  const auto big = make_problem<T>({81, 81, 81}, 800, 6);
  check_gradient(big, +1, sizeof(T) == 4 ? 1e-2 : 1e-12, true, 3 * kSlack);
  check_gradient(big, +1, sizeof(T) == 4 ? 1e-5 : 1e-6, true, 3 * kSlack);
}

// <A f, c> = <f, A* c>: type 2 with sign s is the adjoint of type 1 with sign -s.
TYPED_TEST(NufftTest, TypeOneIsAdjointOfTypeTwo) {
  using T = TypeParam;
  const auto p = make_problem<T>({20, 21, 22}, 3000, 3);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-11;
  const auto af = nufft(p, 2, +1, tol);   // A f, at points
  const auto ac = nufft(p, 1, -1, tol);   // A* c, at modes
  std::complex<double> lhs = 0, rhs = 0;
  double na = 0, nc = 0;
  for (std::int64_t j = 0; j < p.n(); ++j) {
    lhs += std::complex<double>(af[j]) * std::conj(std::complex<double>(p.c[j]));
    na += std::norm(std::complex<double>(af[j]));
    nc += std::norm(std::complex<double>(p.c[j]));
  }
  for (std::int64_t k = 0; k < p.n_modes(); ++k)
    rhs += std::complex<double>(p.f[k]) * std::conj(std::complex<double>(ac[k]));
  EXPECT_LT(std::abs(lhs - rhs) / std::sqrt(na * nc), kSlack * tol);
}

// The plain scalar path (exact kernel) and the vector path agree to the tolerance.
TYPED_TEST(NufftTest, ScalarPathMatchesSimdPath) {
  using T = TypeParam;
  const auto p = make_problem<T>({17, 18, 16}, 3000, 4);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  Options scalar;
  scalar.simd = false;
  for (int type : {1, 2})
    EXPECT_LT(rel_l2(nufft(p, type, +1, tol), nufft(p, type, +1, tol, scalar)), tol) << type;
}

TYPED_TEST(NufftTest, OneAndManyThreadsGiveTheSameResult) {
  using T = TypeParam;
  const auto p = make_problem<T>({32, 30, 34}, 20000, 5);
  Options one, two;
  one.threads = 1;
  two.threads = 2;
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  const double roundoff = 50 * std::numeric_limits<T>::epsilon();
  for (int type : {1, 2})
    EXPECT_LT(rel_l2(nufft(p, type, -1, tol, one), nufft(p, type, -1, tol, two)), roundoff);
}

TYPED_TEST(NufftTest, BatchEqualsSeparateExecutes) {
  using T = TypeParam;
  const int batch = 3;
  auto p = make_problem<T>({12, 13, 14}, 1000, 6);
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-9;
  for (int type : {1, 2}) {
    Plan<T> plan(type, p.modes, +1, tol);
    plan.set_points(p.n(), p.x.data(), p.y.data(), p.z.data());
    std::vector<std::complex<T>> c, f;
    for (int b = 0; b < batch; ++b)
      for (std::int64_t j = 0; j < p.n(); ++j) c.push_back(p.c[j] * static_cast<T>(b + 1));
    for (int b = 0; b < batch; ++b)
      for (std::int64_t k = 0; k < p.n_modes(); ++k) f.push_back(p.f[k] * static_cast<T>(b - 1));
    plan.execute(c.data(), f.data(), batch);
    for (int b = 0; b < batch; ++b) {
      std::vector<std::complex<T>> cb(p.c), fb(p.f);
      for (auto& v : cb) v *= static_cast<T>(b + 1);
      for (auto& v : fb) v *= static_cast<T>(b - 1);
      plan.execute(cb.data(), fb.data());  // the same plan executed again: no state leaks
      const auto& got = type == 1 ? f : c;
      const auto& want = type == 1 ? fb : cb;
      const std::int64_t n = type == 1 ? p.n_modes() : p.n();
      for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(got[b * n + i], want[i]) << type << " " << b;
    }
  }
}

TYPED_TEST(NufftTest, ZeroPoints) {
  using T = TypeParam;
  Plan<T> t1(1, {8, 9, 10}, +1, 1e-4);
  t1.set_points(0, nullptr, nullptr, nullptr);
  std::vector<std::complex<T>> f(720, {1, 1});
  t1.execute(nullptr, f.data());
  for (auto v : f) EXPECT_EQ(v, std::complex<T>(0));
  Plan<T> t2(2, {8, 9, 10}, +1, 1e-4);
  t2.set_points(0, nullptr, nullptr, nullptr);
  EXPECT_NO_THROW(t2.execute(nullptr, f.data()));
}

// Points on the boundary +-pi, at -3pi and just inside 3pi: periodic images of each other.
TYPED_TEST(NufftTest, BoundaryPointsAreExact) {
  using T = TypeParam;
  const T pi = std::numbers::pi_v<T>;
  auto p = make_problem<T>({11, 12, 13}, 0, 7);
  const T edge = std::nextafter(3 * pi, T(0));
  const std::vector<T> vals = {-pi, pi, -3 * pi, edge, T(0), -edge};
  for (T a : vals)
    for (T b : vals) {
      p.x.push_back(a);
      p.y.push_back(b);
      p.z.push_back(vals[(p.x.size() * 7) % vals.size()]);
      p.c.emplace_back(T(1), static_cast<T>(p.x.size() % 3));
    }
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  for (int type : {1, 2})
    EXPECT_LT(rel_l2(nufft(p, type, +1, tol), direct(p, type, +1)), kSlack * tol) << type;
}

TYPED_TEST(NufftTest, PointsOutsideRangeAreRejected) {
  using T = TypeParam;
  Plan<T> plan(2, {8, 8, 8}, +1, 1e-4);
  std::vector<T> x = {0, 1, T(10)}, y = {0, 0, 0}, z = {0, 0, 0};
  try {
    plan.set_points(3, x.data(), y.data(), z.data());
    FAIL() << "a point at x = 10 was accepted";
  } catch (const spire::Error& e) {
    EXPECT_NE(std::string(e.what()).find("point 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("outside"), std::string::npos) << e.what();
  }
  z[1] = std::numeric_limits<T>::quiet_NaN();
  x[2] = 0;
  EXPECT_THROW(plan.set_points(3, x.data(), y.data(), z.data()), spire::Error);
  y[0] = static_cast<T>(3 * std::numbers::pi);  // 3 pi itself is outside [-3pi, 3pi)
  z[1] = 0;
  EXPECT_THROW(plan.set_points(3, x.data(), y.data(), z.data()), spire::Error);
}

TEST(Nufft, RejectsBadPlans) {
  EXPECT_THROW(Plan<double>(3, {8, 8, 8}, +1, 1e-6), spire::Error);
  EXPECT_THROW(Plan<double>(1, {8, 0, 8}, +1, 1e-6), spire::Error);
  EXPECT_THROW(Plan<double>(1, {8, 8, 8}, 0, 1e-6), spire::Error);
  EXPECT_THROW(Plan<float>(1, {8, 8, 8}, 1, 1e-10), spire::Error);
}

// Called from inside a parallel region, the plan's own regions get one thread: every point
// must still be sorted and transformed.
TYPED_TEST(NufftTest, WorksInsideAParallelRegion) {
  using T = TypeParam;
  const auto p = make_problem<T>({10, 11, 12}, 5000, 8);
  Options two;
  two.threads = 2;
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-9;
  std::vector<std::complex<T>> inside;
#pragma omp parallel num_threads(2)
#pragma omp single
  inside = nufft(p, 2, +1, tol, two);
  EXPECT_LT(rel_l2(inside, direct(p, 2, +1)), kSlack * tol);
}

// One plan serving several sorted point sets gives what a plan per point set gives.
// Type 1 summed in parts (spread_add, then one finish) equals the direct sum over all the
// parts' points, and the plan is reusable afterwards.
TYPED_TEST(NufftTest, SpreadInPartsEqualsOneSum) {
  using T = TypeParam;
  const auto all = make_problem<T>({24, 19, 16}, 4000, 12);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  Plan<T> plan(1, all.modes, -1, tol);
  for (int round = 0; round < 2; ++round) {
    for (std::int64_t first = 0; first < all.n(); first += 1500) {
      const std::int64_t count = std::min<std::int64_t>(1500, all.n() - first);
      plan.spread_add(plan.sort_points(count, all.x.data() + first, all.y.data() + first, all.z.data() + first),
                      all.c.data() + first);
    }
    std::vector<std::complex<T>> f(all.n_modes());
    plan.finish(f.data());
    EXPECT_LT(rel_l2(f, direct(all, 1, -1)), kSlack * tol) << round;
  }
  std::vector<std::complex<T>> f(all.n_modes(), {1, 1});
  plan.finish(f.data());  // nothing spread: zeros
  for (const auto& v : f) EXPECT_EQ(v, std::complex<T>(0));
  Plan<T> type2(2, all.modes, -1, tol);
  EXPECT_THROW(type2.finish(f.data()), spire::Error);
}

// sort_points(..., reuse): a point set handed back is sorted into again (larger, smaller,
// then larger than it ever was), and each result is the one a fresh sort gives; a set that
// another copy still holds is left alone.
TYPED_TEST(NufftTest, ReusedPointStorageSortsAsFresh) {
  using T = TypeParam;
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  const auto a = make_problem<T>({14, 15, 16}, 3000, 11);
  auto b = make_problem<T>({14, 15, 16}, 1200, 12);
  auto c = make_problem<T>({14, 15, 16}, 5000, 13);
  b.f = a.f;
  c.f = a.f;
  for (int type : {1, 2}) {
    Plan<T> plan(type, a.modes, +1, tol);
    Points<T> scratch;
    for (const Problem<T>* p : std::array<const Problem<T>*, 4>{&a, &b, &c, &a}) {
      scratch = plan.sort_points(p->n(), p->x.data(), p->y.data(), p->z.data(), std::move(scratch));
      EXPECT_EQ(scratch.size(), p->n());
      auto cv = p->c;
      auto f = p->f;
      plan.execute(scratch, cv.data(), f.data());
      EXPECT_EQ(type == 1 ? f : cv, nufft(*p, type, +1, tol)) << type << " " << p->n();
    }
    const Points<T> kept = scratch;  // a second holder: the next sort must not write into it
    Points<T> given = scratch;
    const Points<T> fresh = plan.sort_points(b.n(), b.x.data(), b.y.data(), b.z.data(), std::move(given));
    EXPECT_EQ(kept.size(), a.n());
    EXPECT_EQ(fresh.size(), b.n());
    auto cv = a.c;
    auto f = a.f;
    plan.execute(kept, cv.data(), f.data());
    EXPECT_EQ(type == 1 ? f : cv, nufft(a, type, +1, tol)) << type;
  }
}

TYPED_TEST(NufftTest, SeveralPointSetsShareOnePlan) {
  using T = TypeParam;
  const auto a = make_problem<T>({14, 15, 16}, 2000, 9);
  auto b = make_problem<T>({14, 15, 16}, 1500, 10);
  b.f = a.f;
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  for (int type : {1, 2}) {
    Plan<T> plan(type, a.modes, +1, tol);
    const Points<T> pa = plan.sort_points(a.n(), a.x.data(), a.y.data(), a.z.data());
    const Points<T> pb = plan.sort_points(b.n(), b.x.data(), b.y.data(), b.z.data());
    EXPECT_EQ(pa.size(), a.n());
    for (const Problem<T>* p : std::array<const Problem<T>*, 2>{&a, &b}) {
      auto c = p->c;
      auto f = p->f;
      plan.execute(p == &a ? pa : pb, c.data(), f.data());
      EXPECT_EQ(type == 1 ? f : c, nufft(*p, type, +1, tol)) << type;
    }
  }
  Plan<T> other(2, {14, 15, 17}, +1, tol);
  Plan<T> plan(2, a.modes, +1, tol);
  const Points<T> pa = plan.sort_points(a.n(), a.x.data(), a.y.data(), a.z.data());
  auto c = a.c;
  auto f = a.f;
  EXPECT_THROW(other.execute(pa, c.data(), f.data()), spire::Error);
}
