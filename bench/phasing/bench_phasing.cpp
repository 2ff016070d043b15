// spire's side of bench/phasing/run: Phaser<T>::run (T float or double) with the default
// Schedule (10 loops of HIO x 25, ER x 50, shrinkwrap; ER x 50: 800 iterations) on an n^3
// grid (default 81), from the random start (seed) on the support from the autocorrelation
// of a synthetic density (five Gaussian blobs, about 0.4 n across), given as its intensity
// (set_intensity). Times the plans (Planning::measure, wisdom cached) and `rounds` runs, wall
// and process CPU seconds; reports the first and last Fourier errors. Only Phaser's public
// interface is used, so the same file builds against earlier spire versions for side-by-side
// figures. With a sixth argument, writes the last run's density there (n^3 raw T, centred,
// x fastest) and its Fourier errors to that path + ".errors" (text), to compare versions.
// Arguments: n threads rounds seed precision [density_path] (defaults 81 0 3 1 float;
// threads 0: all; precision float or double).
// Prints lines for people, then one JSON object.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <string>
#include <vector>

#include "../timing.hpp"
#include "phasing/phasing.hpp"

namespace {

using bench::clock_type;
using bench::since;
using bench::cpu_seconds;

// Blobs at offsets (fractions of n from the centre), widths (fractions of n) and weights,
// each cut to 0 below 1e-3 of its peak.
std::vector<float> synthetic_density(int n) {
  struct Blob {
    double x, y, z, sigma, weight;
  };
  const Blob blobs[] = {{0.0, 0.0, 0.0, 0.05, 1.0},
                        {0.11, 0.02, -0.04, 0.03, 0.8},
                        {-0.05, 0.10, 0.06, 0.04, 0.6},
                        {0.02, -0.09, 0.09, 0.03, 0.9},
                        {-0.08, -0.05, -0.07, 0.025, 0.7}};
  const int c = n / 2;
  std::vector<float> rho(static_cast<std::size_t>(n) * n * n, 0.0f);
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        double v = 0;
        for (const Blob& b : blobs) {
          const double dx = (x - c) / double(n) - b.x, dy = (y - c) / double(n) - b.y, dz = (z - c) / double(n) - b.z;
          const double e = std::exp(-(dx * dx + dy * dy + dz * dz) / (2 * b.sigma * b.sigma));
          if (e > 1e-3) v += b.weight * e;
        }
        rho[static_cast<std::size_t>(x + n * (y + n * z))] = static_cast<float>(v);
      }
  return rho;
}

// |F(k)|^2 of a centred n^3 density by a separable direct DFT in double (k and r counted
// from the centre voxel), made exactly centrosymmetric and rounded to float: the same input
// for every spire version (an FFT in float would differ at its round-off, and the square
// root of that noise floor is a difference in the constraint, not in the phasing).
std::vector<float> intensity_by_dft(int n, const std::vector<float>& rho) {
  const int c = n / 2;
  const std::size_t size = rho.size();
  std::vector<std::complex<double>> a(rho.begin(), rho.end()), b(size), twiddle(static_cast<std::size_t>(n) * n);
  for (int j = 0; j < n; ++j)
    for (int r = 0; r < n; ++r)
      twiddle[static_cast<std::size_t>(j * n + r)] = std::polar(1.0, -2 * std::numbers::pi * (j - c) * (r - c) / n);
  for (std::size_t stride : {std::size_t{1}, std::size_t(n), std::size_t(n) * n}) {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < size; ++i) {
      const std::size_t j = i / stride % static_cast<std::size_t>(n), base = i - j * stride;
      std::complex<double> s = 0;
      for (int r = 0; r < n; ++r) s += a[base + static_cast<std::size_t>(r) * stride] * twiddle[j * n + r];
      b[i] = s;
    }
    a.swap(b);
  }
  std::vector<float> intensity(size);
  for (std::size_t i = 0; i < size; ++i)  // element size-1-i holds -k
    intensity[i] = static_cast<float>((std::norm(a[i]) + std::norm(a[size - 1 - i])) / 2);
  return intensity;
}

