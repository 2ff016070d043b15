// The Phaser's real-to-complex FFTs (half spectrum, kx = 0..n/2) against a plain reference
// with full complex DFTs in double, written from phasing.hpp's contract as the complex-FFT
// Phaser computed it: the Fourier error's half-spectrum weighting (with and without a
// measured radius), the documented symmetrisation of an intensity that is not exactly
// centrosymmetric, and a short run (support from the autocorrelation, HIO, ER, shrinkwrap)
// step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "phasing/phasing.hpp"

using namespace spire::phasing;
using spire::Planning;

namespace {

using cplx = std::complex<double>;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Direct DFT of a centred n^3 array (k and r counted from the centre voxel), separable,
// exponent sign 2 pi i k.r / n, unnormalised.
std::vector<cplx> dft(int n, std::vector<cplx> a, int sign) {
  const int c = n / 2;
  std::vector<cplx> twiddle(static_cast<std::size_t>(n) * n), b(a.size());
  for (int j = 0; j < n; ++j)
    for (int r = 0; r < n; ++r)
      twiddle[static_cast<std::size_t>(j * n + r)] =
          std::polar(1.0, sign * 2 * std::numbers::pi * (j - c) * (r - c) / n);
  for (std::size_t stride : {std::size_t{1}, std::size_t(n), std::size_t(n) * n}) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t j = i / stride % static_cast<std::size_t>(n), base = i - j * stride;
      cplx s = 0;
      for (int r = 0; r < n; ++r) s += a[base + static_cast<std::size_t>(r) * stride] * twiddle[j * n + r];
      b[i] = s;
    }
    a.swap(b);
  }
  return a;
}

std::vector<cplx> dft(int n, const std::vector<double>& a, int sign) {
  return dft(n, std::vector<cplx>(a.begin(), a.end()), sign);
}

// |k|^2 of centred index i.
double k2(int n, std::size_t i) {
  const int c = n / 2, x = static_cast<int>(i % n) - c, y = static_cast<int>(i / n % n) - c,
            z = static_cast<int>(i / n / n) - c;
  return static_cast<double>(x * x + y * y + z * z);
}

// Re of the inverse DFT / n^3 of `spectrum` times the periodic Gaussian's transfer function.
std::vector<double> blurred(int n, std::vector<cplx> spectrum, double sigma) {
  const double c = 2 * std::numbers::pi * std::numbers::pi * sigma * sigma / (double(n) * n);
  for (std::size_t i = 0; i < spectrum.size(); ++i) spectrum[i] *= std::exp(-c * k2(n, i));
  const auto b = dft(n, std::move(spectrum), +1);
  std::vector<double> out(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) out[i] = b[i].real() / static_cast<double>(b.size());
  return out;
}

std::vector<std::uint8_t> above(const std::vector<double>& v, double fraction) {
  const double cut = fraction * *std::max_element(v.begin(), v.end());
  std::vector<std::uint8_t> s(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) s[i] = v[i] > cut;
  return s;
}

// The complex-FFT phasing of phasing.hpp's contract, in double, on centred arrays.
struct Reference {
  int n;
  std::vector<double> amplitude;  // -1: unmeasured
  std::vector<std::uint8_t> support;
  std::vector<double> rho, errors;

  Reference(int n_, const std::vector<double>& intensity, double radius) : n(n_), amplitude(intensity.size()) {
    for (std::size_t i = 0; i < intensity.size(); ++i)
      amplitude[i] = k2(n, i) > radius * radius ? -1.0 : std::sqrt(std::max(intensity[i], 0.0));
  }

