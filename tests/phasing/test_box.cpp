// Phasing in a smaller box (phasing/box.hpp): the cropped autocorrelation of a compact density
// is the intensity sampled at the box's frequencies (against the direct sum over the
// density), crop and pad are inverse placements about the centre, the support radius and box
// rule, and a phasing run in the box finds the density the full grid finds.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "phasing/box.hpp"
#include "phasing/phasing.hpp"

using namespace spire::phasing;

namespace {

// Five Gaussian blobs (width 1 voxel) cut to 0 beyond 2.5 voxels from their centres, the
// centres within radius - 2.5 of the grid's centre: exactly 0 beyond `radius`.
std::vector<double> compact_density(int n, double radius, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-(radius - 2.5), radius - 2.5);
  std::vector<std::array<double, 3>> centres;
  while (centres.size() < 5) {
    const std::array<double, 3> p{u(rng), u(rng), u(rng)};
    if (std::hypot(p[0], p[1], p[2]) <= radius - 2.5) centres.push_back(p);
  }
  std::vector<double> rho(static_cast<std::size_t>(n) * n * n, 0.0);
  const int c = n / 2;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        double v = 0;
        for (const auto& b : centres) {
          const double d2 = (x - c - b[0]) * (x - c - b[0]) + (y - c - b[1]) * (y - c - b[1]) + (z - c - b[2]) * (z - c - b[2]);
          if (d2 < 6.25) v += std::exp(-d2 / 2);
        }
        rho[static_cast<std::size_t>(x + n * (y + n * z))] = v;
      }
  return rho;
}

}  // namespace

// The autocorrelation of a density within 5.5 voxels of the centre of a 31^3 grid (support
// radius 11), cropped to 25^3: its FFT there is |sum_x rho(x) exp(-2 pi i k.x / 25)|^2, the
// intensity at the box's (coarser) frequencies, by the direct sum over the density.
TEST(PhasingBox, CroppedAutocorrelationIsTheCoarselySampledIntensity) {
  const int n = 31, m = 25, c = n / 2, cm = m / 2;
  const auto rho = compact_density(n, 5.5, 3);
  Phaser<double> phaser(n, 1, spire::Planning::estimate);
  const auto A = phaser.autocorrelation_of(rho);
  const auto I = intensity_of<double>(m, crop_centred<double>(A, n, m), 1);
  double worst = 0, largest = 0;
  for (int kz = 0; kz < m; kz += 2)
    for (int ky = 0; ky < m; ky += 3)
      for (int kx = 0; kx < m; ++kx) {
        double re = 0, im = 0;
        for (int z = 0; z < n; ++z)
          for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
              const double v = rho[static_cast<std::size_t>(x + n * (y + n * z))];
              if (v == 0) continue;
              const double phase = -2 * std::numbers::pi *
                                   ((kx - cm) * (x - c) + (ky - cm) * (y - c) + (kz - cm) * (z - c)) / m;
              re += v * std::cos(phase);
              im += v * std::sin(phase);
            }
        const double want = re * re + im * im;
        worst = std::max(worst, std::abs(I[static_cast<std::size_t>(kx + m * (ky + m * kz))] - want));
        largest = std::max(largest, want);
      }
  EXPECT_LT(worst, 1e-10 * largest);
  // Cropped too tightly (the support does not fit: 15 < 2 x 11 + 1), it is not.
  const int small = 15, cs = small / 2;
  const auto J = intensity_of<double>(small, crop_centred<double>(A, n, small), 1);
  double re = 0;
  for (std::size_t i = 0; i < rho.size(); ++i) re += rho[i];
  const double want_zero = re * re;  // k = 0: (sum rho)^2, short of the tail beyond the box
  EXPECT_GT(std::abs(J[static_cast<std::size_t>(cs + small * (cs + small * cs))] - want_zero), 1e-5 * want_zero);
}

TEST(PhasingBox, CropAndPadPlaceTheCentreOnTheCentre) {
  const int n = 9, m = 5;
  std::vector<float> box(static_cast<std::size_t>(m * m * m));
  for (std::size_t i = 0; i < box.size(); ++i) box[i] = static_cast<float>(i + 1);
  const auto grid = pad_centred<float>(box, m, n);
  EXPECT_EQ(grid[static_cast<std::size_t>(4 + n * (4 + n * 4))], box[static_cast<std::size_t>(2 + m * (2 + m * 2))]);
  EXPECT_EQ(grid[static_cast<std::size_t>(2 + n * (3 + n * 6))], box[static_cast<std::size_t>(0 + m * (1 + m * 4))]);
  double outside = 0;
  for (const float v : grid) outside += v;
  for (const float v : box) outside -= v;
  EXPECT_EQ(outside, 0.0);
  EXPECT_EQ(crop_centred<float>(grid, n, m), box);
  EXPECT_THROW(crop_centred<float>(grid, n, 11), spire::Error);  // larger than the grid
  EXPECT_THROW(pad_centred<float>(box, 4, n), spire::Error);      // even
  EXPECT_THROW(crop_centred<float>(box, n, m), spire::Error);     // not n^3 values
}

