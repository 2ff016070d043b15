#pragma once
// Host helpers that the CPU Phaser and the GPU DevicePhaser share: the layout change between
// centred arrays and FFT order, the random start, the blur's transfer function and the
// argument checks of the steps. Header-only; compiled by the .cu files too (without OpenMP,
// where permute runs on one thread).
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <vector>

#include "core/error.hpp"

namespace spire::phasing {

// Per-axis index map between the centred layout (origin at n/2) and FFT order (origin at 0),
// n odd: ifftshift (to_fft_order) or fftshift.
inline std::vector<int> axis_map(int n, bool to_fft_order) {
  std::vector<int> m(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    m[static_cast<std::size_t>(i)] = to_fft_order ? (i + n / 2 + 1) % n : (i + n / 2) % n;
  return m;
}

// out[m(z), m(y), m(x)] = convert(in[z, y, x]) on n^3 arrays, m = axis_map(n, to_fft_order);
// z-planes split over `threads` OpenMP threads where OpenMP is on.
template <typename In, typename Out, typename Convert>
void permute(int n, bool to_fft_order, const In* in, Out* out, [[maybe_unused]] int threads,
             Convert convert) {
  const std::vector<int> m = axis_map(n, to_fft_order);
  const std::int64_t nn = n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y) {
      const In* row = in + nn * (y + nn * z);
      Out* dst = out + nn * (m[y] + nn * m[z]);
      for (int x = 0; x < n; ++x) dst[m[x]] = convert(row[x]);
    }
}

// The same, unconverted, into a new vector.
template <typename V>
std::vector<V> permuted(int n, bool to_fft_order, std::span<const V> in) {
  std::vector<V> out(in.size());
  permute(n, to_fft_order, in.data(), out.data(), 1, [](V v) { return v; });
  return out;
}

// The random start: uniform in [0, 1) where support[i] != 0, else 0, drawn in index order
// (FFT order in both back ends) from one mt19937_64 stream, so that it depends on the seed
// only (not on threads or back end).
template <typename T>
void random_start(std::uint64_t seed, std::span<const std::uint8_t> support, std::span<T> rho) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::size_t i = 0; i < support.size(); ++i) rho[i] = support[i] ? static_cast<T>(u(rng)) : T(0);
}

// The transfer function of a unit-mass periodic Gaussian of `sigma` voxels along one axis of
// n, in FFT order (the 3D one is the product over the axes).
inline std::vector<double> gaussian_transfer(int n, double sigma) {
  std::vector<double> g(static_cast<std::size_t>(n));
  const double c = 2 * std::numbers::pi * std::numbers::pi * sigma * sigma / (static_cast<double>(n) * n);
  for (int j = 0; j < n; ++j) {
    const int k = j <= n / 2 ? j : j - n;
    g[static_cast<std::size_t>(j)] = std::exp(-c * k * k);
  }
  return g;
}

// The steps' argument checks (spire::Error).
inline void require_constraint(double amplitude_norm2) {
  if (!(amplitude_norm2 > 0))
    fail("phasing: no Fourier constraint (set_autocorrelation or set_intensity, nonzero)");
}
inline void check_measured_radius(double radius) {
  if (!(radius > 0)) fail("phasing: the measured radius must be > 0");
}
inline void check_support_arguments(double fraction, double sigma) {
  if (!(fraction > 0 && fraction < 1)) fail("phasing: support fraction must be in (0, 1)");
  if (!(sigma >= 0)) fail("phasing: support blur sigma must be >= 0");
}
inline void check_shrinkwrap_arguments(double sigma, double fraction) {
  if (!(fraction > 0 && fraction < 1)) fail("phasing: shrinkwrap fraction must be in (0, 1)");
  if (!(sigma >= 0)) fail("phasing: shrinkwrap sigma must be >= 0");
}
inline void check_beta(double beta) {
  if (!(beta > 0 && beta <= 1)) fail("phasing: HIO beta must be in (0, 1]");
}

}  // namespace spire::phasing