  // rho' = Re IDFT of the projection of DFT(rho); appends the Fourier error.
  std::vector<double> project() {
    auto f = dft(n, rho, -1);
    double num = 0, norm = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      const double a = amplitude[i], m = std::abs(f[i]);
      if (a < 0) continue;
      num += (m - a) * (m - a), norm += a * a;
      f[i] = m > 0 ? f[i] * (a / m) : cplx(a, 0);
    }
    errors.push_back(std::sqrt(num / norm));
    const auto g = dft(n, std::move(f), +1);
    std::vector<double> p(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) p[i] = g[i].real() / static_cast<double>(g.size());
    return p;
  }
  void iterate(int iterations, bool positivity, double beta) {  // beta 0: ER
    for (int it = 0; it < iterations; ++it) {
      const auto p = project();
      for (std::size_t i = 0; i < p.size(); ++i)
        rho[i] = support[i] && (!positivity || p[i] >= 0) ? p[i] : beta > 0 ? rho[i] - beta * p[i] : 0.0;
    }
  }
  std::vector<std::uint8_t> support_from_autocorrelation(double fraction, double sigma) const {
    std::vector<cplx> intensity(amplitude.size());
    for (std::size_t i = 0; i < amplitude.size(); ++i) intensity[i] = std::max(amplitude[i], 0.0) * std::max(amplitude[i], 0.0);
    return above(blurred(n, std::move(intensity), sigma), fraction);
  }
  void shrinkwrap(double sigma, double fraction) {
    std::vector<double> magnitude(rho.size());
    for (std::size_t i = 0; i < rho.size(); ++i) magnitude[i] = std::abs(rho[i]);
    support = above(blurred(n, dft(n, magnitude, -1), sigma), fraction);
  }
  // run_schedule's order (schedule.hpp), from `start` on the autocorrelation's support.
  void run(const Schedule& s, const std::vector<double>& start) {
    support = support_from_autocorrelation(s.support_fraction, s.support_sigma);
    rho = start;
    for (int loop = 0; loop < s.loops; ++loop) {
      iterate(s.hio_iterations, s.positivity, s.beta);
      iterate(s.er_iterations, s.positivity, 0.0);
      const double t = s.loops > 1 ? static_cast<double>(loop) / (s.loops - 1) : 1.0;
      shrinkwrap(s.sigma_start * std::pow(s.sigma_end / s.sigma_start, t), s.shrinkwrap_fraction);
    }
    iterate(s.final_er_iterations, s.positivity, 0.0);
  }
};

// Uniform [0, 1) values in T, cast back to double for the reference.
template <typename T>
std::vector<T> uniform(std::size_t size, std::uint64_t seed, double low = 0.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(low, 1.0);
  std::vector<T> v(size);
  for (T& x : v) x = static_cast<T>(u(rng));
  return v;
}

template <typename T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// |DFT rho|^2, made exactly centrosymmetric (element N-1-i is i's mirror -k), in T.
template <typename T>
std::vector<T> intensity_of_density(int n, const std::vector<double>& rho) {
  const auto f = dft(n, rho, -1);
  std::vector<T> intensity(f.size());
  for (std::size_t i = 0; i < f.size(); ++i)
    intensity[i] = static_cast<T>((std::norm(f[i]) + std::norm(f[f.size() - 1 - i])) / 2);
  return intensity;
}

double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
  return std::sqrt(d / s);
}

// One ER step without positivity on the whole grid: the Fourier error and rho' = Re IDFT of
// the projection, for random amplitudes and densities.
template <typename T>
void check_one_er_step(int n, double radius, double tolerance) {
  const std::size_t size = static_cast<std::size_t>(n) * n * n;
  const auto intensity = intensity_of_density<T>(n, as_double(uniform<T>(size, 1)));
  const auto start = uniform<T>(size, 2, -0.5);
  Phaser<T> phaser(n, 1, Planning::estimate);
  phaser.set_measured_radius(radius);
  phaser.set_intensity(intensity);
  phaser.set_density(start);
  phaser.er(1, false);
  Reference ref(n, as_double(intensity), radius);
  ref.support.assign(size, 1);
  ref.rho = as_double(start);
  ref.iterate(1, false, 0.0);
  EXPECT_NEAR(phaser.fourier_errors().front(), ref.errors.front(), tolerance * ref.errors.front());
  EXPECT_LT(relative_l2(as_double(phaser.density()), ref.rho), tolerance);
  std::printf("n %d radius %g: Fourier error %.9g (reference %.9g)\n", n, radius,
              phaser.fourier_errors().front(), ref.errors.front());
}

}  // namespace

TEST(HalfSpectrum, FourierErrorAndProjectionMatchFullDftDouble) {
  for (int n : {9, 15})
    for (double radius : {kInfinity, 3.5}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", radius " + std::to_string(radius));
      check_one_er_step<double>(n, radius, 1e-12);
    }
}

TEST(HalfSpectrum, FourierErrorAndProjectionMatchFullDftFloat) {
  for (int n : {9, 15})
    for (double radius : {kInfinity, 3.5}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", radius " + std::to_string(radius));
      check_one_er_step<float>(n, radius, 1e-5);
    }
}