// The support radius: where the shells' rms falls below 1% of the centre; the box: factors
// 3, 5, 7 only, at least 4 R + 1 (here R = 6 for a support of 10: the box holds it), the
// grid where nothing smaller fits.
TEST(PhasingBox, SupportRadiusAndBoxRule) {
  const int n = 41;
  const auto rho = compact_density(n, 5, 7);
  Phaser<double> phaser(n, 1, spire::Planning::estimate);
  const auto A = phaser.autocorrelation_of(rho);
  const int R = support_radius<double>(A, n);
  EXPECT_GE(R, 5);
  EXPECT_LE(R, 10);  // the density is 0 beyond 5 voxels, its autocorrelation beyond 10
  EXPECT_GE(phasing_box(R, n), 2 * 10 + 1);
  std::vector<double> flat(static_cast<std::size_t>(n) * n * n, 1.0);
  EXPECT_EQ(support_radius<double>(flat, n), n / 2 + 1);
  EXPECT_EQ(phasing_box(11, 81), 45);  // 45 = 3^2 x 5
  EXPECT_EQ(phasing_box(12, 81), 49);  // 49 = 7^2
  EXPECT_EQ(phasing_box(8, 81), 35);   // 33 = 3 x 11: 35 = 5 x 7
  EXPECT_EQ(phasing_box(19, 81), 81);  // 77 = 7 x 11, 79: the grid
  EXPECT_EQ(phasing_box(40, 81), 81);  // more than the grid: the grid
  EXPECT_EQ(phasing_box(0, 81), 5);  // at least 5
}

// One default run in the box found by the rule against one on the whole grid, same seed:
// both recover the density (correlation with it after alignment by the hand is what the
// loop needs; here the density is compact and the Fourier data exact).
TEST(PhasingBox, PhasingInTheBoxFindsTheDensity) {
  const int n = 41;
  const auto rho = compact_density(n, 5, 11);
  Phaser<double> full(n, 1, spire::Planning::estimate);
  const auto A = full.autocorrelation_of(rho);
  const int m = phasing_box(support_radius<double>(A, n), n);
  ASSERT_LT(m, n);
  Phaser<double> boxed(m, 1, spire::Planning::estimate);
  boxed.set_autocorrelation(crop_centred<double>(A, n, m));
  full.set_autocorrelation(A);
  const auto in_box = boxed.run();
  const auto whole = full.run();
  EXPECT_LT(in_box.fourier_error.back(), 0.05);
  EXPECT_LT(in_box.fourier_error.back(), 2 * whole.fourier_error.back() + 0.01);
}

namespace {

// A map's means over the shells of voxels at rounded distance r from the centre, r = 0..n/2.
template <typename T>
std::vector<double> shell_means(const std::vector<T>& A, int n) {
  const int c = n / 2;
  std::vector<double> sum(static_cast<std::size_t>(2 * n), 0.0), count(sum.size(), 0.0);
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const auto r = static_cast<std::size_t>(std::lround(std::hypot(x - c, y - c, z - c)));
        sum[r] += static_cast<double>(A[static_cast<std::size_t>(x + n * (y + n * z))]), count[r] += 1;
      }
  std::vector<double> mean(static_cast<std::size_t>(c + 1));
  for (std::size_t r = 0; r < mean.size(); ++r) mean[r] = sum[r] / count[r];
  return mean;
}

// The first radius whose shell MEAN of A falls below 1% of the centre: the spherically
// averaged autocorrelation's support radius, from the 3D FFT autocorrelation.
int shell_mean_radius(const std::vector<double>& A, int n) {
  const auto mean = shell_means(A, n);
  for (std::size_t r = 1; r < mean.size(); ++r)
    if (std::abs(mean[r]) < 0.01 * mean[0]) return static_cast<int>(r);
  return n / 2 + 1;
}

