#include "geometry/orientations.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <string>

#include "core/error.hpp"

namespace spire::geometry {

double dot(const Quaternion& a, const Quaternion& b) {
  return a.w * b.w + a.x * b.x + a.y * b.y + a.z * b.z;
}

Quaternion product(const Quaternion& a, const Quaternion& b) {
  return {a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
          a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
          a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
          a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w};
}

Quaternion conjugate(const Quaternion& q) { return {q.w, -q.x, -q.y, -q.z}; }

Quaternion normalized(const Quaternion& q) {
  const double n = std::sqrt(dot(q, q));
  if (!(n > 0.0) || !std::isfinite(n))
    fail("cannot normalise quaternion (" + std::to_string(q.w) + ", " + std::to_string(q.x) +
         ", " + std::to_string(q.y) + ", " + std::to_string(q.z) + ")");
  return {q.w / n, q.x / n, q.y / n, q.z / n};
}

Quaternion canonical(const Quaternion& q) {
  return q.w < 0.0 ? Quaternion{-q.w, -q.x, -q.y, -q.z} : q;
}

Mat3 rotation_matrix(const Quaternion& q) {
  const double xx = q.x * q.x, yy = q.y * q.y, zz = q.z * q.z;
  const double xy = q.x * q.y, xz = q.x * q.z, yz = q.y * q.z;
  const double wx = q.w * q.x, wy = q.w * q.y, wz = q.w * q.z;
  return {1 - 2 * (yy + zz), 2 * (xy - wz),     2 * (xz + wy),
          2 * (xy + wz),     1 - 2 * (xx + zz), 2 * (yz - wx),
          2 * (xz - wy),     2 * (yz + wx),     1 - 2 * (xx + yy)};
}

Vec3 rotate(const Quaternion& q, const Vec3& v) {
  const Mat3 r = rotation_matrix(q);
  return {r[0] * v[0] + r[1] * v[1] + r[2] * v[2], r[3] * v[0] + r[4] * v[1] + r[5] * v[2],
          r[6] * v[0] + r[7] * v[1] + r[8] * v[2]};
}

Vec3 rotate_inverse(const Quaternion& q, const Vec3& v) { return rotate(conjugate(q), v); }

double angle_between(const Quaternion& a, const Quaternion& b) {
  // 2 acos|<a,b>| loses half the digits near 0; the half-angle psi between the 4-vectors
  // (sign-aligned) is 2 atan2(|a - b|, |a + b|) to full precision.
  const double s = dot(a, b) < 0.0 ? -1.0 : 1.0;
  const double dw = a.w - s * b.w, dx = a.x - s * b.x, dy = a.y - s * b.y, dz = a.z - s * b.z;
  const double pw = a.w + s * b.w, px = a.x + s * b.x, py = a.y + s * b.y, pz = a.z + s * b.z;
  const double psi = 2.0 * std::atan2(std::sqrt(dw * dw + dx * dx + dy * dy + dz * dz),
                                      std::sqrt(pw * pw + px * px + py * py + pz * pz));
  return 2.0 * psi;
}

namespace {

// 53 random bits -> [0, 1); std::uniform_real_distribution is not the same everywhere.
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double fractional(double v) { return v - std::floor(v); }

}  // namespace

std::vector<Quaternion> random_orientations(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  constexpr double two_pi = 2.0 * std::numbers::pi;
  std::vector<Quaternion> out(n);
  for (auto& q : out) {
    const double u1 = uniform01(rng), u2 = uniform01(rng), u3 = uniform01(rng);
    const double a = std::sqrt(1.0 - u1), b = std::sqrt(u1);
    q = canonical({b * std::cos(two_pi * u3), a * std::sin(two_pi * u2),
                   a * std::cos(two_pi * u2), b * std::sin(two_pi * u3)});
  }
  return out;
}

std::vector<Quaternion> reference_orientations(std::size_t m) {
  // Super-Fibonacci: in Hopf-like coordinates q = (r sin a, r cos a, R sin b, R cos b),
  // r^2 + R^2 = 1, the uniform measure on S^3 is uniform in (r^2, a, b). Point i takes
  // r^2 = (i + 1/2) / m and a, b from two Kronecker sequences with the constants of Alexa
  // (2022): phi = sqrt 2 and psi, the real root > 1 of psi^4 = psi + 4. The points cover the
  // whole sphere; flipping them to w >= 0 keeps them as good a set of rotations (measured:
  // covering radius about 1.4x the bound, where restricting a to [0, pi) to lay them on the
  // half sphere directly gave up to 2x, the constants being tuned for the whole circle).
  constexpr double phi = std::numbers::sqrt2;
  constexpr double psi = 1.533751168755204288118041;
  constexpr double two_pi = 2.0 * std::numbers::pi;
  std::vector<Quaternion> out(m);
  const double md = static_cast<double>(m);
  for (std::size_t i = 0; i < m; ++i) {
    const double s = static_cast<double>(i) + 0.5;
    const double r = std::sqrt(s / md), rc = std::sqrt(1.0 - s / md);
    const double a = two_pi * fractional(s / phi);
    const double b = two_pi * fractional(s / psi);
    out[i] = canonical({r * std::sin(a), r * std::cos(a), rc * std::sin(b), rc * std::cos(b)});
  }
  return out;
}

Coverage covering_radius(std::span<const Quaternion> refs, std::span<const Quaternion> probes) {
  if (refs.empty()) fail("covering_radius: no reference orientations");
  if (probes.empty()) return {};
  // Components in separate arrays so the inner loop vectorises.
  const std::size_t m = refs.size();
  std::vector<double> w(m), x(m), y(m), z(m);
  for (std::size_t j = 0; j < m; ++j) {
    w[j] = refs[j].w;
    x[j] = refs[j].x;
    y[j] = refs[j].y;
    z[j] = refs[j].z;
  }
  const double* pw = w.data();
  const double* px = x.data();
  const double* py = y.data();
  const double* pz = z.data();
  const auto n = static_cast<std::int64_t>(probes.size());
  double max_angle = 0.0, sum_angle = 0.0;
#pragma omp parallel for schedule(static) reduction(max : max_angle) reduction(+ : sum_angle)
  for (std::int64_t i = 0; i < n; ++i) {
    const Quaternion& p = probes[static_cast<std::size_t>(i)];
    double best = 0.0;
#pragma omp simd reduction(max : best)
    for (std::size_t j = 0; j < m; ++j)
      best = std::max(best, std::fabs(p.w * pw[j] + p.x * px[j] + p.y * py[j] + p.z * pz[j]));
    const double angle = 2.0 * std::acos(std::min(best, 1.0));
    max_angle = std::max(max_angle, angle);
    sum_angle += angle;
  }
  return {max_angle, sum_angle / static_cast<double>(n)};
}

EulerZyz euler_zyz(const Quaternion& q) {
  const Mat3 r = rotation_matrix(q);
  constexpr double deg = 180.0 / std::numbers::pi;
  const double sin_y = std::hypot(r[2], r[5]);  // R02 = cos z1 sin y, R12 = sin z1 sin y
  EulerZyz e;
  e.y_deg = std::atan2(sin_y, r[8]) * deg;
  if (sin_y > 1e-12) {
    e.z1_deg = std::atan2(r[5], r[2]) * deg;
    e.z2_deg = std::atan2(r[7], -r[6]) * deg;  // R21 = sin y sin z2, R20 = -sin y cos z2
  } else {  // y = 0: Rz(z1 + z2); y = 180: Rz(z1 - z2) diag(-1, 1, -1); z2 = 0
    e.z1_deg = (r[8] > 0 ? std::atan2(r[3], r[0]) : std::atan2(-r[3], -r[0])) * deg;
  }
  if (e.z1_deg <= -180) e.z1_deg += 360;
  if (e.z2_deg <= -180) e.z2_deg += 360;
  return e;
}

Quaternion from_euler_zyz(const EulerZyz& e) {
  constexpr double rad = std::numbers::pi / 180.0;
  const auto about = [](double angle, int axis) {
    Quaternion q{std::cos(angle / 2), 0, 0, 0};
    (axis == 1 ? q.y : q.z) = std::sin(angle / 2);
    return q;
  };
  return canonical(product(about(e.z1_deg * rad, 2), product(about(e.y_deg * rad, 1), about(e.z2_deg * rad, 2))));
}

double covering_radius_lower_bound(std::size_t m) {
  if (m == 0) fail("covering_radius_lower_bound: m must be positive");
  // r - sin r increases on [0, pi] from 0 to pi; bisect m (r - sin r) = pi.
  const double target = std::numbers::pi / static_cast<double>(m);
  double lo = 0.0, hi = std::numbers::pi;
  for (int k = 0; k < 200 && hi - lo > 1e-15; ++k) {
    const double mid = 0.5 * (lo + hi);
    (mid - std::sin(mid) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace spire::geometry
