#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numbers>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "geometry/orientations.hpp"

using namespace spire::geometry;

namespace {

constexpr double pi = std::numbers::pi;
constexpr double deg = 180.0 / pi;

// Test-local Hamilton product and the sandwich q v q*, independent of the library's.
std::array<double, 4> hamilton(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  return {a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
          a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
          a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
          a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]};
}

Vec3 sandwich(const Quaternion& q, const Vec3& v) {
  const std::array<double, 4> qa{q.w, q.x, q.y, q.z}, qc{q.w, -q.x, -q.y, -q.z};
  const auto r = hamilton(hamilton(qa, {0.0, v[0], v[1], v[2]}), qc);
  return {r[1], r[2], r[3]};
}

// Rodrigues: rotation by t about the unit axis n.
Vec3 rodrigues(const Vec3& n, double t, const Vec3& v) {
  const Vec3 cross{n[1] * v[2] - n[2] * v[1], n[2] * v[0] - n[0] * v[2], n[0] * v[1] - n[1] * v[0]};
  const double nv = n[0] * v[0] + n[1] * v[1] + n[2] * v[2];
  Vec3 out;
  for (int i = 0; i < 3; ++i)
    out[i] = v[i] * std::cos(t) + cross[i] * std::sin(t) + n[i] * nv * (1.0 - std::cos(t));
  return out;
}

Quaternion axis_angle(const Vec3& n, double t) {
  return {std::cos(t / 2), std::sin(t / 2) * n[0], std::sin(t / 2) * n[1], std::sin(t / 2) * n[2]};
}

Mat3 multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[3 * i + j] += a[3 * i + k] * b[3 * k + j];
  return c;
}

double determinant(const Mat3& r) {
  return r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) +
         r[2] * (r[3] * r[7] - r[4] * r[6]);
}

// Kolmogorov-Smirnov distance between the sample's rotation angles and the Haar law,
// CDF (t - sin t) / pi on [0, pi].
double ks_haar_angle(const std::vector<Quaternion>& qs) {
  std::vector<double> t;
  t.reserve(qs.size());
  for (const auto& q : qs) t.push_back(angle_between(Quaternion{}, q));
  std::sort(t.begin(), t.end());
  const double n = static_cast<double>(t.size());
  double d = 0.0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double f = (t[i] - std::sin(t[i])) / pi;
    d = std::max({d, static_cast<double>(i + 1) / n - f, f - static_cast<double>(i) / n});
  }
  return d;
}

// Largest |mean of R_ij| and largest |mean of R_ij^2 - 1/3|: both 0 under the Haar law.
std::pair<double, double> moment_errors(const std::vector<Quaternion>& qs) {
  std::array<double, 9> m1{}, m2{};
  for (const auto& q : qs) {
    const Mat3 r = rotation_matrix(q);
    for (int k = 0; k < 9; ++k) {
      m1[k] += r[k];
      m2[k] += r[k] * r[k];
    }
  }
  double e1 = 0.0, e2 = 0.0;
  const double n = static_cast<double>(qs.size());
  for (int k = 0; k < 9; ++k) {
    e1 = std::max(e1, std::fabs(m1[k] / n));
    e2 = std::max(e2, std::fabs(m2[k] / n - 1.0 / 3.0));
  }
  return {e1, e2};
}

// The sampler the Haar tests must reject: ZYZ Euler angles drawn uniformly.
std::vector<Quaternion> naive_euler(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<Quaternion> out;
  for (std::size_t i = 0; i < n; ++i) {
    const Quaternion a = axis_angle({0, 0, 1}, 2 * pi * u(rng));
    const Quaternion b = axis_angle({0, 1, 0}, pi * u(rng));
    const Quaternion c = axis_angle({0, 0, 1}, 2 * pi * u(rng));
    out.push_back(product(a, product(b, c)));
  }
  return out;
}

}  // namespace

TEST(Orientations, RotationMatrixIsOrthonormalWithDeterminantOne) {
  for (const auto& q : random_orientations(200, 1)) {
    const Mat3 r = rotation_matrix(q);
    const Mat3 rt{r[0], r[3], r[6], r[1], r[4], r[7], r[2], r[5], r[8]};
    const Mat3 i = multiply(r, rt);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) EXPECT_NEAR(i[3 * a + b], a == b ? 1.0 : 0.0, 1e-14);
    EXPECT_NEAR(determinant(r), 1.0, 1e-14);
  }
}

