#pragma once
// Test maps for the resolution tests: white and smooth random maps, Fourier-space filters.
#include <cmath>
#include <complex>
#include <functional>
#include <random>
#include <vector>

#include "core/fft.hpp"

namespace spire::resolution::test {

inline std::vector<double> white(int n, unsigned seed, double sigma = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, sigma);
  std::vector<double> m(static_cast<std::size_t>(n) * n * n);
  for (double& v : m) v = g(rng);
  return m;
}

// |k| of Fourier voxel (x, y, z) in FFT order.
inline double kabs(int n, int x, int y, int z) {
  auto f = [n](int j) { return j <= n / 2 ? j : j - n; };
  return std::sqrt(static_cast<double>(f(x) * f(x) + f(y) * f(y) + f(z) * f(z)));
}

// The map with its transform multiplied by h(|k|) (real and symmetric, so the map stays real).
inline std::vector<double> filtered(int n, const std::vector<double>& m,
                                    const std::function<double(double)>& h) {
  const std::size_t size = m.size();
  auto w = aligned_zeros<std::complex<double>>(size);
  FftPlan3<double> fwd(n, n, n, -1, w.get(), 1, Planning::estimate);
  FftPlan3<double> bwd(n, n, n, +1, w.get(), 1, Planning::estimate);
  for (std::size_t i = 0; i < size; ++i) w[i] = m[i];
  fwd.execute(w.get());
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) w[x + n * (y + n * z)] *= h(kabs(n, x, y, z)) / static_cast<double>(size);
  bwd.execute(w.get());
  std::vector<double> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = w[i].real();
  return out;
}

}  // namespace spire::resolution::test
