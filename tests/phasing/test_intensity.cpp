// intensity_of: Re FFT of an autocorrelation, centred, against the direct sum
// I(k) = Re sum_r A(r) exp(-2 pi i k.r / n), r and k counted from the centre voxel n/2.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "phasing/phasing.hpp"

using namespace spire::phasing;

namespace {

template <typename T>
void check_against_direct_sum(int n, double tolerance) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(n));
  std::uniform_real_distribution<double> u(-1, 1);
  const std::size_t size = static_cast<std::size_t>(n) * n * n;
  std::vector<T> a(size);
  for (auto& v : a) v = static_cast<T>(u(rng));  // not centrosymmetric: the real part matters
  const auto got = intensity_of<T>(n, a, 1, spire::Planning::estimate);
  ASSERT_EQ(got.size(), size);
  const int c = n / 2;
  double max_error = 0, max_value = 0;
  for (int kz = 0; kz < n; ++kz)
    for (int ky = 0; ky < n; ++ky)
      for (int kx = 0; kx < n; ++kx) {
        double sum = 0;
        for (int z = 0; z < n; ++z)
          for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
              const double phase = -2 * std::numbers::pi *
                                   ((kx - c) * (x - c) + (ky - c) * (y - c) + (kz - c) * (z - c)) / n;
              sum += static_cast<double>(a[static_cast<std::size_t>(x + n * (y + n * z))]) * std::cos(phase);
            }
        const double g = got[static_cast<std::size_t>(kx + n * (ky + n * kz))];
        max_error = std::max(max_error, std::abs(g - sum));
        max_value = std::max(max_value, std::abs(sum));
      }
  EXPECT_LT(max_error / max_value, tolerance) << "n = " << n;
}

}  // namespace

TEST(Intensity, MatchesTheDirectSumDouble) {
  check_against_direct_sum<double>(5, 1e-13);
  check_against_direct_sum<double>(9, 1e-13);
}

TEST(Intensity, MatchesTheDirectSumFloat) {
  check_against_direct_sum<float>(5, 1e-5);
  check_against_direct_sum<float>(9, 1e-5);
}

// A delta at the centre has a flat intensity; a point pair at +-r is 2 cos(2 pi k.r / n).
TEST(Intensity, KnownTransforms) {
  const int n = 7, c = n / 2;
  std::vector<double> a(static_cast<std::size_t>(n * n * n), 0.0);
  a[static_cast<std::size_t>(c + n * (c + n * c))] = 2.0;
  for (double v : intensity_of<double>(n, a)) EXPECT_NEAR(v, 2.0, 1e-14);
  std::fill(a.begin(), a.end(), 0.0);
  a[static_cast<std::size_t>(c + 1 + n * (c + n * c))] = 1.0;
  a[static_cast<std::size_t>(c - 1 + n * (c + n * c))] = 1.0;
  const auto I = intensity_of<double>(n, a);
  for (int kx = 0; kx < n; ++kx)
    EXPECT_NEAR(I[static_cast<std::size_t>(kx + n * (2 + n * 5))], 2 * std::cos(2 * std::numbers::pi * (kx - c) / n), 1e-14);
  EXPECT_THROW(intensity_of<double>(n, std::vector<double>(10)), spire::Error);
}