TEST(Orientations, RotationMatchesSandwichAndRodrigues) {
  const auto qs = random_orientations(200, 2);
  const Vec3 v{0.3, -1.2, 0.7};
  for (const auto& q : qs) {
    for (const Quaternion& s : {q, Quaternion{-q.w, -q.x, -q.y, -q.z}}) {
      const Vec3 a = rotate(s, v), b = sandwich(s, v);
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(a[k], b[k], 1e-14);
    }
  }
  // Active, right-handed: +90 degrees about z takes x to y (skopi's quaternion2rot3d too).
  const Vec3 y = rotate(axis_angle({0, 0, 1}, pi / 2), {1, 0, 0});
  EXPECT_NEAR(y[0], 0.0, 1e-15);
  EXPECT_NEAR(y[1], 1.0, 1e-15);
  const Vec3 n{2.0 / 7, -3.0 / 7, 6.0 / 7};
  for (double t : {0.1, 1.0, 2.5, pi}) {
    const Vec3 a = rotate(axis_angle(n, t), v), b = rodrigues(n, t, v);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(a[k], b[k], 1e-14);
  }
}

TEST(Orientations, ProductComposesAndInverseUndoes) {
  const auto qs = random_orientations(100, 3);
  const Vec3 v{1.0, 2.0, -0.5};
  for (std::size_t i = 0; i + 1 < qs.size(); ++i) {
    const Mat3 ab = rotation_matrix(product(qs[i], qs[i + 1]));
    const Mat3 ref = multiply(rotation_matrix(qs[i]), rotation_matrix(qs[i + 1]));
    for (int k = 0; k < 9; ++k) EXPECT_NEAR(ab[k], ref[k], 1e-14);
    const Vec3 back = rotate_inverse(qs[i], rotate(qs[i], v));
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(back[k], v[k], 1e-14);
  }
}

TEST(Orientations, AngleBetween) {
  const auto qs = random_orientations(100, 4);
  for (std::size_t i = 0; i + 1 < qs.size(); ++i) {
    const Quaternion& q = qs[i];
    EXPECT_EQ(angle_between(q, Quaternion{-q.w, -q.x, -q.y, -q.z}), 0.0);
    EXPECT_EQ(angle_between(q, q), 0.0);
    // The angle of a^-1 b, read from its w component.
    const Quaternion rel = product(conjugate(q), qs[i + 1]);
    EXPECT_NEAR(angle_between(q, qs[i + 1]), 2 * std::acos(std::fabs(rel.w)), 1e-7);
    EXPECT_NEAR(angle_between(q, qs[i + 1]), angle_between(qs[i + 1], q), 1e-15);
  }
  const Vec3 n{0.0, 0.6, 0.8};
  for (double t : {1e-9, 1e-4, 0.5, 3.0, pi})
    EXPECT_NEAR(angle_between(Quaternion{}, axis_angle(n, t)), t, 1e-15 * (1 + t) + 1e-22);
  // Beyond pi the shorter way round: 3 pi / 2 one way is pi / 2 the other.
  EXPECT_NEAR(angle_between(Quaternion{}, axis_angle(n, 1.5 * pi)), 0.5 * pi, 1e-14);
}

TEST(Orientations, NormalisationAndCanonicalSign) {
  const Quaternion q = normalized({2.0, 0.0, -2.0, 1.0});
  EXPECT_NEAR(dot(q, q), 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(q.w, 2.0 / 3);
  EXPECT_THROW(normalized({0, 0, 0, 0}), spire::Error);
  EXPECT_THROW(normalized({NAN, 0, 0, 1}), spire::Error);
  const Quaternion c = canonical({-0.5, 0.5, -0.5, 0.5});
  EXPECT_EQ(c.w, 0.5);
  EXPECT_EQ(c.y, 0.5);
}

TEST(Orientations, RandomAreDeterministicUnitAndCanonical) {
  const auto a = random_orientations(1000, 42), b = random_orientations(1000, 42);
  const auto c = random_orientations(1000, 43);
  ASSERT_EQ(a.size(), 1000u);
  int same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].w, b[i].w);
    EXPECT_EQ(a[i].z, b[i].z);
    EXPECT_NEAR(dot(a[i], a[i]), 1.0, 1e-14);
    EXPECT_GE(a[i].w, 0.0);
    same += a[i].w == c[i].w;
  }
  EXPECT_EQ(same, 0);
  EXPECT_TRUE(random_orientations(0, 1).empty());
}

