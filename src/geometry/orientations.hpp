#pragma once
// Rotations as unit quaternions, random and quasi-uniform sets of them, and how well a set
// covers SO(3).
//
// Quaternion q = (w, x, y, z), w first, as SpiniFEL and skopi files store `orientations`.
// rotation_matrix(q) is the active rotation v' = R v = q v q*, row-major 3x3; it is the
// same matrix as skopi's quaternion2rot3d(q) (R[0][1] = 2(xy - wz)).
// q and -q are the same rotation; every generator here returns the canonical sign w >= 0.
// product(a, b) rotates by b first, then by a: R(a b) = R(a) R(b).
//
// Which way a slice is taken (for the slicing stage): a quaternion q describes the particle
// rotated by R(q). Its pattern samples the unrotated molecule's transform at R(q)^T s for
// each reciprocal pixel position s: SpiniFEL's gen_nonuniform_positions uses
// inv(quaternion2rot3d(q)) s. rotate_inverse(q, s) = R(q)^T s = rotate(conjugate(q), s).
//
// Angles are in radians; the distance between two rotations is the angle of a^-1 b,
// 2 acos|<a, b>| in [0, pi].
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace spire::geometry {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  // row-major

struct Quaternion {  // default: the identity
  double w = 1.0, x = 0.0, y = 0.0, z = 0.0;
};

double dot(const Quaternion& a, const Quaternion& b);
Quaternion product(const Quaternion& a, const Quaternion& b);
Quaternion conjugate(const Quaternion& q);
// Unit length; fails on a zero or non-finite quaternion.
Quaternion normalized(const Quaternion& q);
// The same rotation with w >= 0.
Quaternion canonical(const Quaternion& q);

Mat3 rotation_matrix(const Quaternion& q);  // q must be unit
Vec3 rotate(const Quaternion& q, const Vec3& v);          // R(q) v
Vec3 rotate_inverse(const Quaternion& q, const Vec3& v);  // R(q)^T v

// Rotation angle of a^-1 b, in [0, pi]; q and -q give 0. Accurate for small angles too.
double angle_between(const Quaternion& a, const Quaternion& b);

// n rotations uniform (Haar) on SO(3) by Shoemake's method, the same on every platform for
// a given seed (std::mt19937_64 and 53-bit uniform doubles made here).
std::vector<Quaternion> random_orientations(std::size_t n, std::uint64_t seed);

// m quasi-uniform rotations for any m, deterministic: a super-Fibonacci spiral (Alexa,
// CVPR 2022) on the 3-sphere, each point given the canonical sign w >= 0 (half sphere).
std::vector<Quaternion> reference_orientations(std::size_t m);

// Euler angles of R(q) in the ZYZ convention, in degrees: R(q) = Rz(z1) Ry(y) Rz(z2), each
// factor the active right-handed rotation about a fixed (lab) axis: turn by z2 about z, then
// by y about y, then by z1 about z (extrinsic z, y, z; the same as intrinsic z1, y', z2'').
// Ranges: z1, z2 in (-180, 180], y in [0, 180]; where y is 0 or 180 (gimbal lock) z2 = 0.
struct EulerZyz {
  double z1_deg = 0, y_deg = 0, z2_deg = 0;
};
EulerZyz euler_zyz(const Quaternion& q);          // q unit
Quaternion from_euler_zyz(const EulerZyz& angles);  // unit, w >= 0

struct Coverage {
  double max_angle = 0.0;   // covering radius: largest angle from a probe to its nearest ref
  double mean_angle = 0.0;  // mean over probes of the angle to the nearest ref
};
// Brute force over all pairs (OpenMP over probes); the nearest rotation is the one with the
// largest |<q_ref, q_probe>|. With random probes this underestimates the true covering radius.
Coverage covering_radius(std::span<const Quaternion> refs, std::span<const Quaternion> probes);

// Smallest covering radius any m rotations can have: m balls of radius r must cover SO(3).
// The Haar measure of a ball of radius r is (r - sin r) / pi (rotation angle density
// (1 - cos t) / pi on [0, pi]), so r solves m (r - sin r) = pi. About (6 pi / m)^(1/3).
double covering_radius_lower_bound(std::size_t m);

}  // namespace spire::geometry
