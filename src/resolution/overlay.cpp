#include "resolution/overlay.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "core/error.hpp"
#include "core/fft.hpp"

namespace spire::resolution {
namespace {

std::array<int, 3> dims(const io::Map& m) { return {m.nx, m.ny, m.nz}; }

// Frequency (cycles per Angstrom) of FFT index k on an axis of m voxels of size v.
double frequency(int k, int m, double v) { return (k <= m / 2 ? k : k - m) / (m * v); }

// map with every Fourier component beyond `cutoff` (1/Angstrom) along some axis removed.
io::Map low_pass(const io::Map& map, double cutoff, int threads) {
  const auto d = dims(map);
  const std::size_t n = map.data.size();
  auto grid = aligned_zeros<std::complex<double>>(n);
  for (std::size_t i = 0; i < n; ++i) grid[i] = map.data[i];
  FftPlan3<double> forward(d[2], d[1], d[0], -1, grid.get(), threads, Planning::estimate);
  FftPlan3<double> inverse(d[2], d[1], d[0], +1, grid.get(), threads, Planning::estimate);
  forward.execute(grid.get());
  const double limit = cutoff * (1 + 1e-9);
  for (int z = 0; z < d[2]; ++z)
    for (int y = 0; y < d[1]; ++y)
      for (int x = 0; x < d[0]; ++x)
        if (std::abs(frequency(x, d[0], map.voxel_size)) > limit ||
            std::abs(frequency(y, d[1], map.voxel_size)) > limit ||
            std::abs(frequency(z, d[2], map.voxel_size)) > limit)
          grid[std::size_t(x) + std::size_t(d[0]) * (std::size_t(y) + std::size_t(d[1]) * std::size_t(z))] = 0;
  inverse.execute(grid.get());
  io::Map out = map;
  for (std::size_t i = 0; i < n; ++i) out.data[i] = static_cast<float>(grid[i].real() / double(n));
  return out;
}

}  // namespace

double sample(const io::Map& map, const std::array<double, 3>& p, double outside) {
  const auto d = dims(map);
  std::array<int, 3> lo{}, hi{};
  std::array<double, 3> t{};
  for (std::size_t a = 0; a < 3; ++a) {
    const double u = (p[a] - map.origin[a]) / map.voxel_size, last = d[a] - 1;
    if (!(u >= -1e-6 && u <= last + 1e-6)) return outside;
    const double c = std::clamp(u, 0.0, last);
    lo[a] = std::min(static_cast<int>(c), std::max(d[a] - 2, 0));
    hi[a] = std::min(lo[a] + 1, d[a] - 1);
    t[a] = c - lo[a];
  }
  const auto at = [&](int x, int y, int z) {
    return double(map.data[std::size_t(x) + std::size_t(d[0]) * (std::size_t(y) + std::size_t(d[1]) * std::size_t(z))]);
  };
  double sum = 0;
  for (int c = 0; c < 8; ++c) {
    const int x = c & 1 ? hi[0] : lo[0], y = c & 2 ? hi[1] : lo[1], z = c & 4 ? hi[2] : lo[2];
    sum += at(x, y, z) * (c & 1 ? t[0] : 1 - t[0]) * (c & 2 ? t[1] : 1 - t[1]) * (c & 4 ? t[2] : 1 - t[2]);
  }
  return sum;
}

double edge_mean(const io::Map& map) {
  const auto d = dims(map);
  double sum = 0;
  std::size_t count = 0;
  for (int z = 0; z < d[2]; ++z)
    for (int y = 0; y < d[1]; ++y)
      for (int x = 0; x < d[0]; ++x)
        if (x == 0 || y == 0 || z == 0 || x == d[0] - 1 || y == d[1] - 1 || z == d[2] - 1) {
          sum += map.data[std::size_t(x) + std::size_t(d[0]) * (std::size_t(y) + std::size_t(d[1]) * std::size_t(z))];
          ++count;
        }
  return count ? sum / double(count) : 0;
}

io::Map resample_onto(const io::Map& map, const io::Map& grid, int threads) {
  if (map.data.size() != std::size_t(map.nx) * std::size_t(map.ny) * std::size_t(map.nz) || map.data.empty())
    fail("resample_onto: the map's data do not match its size");
  if (threads <= 0) threads = omp_get_max_threads();
  const io::Map source =
      map.voxel_size < 0.99 * grid.voxel_size ? low_pass(map, 1 / (2 * grid.voxel_size), threads) : map;
  const double outside = edge_mean(source);
  io::Map out;
  out.nx = grid.nx, out.ny = grid.ny, out.nz = grid.nz;
  out.voxel_size = grid.voxel_size;
  out.origin = grid.origin;
  out.data.resize(std::size_t(out.nx) * std::size_t(out.ny) * std::size_t(out.nz));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int z = 0; z < out.nz; ++z)
    for (int y = 0; y < out.ny; ++y)
      for (int x = 0; x < out.nx; ++x) {
        const std::array<double, 3> p{out.origin[0] + x * out.voxel_size, out.origin[1] + y * out.voxel_size,
                                      out.origin[2] + z * out.voxel_size};
        out.data[std::size_t(x) + std::size_t(out.nx) * (std::size_t(y) + std::size_t(out.ny) * std::size_t(z))] =
            static_cast<float>(sample(source, p, outside));
      }
  return out;
}

double overlay_correlation(const io::Map& a, const io::Map& b, int threads) {
  const io::Map r = resample_onto(b, a, threads);
  const std::size_t n = a.data.size();
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) ma += a.data[i], mb += r.data[i];
  ma /= double(n), mb /= double(n);
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double u = a.data[i] - ma, v = r.data[i] - mb;
    ab += u * v, aa += u * u, bb += v * v;
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

std::array<double, 3> density_centroid(const io::Map& map) {
  const double bg = edge_mean(map);
  const double peak = *std::max_element(map.data.begin(), map.data.end()) - bg;
  std::array<double, 3> c{};
  double w = 0;
  for (int z = 0; z < map.nz; ++z)
    for (int y = 0; y < map.ny; ++y)
      for (int x = 0; x < map.nx; ++x) {
        const double v =
            map.data[std::size_t(x) + std::size_t(map.nx) * (std::size_t(y) + std::size_t(map.ny) * std::size_t(z))] - bg;
        if (!(v > 0.1 * peak)) continue;
        const int i[3] = {x, y, z};
        for (std::size_t a = 0; a < 3; ++a) c[a] += v * (map.origin[a] + i[a] * map.voxel_size);
        w += v;
      }
  if (w > 0)
    for (double& v : c) v /= w;
  return c;
}

io::Map cubic_grid(int n, double voxel, const std::array<double, 3>& centre) {
  io::Map g;
  g.nx = g.ny = g.nz = n;
  g.voxel_size = voxel;
  for (std::size_t a = 0; a < 3; ++a) g.origin[a] = centre[a] - (n / 2) * voxel;
  g.data.assign(std::size_t(n) * std::size_t(n) * std::size_t(n), 0.0f);
  return g;
}

}  // namespace spire::resolution