// Fixed seeds, so these pass or fail deterministically. The thresholds sit far out in the
// tails (KS: sqrt(n) D > 2.5 has probability 4e-6; moments: more than 5 standard errors),
// and the naive Euler sampler lands far beyond them (measured: KS 9x, moments 30x).
TEST(Orientations, RandomFollowHaarMeasure) {
  constexpr std::size_t n = 100000;
  const double ks_limit = 2.5 / std::sqrt(static_cast<double>(n));
  const auto qs = random_orientations(n, 7);
  const double d = ks_haar_angle(qs);
  const auto [e1, e2] = moment_errors(qs);
  std::cout << "Shoemake: KS D = " << d << " (limit " << ks_limit << "), max |E R_ij| = " << e1
            << ", max |E R_ij^2 - 1/3| = " << e2 << "\n";
  EXPECT_LT(d, ks_limit);
  EXPECT_LT(e1, 0.01);   // standard error 1/sqrt(3n) = 0.0018
  EXPECT_LT(e2, 0.005);  // standard error sqrt((1/5 - 1/9)/n) = 0.00094

  const auto bad = naive_euler(n, 7);
  const double d_bad = ks_haar_angle(bad);
  const auto [b1, b2] = moment_errors(bad);
  std::cout << "naive Euler: KS D = " << d_bad << ", max |E R_ij^2 - 1/3| = " << b2 << "\n";
  EXPECT_GT(d_bad, 5 * ks_limit);
  EXPECT_GT(b2, 20 * 0.005);
}

TEST(Orientations, ReferenceSetsAreDeterministicUnitCanonicalAndBalanced) {
  for (std::size_t m : {1u, 2u, 7u, 1000u}) {
    const auto a = reference_orientations(m), b = reference_orientations(m);
    ASSERT_EQ(a.size(), m);
    for (std::size_t i = 0; i < m; ++i) {
      EXPECT_EQ(a[i].x, b[i].x);
      EXPECT_NEAR(dot(a[i], a[i]), 1.0, 1e-14);
      EXPECT_GE(a[i].w, 0.0);
    }
  }
  EXPECT_TRUE(reference_orientations(0).empty());
  // Quasi-uniform: the Haar moments vanish much faster than for a random set of this size.
  const auto [e1, e2] = moment_errors(reference_orientations(10000));
  EXPECT_LT(e1, 0.002);
  EXPECT_LT(e2, 0.002);
}

TEST(Orientations, ReferenceSetsHaveNoNearDuplicates) {
  // q and -q are the same rotation, so a good set on S^3 could still hold near-duplicate
  // rotations; the closest pair must stay a sizeable fraction of the covering bound.
  constexpr std::size_t m = 2000;
  const auto refs = reference_orientations(m);
  double closest = pi;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = i + 1; j < m; ++j)
      closest = std::min(closest, angle_between(refs[i], refs[j]));
  const double bound = covering_radius_lower_bound(m);
  std::cout << "M = " << m << ": closest pair " << closest * deg << " deg, covering bound "
            << bound * deg << " deg\n";
  EXPECT_GT(closest, 0.5 * bound);
}

TEST(Orientations, CoveringRadiusBound) {
  for (std::size_t m : {1u, 10u, 1000u, 100000u, 10000000u}) {
    const double r = covering_radius_lower_bound(m);
    EXPECT_NEAR(static_cast<double>(m) * (r - std::sin(r)), pi, 1e-9);
  }
  EXPECT_NEAR(covering_radius_lower_bound(1), pi, 1e-12);  // one rotation: all of SO(3)
  const double r = covering_radius_lower_bound(10000000);
  EXPECT_NEAR(r / std::cbrt(6 * pi / 1e7), 1.0, 1e-4);  // small-ball limit r^3 / 6
  EXPECT_THROW(covering_radius_lower_bound(0), spire::Error);
}

TEST(Orientations, CoveringRadiusOfItselfIsZero) {
  const auto refs = reference_orientations(500);
  std::vector<Quaternion> flipped;
  for (const auto& q : refs) flipped.push_back({-q.w, -q.x, -q.y, -q.z});
  const Coverage c = covering_radius(refs, flipped);
  EXPECT_LT(c.max_angle, 1e-7);
  // A single probe: its nearest reference by brute force with angle_between.
  const Quaternion p = random_orientations(1, 9)[0];
  double nearest = pi;
  for (const auto& q : refs) nearest = std::min(nearest, angle_between(p, q));
  const Coverage one = covering_radius(refs, std::span<const Quaternion>(&p, 1));
  EXPECT_NEAR(one.max_angle, nearest, 1e-7);
  EXPECT_NEAR(one.mean_angle, nearest, 1e-7);
}