// The mean intensity |sum_x rho(x) exp(-2 pi i u.x)|^2 over 200 directions (a Fibonacci
// sphere) at |u| = (b + 1/2) du, by the direct sum over the density's nonzero voxels.
std::vector<double> direct_profile(const std::vector<double>& rho, int n, double du, int bins) {
  const int c = n / 2, directions = 200;
  std::vector<std::array<double, 4>> voxels;  // x, y, z, value
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        if (const double v = rho[static_cast<std::size_t>(x + n * (y + n * z))]; v != 0)
          voxels.push_back({double(x - c), double(y - c), double(z - c), v});
  std::vector<double> profile(static_cast<std::size_t>(bins), 0.0);
  for (int b = 0; b < bins; ++b)
    for (int d = 0; d < directions; ++d) {
      const double zz = 1 - (2 * d + 1.0) / directions, rr = std::sqrt(1 - zz * zz);
      const double phi = d * std::numbers::pi * (3 - std::sqrt(5.0)), u = (b + 0.5) * du;
      const std::array<double, 3> k{u * rr * std::cos(phi), u * rr * std::sin(phi), u * zz};
      double re = 0, im = 0;
      for (const auto& p : voxels) {
        const double arg = -2 * std::numbers::pi * (k[0] * p[0] + k[1] * p[1] + k[2] * p[2]);
        re += p[3] * std::cos(arg), im += p[3] * std::sin(arg);
      }
      profile[static_cast<std::size_t>(b)] += (re * re + im * im) / directions;
    }
  return profile;
}

}  // namespace

// The support radius from the intensity's spherical average (what the images give before any
// merging) against the shell means of the 3D FFT autocorrelation of the same density: the
// same radius, in float and double, for a compact density and one twice as wide; a profile
// of zeros has none.
TEST(PhasingBox, SupportRadiusOfTheIntensityProfile) {
  const int n = 41;
  const double du = 1.0 / (4 * n);
  const int bins = 2 * n + 1;  // to |u| = 1/2 and a bin past it
  Phaser<double> phaser(n, 1, spire::Planning::estimate);
  for (const double radius : {5.0, 10.0}) {
    const auto rho = compact_density(n, radius, 5);
    const int expected = shell_mean_radius(phaser.autocorrelation_of(rho), n);
    const auto profile = direct_profile(rho, n, du, bins);
    const std::vector<float> profile_f(profile.begin(), profile.end());
    EXPECT_NEAR(support_radius_of_profile<double>(profile, du, n), expected, 1) << "density radius " << radius;
    EXPECT_NEAR(support_radius_of_profile<float>(profile_f, du, n), expected, 1) << "density radius " << radius;
    EXPECT_GT(expected, radius);  // A is wider than the density
  }
  const std::vector<double> zeros(static_cast<std::size_t>(bins), 0.0);
  EXPECT_EQ(support_radius_of_profile<double>(zeros, du, n), n / 2 + 1);
  EXPECT_THROW(support_radius_of_profile<double>(zeros, 0.0, n), spire::Error);
}

// The autocorrelation made from the intensity profile (the loop's start) against the 3D FFT
// autocorrelation of the density whose intensity the profile averages: their shell means
// agree to 0.5% of the centre value at every radius (in float and double), and the map is 0
// outside its box.
TEST(PhasingBox, ProfileAutocorrelationIsTheSphericalMean) {
  const int n = 41, m = 35, bins = 2 * n + 1;
  const double du = 1.0 / (4 * n);
  Phaser<double> phaser(n, 1, spire::Planning::estimate);
  for (const double radius : {5.0, 8.0}) {
    const auto rho = compact_density(n, radius, 9);
    const auto want = shell_means(phaser.autocorrelation_of(rho), n);
    const auto profile = direct_profile(rho, n, du, bins);
    const std::vector<float> profile_f(profile.begin(), profile.end());
    const auto got = shell_means(profile_autocorrelation<double>(profile, du, n, n), n);
    const auto got_f = shell_means(profile_autocorrelation<float>(profile_f, du, n, n), n);
    for (std::size_t r = 0; r < want.size(); ++r) {
      EXPECT_NEAR(got[r], want[r], 0.005 * want[0]) << "radius " << radius << ", shell " << r;  // 0.15% seen
      EXPECT_NEAR(got_f[r], want[r], 0.005 * want[0]) << "radius " << radius << ", shell " << r;
    }
    EXPECT_GT(want[2], 0.1 * want[0]);  // the shells compared are not all ~0
  }
  const auto boxed = profile_autocorrelation<double>(std::vector<double>(bins, 1.0), du, n, m);
  const int c = n / 2, o = c - m / 2;
  EXPECT_EQ(boxed[static_cast<std::size_t>(o - 1 + n * (c + n * c))], 0.0);  // just outside the box
  EXPECT_NE(boxed[static_cast<std::size_t>(o + n * (c + n * c))], 0.0);      // its first voxel
  EXPECT_THROW(profile_autocorrelation<double>(std::vector<double>(bins, 1.0), du, n, n + 2), spire::Error);
}
