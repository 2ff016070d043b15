#pragma once
// Internal to resolution: the sample positions of a rotated grid, trilinear and cubic
// B-spline sampling, shared by rotate_map and the rotation search (which samples into FFT
// buffers).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "geometry/orientations.hpp"

namespace spire::resolution::detail {

// Position sampled for voxel r: p = c + R^T (r - c - shift). Along a row (y, z fixed) p
// moves by the first column of R^T per voxel, so a row costs one start point.
struct RotatedGrid {
  int n;
  double c;
  geometry::Mat3 rt;  // R^T, row-major
  std::array<double, 3> shift;

  RotatedGrid(int n_, const geometry::Quaternion& q, const std::array<double, 3>& s)
      : n(n_), c(n_ / 2), rt{}, shift(s) {
    const auto r = geometry::rotation_matrix(q);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) rt[3 * i + j] = r[3 * j + i];
  }
  // Start of row (y, z) and the step per x.
  std::array<double, 3> row_start(int y, int z) const {
    const double dx = -c - shift[0], dy = y - c - shift[1], dz = z - c - shift[2];
    return {c + rt[0] * dx + rt[1] * dy + rt[2] * dz, c + rt[3] * dx + rt[4] * dy + rt[5] * dz,
            c + rt[6] * dx + rt[7] * dy + rt[8] * dz};
  }
  std::array<double, 3> row_step() const { return {rt[0], rt[3], rt[6]}; }
};

// Positions within this of the box [0, n-1] count as inside (a quarter turn computes
// exact grid points only to rounding).
inline constexpr double edge_slack = 1e-6;

// Trilinear sample of map (n^3, x fastest) at p; 0 outside the box [0, n-1]^3.
template <typename S>
inline double sample_linear(int n, const S* map, const std::array<double, 3>& p) {
  const double hi = n - 1;
  int i[3];
  double t[3];
  for (int d = 0; d < 3; ++d) {
    if (!(p[d] >= -edge_slack && p[d] <= hi + edge_slack)) return 0.0;
    const double v = std::clamp(p[d], 0.0, hi);
    int f = static_cast<int>(v);
    if (f > n - 2) f = n - 2 < 0 ? 0 : n - 2;
    i[d] = f;
    t[d] = v - f;
  }
  const long long nn = n;
  const int x1 = std::min(i[0] + 1, n - 1), y1 = std::min(i[1] + 1, n - 1),
            z1 = std::min(i[2] + 1, n - 1);
  auto at = [&](int x, int y, int z) { return static_cast<double>(map[x + nn * (y + nn * z)]); };
  const double c00 = at(i[0], i[1], i[2]) * (1 - t[0]) + at(x1, i[1], i[2]) * t[0];
  const double c10 = at(i[0], y1, i[2]) * (1 - t[0]) + at(x1, y1, i[2]) * t[0];
  const double c01 = at(i[0], i[1], z1) * (1 - t[0]) + at(x1, i[1], z1) * t[0];
  const double c11 = at(i[0], y1, z1) * (1 - t[0]) + at(x1, y1, z1) * t[0];
  const double c0 = c00 * (1 - t[1]) + c10 * t[1], c1 = c01 * (1 - t[1]) + c11 * t[1];
  return c0 * (1 - t[2]) + c1 * t[2];
}

// Cubic B-spline interpolation coefficients of one line in place (Unser's recursive filter,
// mirror ends: the line continued as ... v1 v0 v1 ... and ... v[n-2] v[n-1] v[n-2] ...).
inline void bspline_line(double* c, int n) {
  if (n < 2) return;
  const double z = std::sqrt(3.0) - 2.0, lambda = (1 - z) * (1 - 1 / z);
  for (int k = 0; k < n; ++k) c[k] *= lambda;
  // Causal start: the mirrored sum, truncated where z^k is below double rounding.
  const int horizon = static_cast<int>(std::ceil(std::log(1e-17) / std::log(std::fabs(z))));
  double sum = c[0];
  if (horizon < n) {
    double zn = z;
    for (int k = 1; k < horizon; ++k, zn *= z) sum += zn * c[k];
  } else {
    double zn = z, z2n = std::pow(z, n - 1);
    const double iz = 1 / z;
    sum = c[0] + z2n * c[n - 1];
    z2n *= z2n * iz;
    for (int k = 1; k < n - 1; ++k, zn *= z, z2n *= iz) sum += (zn + z2n) * c[k];
    sum /= 1 - zn * zn;
  }
  c[0] = sum;
  for (int k = 1; k < n; ++k) c[k] += z * c[k - 1];
  c[n - 1] = z / (z * z - 1) * (z * c[n - 2] + c[n - 1]);
  for (int k = n - 2; k >= 0; --k) c[k] = z * (c[k + 1] - c[k]);
}

// Mirror index into [0, n-1] (period 2(n-1)), matching the prefilter's ends.
inline int mirror(int j, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  j %= period;
  if (j < 0) j += period;
  return j > n - 1 ? period - j : j;
}

// Cubic B-spline weights of the four coefficients i-1 .. i+2 at fraction t of [i, i+1].
inline void bspline_weights(double t, double w[4]) {
  const double u = 1 - t, t2 = t * t, t3 = t2 * t;
  w[0] = u * u * u / 6;
  w[1] = (3 * t3 - 6 * t2 + 4) / 6;
  w[2] = (-3 * t3 + 3 * t2 + 3 * t + 1) / 6;
  w[3] = t3 / 6;
}

template <typename S>
inline double sample_cubic(int n, const S* coef, const std::array<double, 3>& p) {
  const double hi = n - 1;
  int idx[3][4];
  double w[3][4];
  for (int d = 0; d < 3; ++d) {
    if (!(p[d] >= -edge_slack && p[d] <= hi + edge_slack)) return 0.0;
    const double v = std::clamp(p[d], 0.0, hi);
    const int f = static_cast<int>(v);
    bspline_weights(v - f, w[d]);
    for (int k = 0; k < 4; ++k) idx[d][k] = mirror(f - 1 + k, n);
  }
  const long long nn = n;
  double sum = 0;
  for (int kz = 0; kz < 4; ++kz) {
    double sy = 0;
    for (int ky = 0; ky < 4; ++ky) {
      const S* row = coef + nn * (idx[1][ky] + nn * idx[2][kz]);
      double sx = 0;
      for (int kx = 0; kx < 4; ++kx) sx += w[0][kx] * row[idx[0][kx]];
      sy += w[1][ky] * sx;
    }
    sum += w[2][kz] * sy;
  }
  return sum;
}

// B-spline coefficients of an n^3 map in place: the line filter along x, y and z.
inline void bspline_coefficients(int n, double* c, int threads) {
  const long long nn = n;
  for (int axis = 0; axis < 3; ++axis) {
    const long long stride = axis == 0 ? 1 : axis == 1 ? nn : nn * nn;
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> line(static_cast<std::size_t>(n));
#pragma omp for schedule(static)
      for (long long l = 0; l < nn * nn; ++l) {
        // Line l: the other two coordinates (a, b), the first varying fastest.
        const long long a = l % nn, b = l / nn;
        const long long base = axis == 0 ? nn * (a + nn * b) : axis == 1 ? a + nn * nn * b : a + nn * b;
        for (int k = 0; k < n; ++k) line[k] = c[base + k * stride];
        bspline_line(line.data(), n);
        for (int k = 0; k < n; ++k) c[base + k * stride] = line[k];
      }
    }
  }
}

}  // namespace spire::resolution::detail