namespace {

// Reference set of size m against 20,000 random probes, beside a random set of the same
// size. Limits: measured ratios to the bound are about 1.4 (refs) and 2.1 (random, seen
// through 20,000 probes), so 1.7 leaves room while any real loss of uniformity breaks it.
void check_coverage(std::size_t m) {
  const auto probes = random_orientations(20000, 2024);
  const Coverage ref = covering_radius(reference_orientations(m), probes);
  const Coverage rnd = covering_radius(random_orientations(m, 77), probes);
  const double bound = covering_radius_lower_bound(m);
  std::cout << "M = " << m << ": covering radius (deg) reference " << ref.max_angle * deg
            << " (mean nearest " << ref.mean_angle * deg << "), random " << rnd.max_angle * deg
            << " (mean nearest " << rnd.mean_angle * deg << "), lower bound " << bound * deg
            << "; reference / bound " << ref.max_angle / bound << ", reference / random "
            << ref.max_angle / rnd.max_angle << "\n";
  testing::Test::RecordProperty("reference_deg", std::to_string(ref.max_angle * deg));
  testing::Test::RecordProperty("reference_mean_deg", std::to_string(ref.mean_angle * deg));
  testing::Test::RecordProperty("random_deg", std::to_string(rnd.max_angle * deg));
  testing::Test::RecordProperty("random_mean_deg", std::to_string(rnd.mean_angle * deg));
  testing::Test::RecordProperty("bound_deg", std::to_string(bound * deg));
  EXPECT_LT(ref.max_angle, 1.7 * bound);
  EXPECT_LT(ref.max_angle, 0.75 * rnd.max_angle);
  EXPECT_LT(ref.mean_angle, rnd.mean_angle);
}

}  // namespace

TEST(Orientations, ReferenceCoverage1e3) { check_coverage(1000); }
TEST(Orientations, ReferenceCoverage1e4) { check_coverage(10000); }
TEST(Orientations, ReferenceCoverage1e5) { check_coverage(100000); }

// The ZYZ Euler angles of orientations.csv give back the quaternion, also at gimbal lock.
TEST(Orientations, EulerZyzRoundTrips) {
  auto qs = random_orientations(2000, 7);
  const auto about_z = [](double t) { return Quaternion{std::cos(t / 2), 0, 0, std::sin(t / 2)}; };
  const Quaternion flip{0, 0, 1, 0};  // 180 degrees about y
  for (double t : {0.0, 0.3, -2.0, pi}) qs.push_back(about_z(t)), qs.push_back(canonical(product(about_z(t), flip)));
  for (const auto& q : qs) {
    const EulerZyz e = euler_zyz(q);
    EXPECT_GE(e.y_deg, 0.0);
    EXPECT_LE(e.y_deg, 180.0);
    for (double z : {e.z1_deg, e.z2_deg}) EXPECT_TRUE(z > -180.0 && z <= 180.0) << z;
    EXPECT_LT(angle_between(q, from_euler_zyz(e)) * deg, 1e-9);
  }
}

// The convention itself: R(q) = Rz(z1) Ry(y) Rz(z2), checked on the matrix of a known case.
TEST(Orientations, EulerZyzConvention) {
  const EulerZyz e{30, 50, -70};
  const Mat3 r = rotation_matrix(from_euler_zyz(e));
  const double a = 30 / deg, b = 50 / deg, c = -70 / deg;
  EXPECT_NEAR(r[2], std::cos(a) * std::sin(b), 1e-12);  // R02
  EXPECT_NEAR(r[5], std::sin(a) * std::sin(b), 1e-12);  // R12
  EXPECT_NEAR(r[8], std::cos(b), 1e-12);                // R22
  EXPECT_NEAR(r[6], -std::sin(b) * std::cos(c), 1e-12); // R20
  EXPECT_NEAR(r[7], std::sin(b) * std::sin(c), 1e-12);  // R21
  const EulerZyz back = euler_zyz(from_euler_zyz(e));
  EXPECT_NEAR(back.z1_deg, 30, 1e-9);
  EXPECT_NEAR(back.y_deg, 50, 1e-9);
  EXPECT_NEAR(back.z2_deg, -70, 1e-9);
}
