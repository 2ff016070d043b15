#include "resolution/rotate.hpp"

#include <omp.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "resolution/sampling.hpp"

namespace spire::resolution {
namespace {

void check_size(const char* what, int n, std::size_t size) {
  const std::int64_t nn = n;
  if (n < 1 || static_cast<std::int64_t>(size) != nn * nn * nn)
    fail(std::string(what) + ": the map must have n^3 = " + std::to_string(nn * nn * nn) +
         " values, got " + std::to_string(size));
}

}  // namespace

template <typename T>
double background(int n, std::span<const T> map) {
  check_size("background", n, map.size());
  const std::int64_t nn = n;
  double sum = 0;
  std::int64_t count = 0;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        if (x == 0 || y == 0 || z == 0 || x == n - 1 || y == n - 1 || z == n - 1) {
          sum += map[x + nn * (y + nn * z)];
          ++count;
        }
  return sum / static_cast<double>(count);
}

template <typename T>
std::vector<T> rotate_map(int n, std::span<const T> map, const geometry::Quaternion& q,
                          std::array<double, 3> shift, Interpolation interpolation,
                          int threads) {
  check_size("rotate_map", n, map.size());
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const std::int64_t nn = n, size = nn * nn * nn;
  const double bg = background<T>(n, map);
  // Background subtracted, so that outside the box (and the B-spline's zero extension) is 0.
  std::vector<double> coef(static_cast<std::size_t>(size));
  for (std::int64_t i = 0; i < size; ++i) coef[i] = map[i] - bg;
  if (interpolation == Interpolation::cubic) detail::bspline_coefficients(n, coef.data(), nt);
  const detail::RotatedGrid grid(n, q, shift);
  const auto step = grid.row_step();
  std::vector<T> out(static_cast<std::size_t>(size));
#pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y) {
      auto p = grid.row_start(y, z);
      T* row = out.data() + nn * (y + nn * z);
      for (int x = 0; x < n; ++x) {
        const std::array<double, 3> px{p[0] + x * step[0], p[1] + x * step[1], p[2] + x * step[2]};
        const double v = interpolation == Interpolation::cubic
                             ? detail::sample_cubic(n, coef.data(), px)
                             : detail::sample_linear(n, coef.data(), px);
        row[x] = static_cast<T>(v + bg);
      }
    }
  return out;
}

template <typename T>
std::vector<T> downsample(int n, std::span<const T> map, int m, int threads, bool taper) {
  check_size("downsample", n, map.size());
  if (m < 1) fail("downsample: the grid size must be positive, got " + std::to_string(m));
  if (m >= n && !taper) return std::vector<T>(map.begin(), map.end());
  m = std::min(m, n);
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const std::int64_t nn = n, mm = m;
  const int cn = n / 2, cm = m / 2;
  auto fine = aligned_zeros<std::complex<double>>(static_cast<std::size_t>(nn * nn * nn));
  auto coarse = aligned_zeros<std::complex<double>>(static_cast<std::size_t>(mm * mm * mm));
  FftPlan3<double> forward(n, n, n, -1, fine.get(), nt, Planning::estimate);
  FftPlan3<double> backward(m, m, m, +1, coarse.get(), nt, Planning::estimate);
  // The centre voxel moved to index 0, so cropping frequencies keeps it in place.
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        fine[x + nn * (y + nn * z)] =
            map[(x + cn) % n + nn * ((y + cn) % n + nn * ((z + cn) % n))];
  forward.execute(fine.get());
  // Frequencies kept: |k| <= h per axis, where both grids have +k and -k.
  const int h = m < n ? (m - 1) / 2 : (n % 2 ? (n - 1) / 2 : n / 2 - 1);
  const double scale = 1.0 / static_cast<double>(nn * nn * nn);
  auto weight = [&](int fx, int fy, int fz) {
    if (!taper) return scale;
    const double rho = std::sqrt(double(fx * fx + fy * fy + fz * fz)) / std::max(h, 1);
    return rho <= 0.5 ? scale : rho >= 1 ? 0.0 : scale * (0.5 + 0.5 * std::cos(2 * std::numbers::pi * (rho - 0.5)));
  };
  auto fi = [n](int f) { return f < 0 ? f + n : f; };
  auto ci = [m](int f) { return f < 0 ? f + m : f; };
  for (int fz = -h; fz <= h; ++fz)
    for (int fy = -h; fy <= h; ++fy)
      for (int fx = -h; fx <= h; ++fx)
        coarse[ci(fx) + mm * (ci(fy) + mm * ci(fz))] =
            fine[fi(fx) + nn * (fi(fy) + nn * fi(fz))] * weight(fx, fy, fz);
  backward.execute(coarse.get());
  std::vector<T> out(static_cast<std::size_t>(mm * mm * mm));
  for (int z = 0; z < m; ++z)
    for (int y = 0; y < m; ++y)
      for (int x = 0; x < m; ++x)
        out[(x + cm) % m + mm * ((y + cm) % m + mm * ((z + cm) % m))] =
            static_cast<T>(coarse[x + mm * (y + mm * z)].real());
  return out;
}

#define SPIRE_ROTATE(T)                                                                        \
  template std::vector<T> rotate_map<T>(int, std::span<const T>, const geometry::Quaternion&, \
                                        std::array<double, 3>, Interpolation, int);           \
  template std::vector<T> downsample<T>(int, std::span<const T>, int, int, bool);                    \
  template double background<T>(int, std::span<const T>);
SPIRE_ROTATE(float)
SPIRE_ROTATE(double)
#undef SPIRE_ROTATE

}  // namespace spire::resolution