namespace {

// set_intensity keeps sqrt(max((I(k) + I(-k)) / 2, 0)): an asymmetric intensity (noise of
// 10% per voxel, a few negative values) acts exactly as its symmetrised version does.
template <typename T>
void check_asymmetric_intensity(double tolerance) {
  const int n = 11;
  const std::size_t size = static_cast<std::size_t>(n) * n * n;
  auto asymmetric = intensity_of_density<T>(n, as_double(uniform<T>(size, 3)));
  const auto noise = uniform<T>(size, 4);
  for (std::size_t i = 0; i < size; ++i) asymmetric[i] *= T(0.95) + T(0.1) * noise[i];
  for (std::size_t i : {std::size_t{7}, size / 3, size - 20}) asymmetric[i] = -asymmetric[i];
  std::vector<T> mean(size);
  for (std::size_t i = 0; i < size; ++i) mean[i] = (asymmetric[i] + asymmetric[size - 1 - i]) / T(2);
  const auto start = uniform<T>(size, 5);
  auto errors_and_density = [&](const std::vector<T>& intensity) {
    Phaser<T> phaser(n, 1, Planning::estimate);
    phaser.set_intensity(intensity);
    phaser.set_density(start);
    phaser.er(1, false);
    phaser.hio(2, 0.5, false);
    return std::make_pair(phaser.fourier_errors(), phaser.density());
  };
  const auto got = errors_and_density(asymmetric), symmetrised = errors_and_density(mean);
  EXPECT_EQ(got.first, symmetrised.first);
  EXPECT_EQ(got.second, symmetrised.second);
  Reference ref(n, as_double(mean), kInfinity);
  ref.support.assign(size, 1);
  ref.rho = as_double(start);
  ref.iterate(1, false, 0.0);
  EXPECT_NEAR(got.first.front(), ref.errors.front(), tolerance * ref.errors.front());
}

}  // namespace

TEST(HalfSpectrum, AsymmetricIntensityIsSymmetrisedDouble) { check_asymmetric_intensity<double>(1e-12); }
TEST(HalfSpectrum, AsymmetricIntensityIsSymmetrisedFloat) { check_asymmetric_intensity<float>(1e-5); }

namespace {

// A short default-shaped schedule (2 loops of HIO x 5, ER x 5, shrinkwrap; ER x 5) from a
// random start on the support from the autocorrelation, against the reference's run: same
// supports, densities and Fourier errors to round-off, which HIO amplifies (the complex-FFT
// Phaser before this one was 1.1e-12 off in double, 4e-5 (density) and 1.5e-4 (Fourier
// errors, relative, the last ones small) in float; the real-FFT one 6e-13, 3e-5, 9e-5).
template <typename T>
void check_short_run(double radius, double tolerance) {
  const int n = 15, c = n / 2;
  const std::size_t size = static_cast<std::size_t>(n) * n * n;
  std::vector<double> truth(size, 0.0);  // two blobs, about 7 voxels across
  for (std::size_t i = 0; i < size; ++i) {
    const double x = static_cast<double>(i % n) - c, y = static_cast<double>(i / n % n) - c,
                 z = static_cast<double>(i / n / n) - c;
    truth[i] = std::exp(-(x * x + y * y + z * z)) +
               0.7 * std::exp(-((x - 1.5) * (x - 1.5) + (y + 1) * (y + 1) + (z - 1) * (z - 1)) / 0.8);
    if (truth[i] < 1e-3) truth[i] = 0;
  }
  const auto intensity = intensity_of_density<T>(n, truth);
  const auto start = uniform<T>(size, 6);
  Schedule s;
  s.loops = 2, s.hio_iterations = 5, s.er_iterations = 5, s.final_er_iterations = 5;
  s.recentre = false;
  Phaser<T> phaser(n, 1, Planning::estimate);
  phaser.set_measured_radius(radius);
  phaser.set_intensity(intensity);
  const Result<T> r = phaser.run(s, start);
  Reference ref(n, as_double(intensity), radius);
  ref.run(s, as_double(start));
  EXPECT_EQ(r.support, ref.support);
  std::size_t inside = 0;
  for (std::uint8_t v : r.support) inside += v;
  const double density_difference = relative_l2(as_double(r.density), ref.rho);
  EXPECT_LT(density_difference, tolerance);
  ASSERT_EQ(r.fourier_error.size(), ref.errors.size());
  double error_difference = 0;
  for (std::size_t i = 0; i < ref.errors.size(); ++i)
    error_difference = std::max(error_difference, std::abs(r.fourier_error[i] - ref.errors[i]) / ref.errors[i]);
  EXPECT_LT(error_difference, tolerance);
  std::printf("radius %g: density relative l2 %.3g, Fourier errors %.3g (%.4f -> %.4f), final support %zu\n",
              radius, density_difference, error_difference, ref.errors.front(), ref.errors.back(), inside);
}

}  // namespace

TEST(HalfSpectrum, ShortRunMatchesFullDftReferenceDouble) {
  check_short_run<double>(kInfinity, 1e-11);
  check_short_run<double>(6.0, 1e-11);
}

TEST(HalfSpectrum, ShortRunMatchesFullDftReferenceFloat) {
  check_short_run<float>(kInfinity, 5e-4);
  check_short_run<float>(6.0, 5e-4);
}