struct Args {
  int n = 81, threads = 0, rounds = 3;
  std::uint64_t seed = 1;
  std::string precision = "float", density_path;
};

// The density as raw T (n^3, centred, x fastest) and the Fourier errors as text, one a line.
template <typename T>
bool write_outputs(const std::string& path, const spire::phasing::Result<T>& r) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(r.density.data(), sizeof(T), r.density.size(), f) == r.density.size();
  std::fclose(f);
  std::FILE* e = std::fopen((path + ".errors").c_str(), "w");
  if (!e) return false;
  for (double v : r.fourier_error) std::fprintf(e, "%.17g\n", v);
  std::fclose(e);
  return ok;
}

template <typename T>
int bench(const Args& a) {
  const std::vector<float> truth = synthetic_density(a.n);
  const std::vector<float> intensity = intensity_by_dft(a.n, truth);
  auto t0 = clock_type::now();
  spire::phasing::Phaser<T> phaser(a.n, a.threads, spire::Planning::measure);
  const double plan_s = since(t0);
  phaser.set_intensity(std::vector<T>(intensity.begin(), intensity.end()));
  spire::phasing::Schedule schedule;
  schedule.seed = a.seed;
  std::vector<double> wall, cpu;
  spire::phasing::Result<T> r;
  for (int i = 0; i < a.rounds; ++i) {
    const double c0 = cpu_seconds();
    t0 = clock_type::now();
    r = phaser.run(schedule);
    wall.push_back(since(t0));
    cpu.push_back(cpu_seconds() - c0);
    fmt::print("run {}: {:.3f} s wall, {:.3f} s CPU\n", i + 1, wall.back(), cpu.back());
  }
  if (!a.density_path.empty() && !write_outputs(a.density_path, r)) return 1;
  std::vector<double> sorted = wall;
  std::sort(sorted.begin(), sorted.end());
  fmt::print("n {}, {}, {} threads: plans {:.2f} s; run best {:.3f} s, median {:.3f} s; Fourier error {:.6g} -> {:.6g}\n",
             a.n, a.precision, a.threads, plan_s, sorted.front(), sorted[sorted.size() / 2], r.fourier_error.front(),
             r.fourier_error.back());
  fmt::print(
      "{{\"n\": {}, \"precision\": \"{}\", \"threads\": {}, \"rounds\": {}, \"iterations\": {}, \"plan_s\": {:.3f}, "
      "\"run_best_s\": {:.4f}, \"run_median_s\": {:.4f}, \"run_best_cpu_s\": {:.4f}, \"first_error\": {:.8g}, "
      "\"final_error\": {:.8g}}}\n",
      a.n, a.precision, a.threads, a.rounds, r.fourier_error.size(), plan_s, sorted.front(), sorted[sorted.size() / 2],
      *std::min_element(cpu.begin(), cpu.end()), r.fourier_error.front(), r.fourier_error.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc > 1) a.n = std::atoi(argv[1]);
  if (argc > 2) a.threads = std::atoi(argv[2]);
  if (a.threads <= 0) a.threads = omp_get_max_threads();
  if (argc > 3) a.rounds = std::max(1, std::atoi(argv[3]));
  if (argc > 4) a.seed = std::strtoull(argv[4], nullptr, 10);
  if (argc > 5) a.precision = argv[5];
  if (argc > 6) a.density_path = argv[6];
  if (a.n < 3 || a.n % 2 == 0 || (a.precision != "float" && a.precision != "double")) {
    std::fprintf(stderr, "usage: bench_phasing [n (odd) threads rounds seed float|double density_path]\n");
    return 2;
  }
  return a.precision == "float" ? bench<float>(a) : bench<double>(a);
}
