// The decisions made from the tolerance, and the piecewise-polynomial kernel against the
// exact formula.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nufft/kernel.hpp"

using namespace spire::nufft;

TEST(Kernel, WidthGrowsWithDigitsAtSigma2) {
  EXPECT_EQ(choose_kernel(1e-5, 2.0, true).width, 7);
  EXPECT_EQ(choose_kernel(1e-6, 2.0, false).width, 8);
  EXPECT_EQ(choose_kernel(1e-12, 2.0, false).width, 14);
  EXPECT_GT(choose_kernel(1e-5, 1.25, false).width, choose_kernel(1e-5, 2.0, false).width);
}

TEST(Kernel, RejectsImpossibleSettings) {
  EXPECT_THROW(choose_kernel(1e-9, 2.0, true), spire::Error);  // below float precision
  EXPECT_THROW(choose_kernel(1e-5, 1.25, true), spire::Error);
  EXPECT_THROW(choose_kernel(0, 2.0, false), spire::Error);
  EXPECT_THROW(choose_kernel(1e-6, 3.0, false), spire::Error);
}

TEST(Kernel, FineGridIsEvenSmoothAndLargeEnough) {
  for (int n : {1, 2, 7, 10, 33, 81, 128, 200})
    for (double sigma : {2.0, 1.25}) {
      const auto nf = fine_grid_size(n, sigma, 7);
      EXPECT_EQ(nf % 2, 0);
      EXPECT_GE(static_cast<double>(nf), sigma * n);
      EXPECT_GE(nf, 14);
      auto r = nf;
      for (int p : {2, 3, 5, 7})
        while (r % p == 0) r /= p;
      EXPECT_EQ(r, 1) << nf;
    }
  EXPECT_EQ(fine_grid_size(81, 2.0, 6), 162);
}

// The Horner polynomials reproduce the exact kernel far below the requested tolerance.
TEST(Kernel, HornerMatchesExactKernel) {
  for (double tol : {1e-2, 1e-4, 1e-6, 1e-9, 1e-12, 1e-14})
    for (double sigma : {2.0, 1.25}) {
      if (sigma < 2 && tol < 1e-10) continue;
      const KernelParams k = choose_kernel(tol, sigma, false);
      const int stride = 16;
      const auto c = horner_coefficients(k, stride);
      double worst = 0;
      for (int s = 0; s <= 1000; ++s) {
        const double d = (s + 0.5) / 1001.0;  // inside (0, 1): the kernel jumps to 0 at |z| = 1
        const double t = 2 * d - 1;
        for (int m = 0; m < stride; ++m) {
          double v = 0;
          for (int p = k.degree; p >= 0; --p) v = v * t + c[static_cast<std::size_t>(p) * stride + m];
          const double exact = m < k.width ? es_kernel((d + m - k.width / 2.0) / (k.width / 2.0), k.beta) : 0.0;
          worst = std::max(worst, std::abs(v - exact));
        }
      }
      EXPECT_LT(worst, std::max(tol / 10, 1e-14)) << "tol " << tol << " sigma " << sigma << " width " << k.width;
    }
}

// psihat by quadrature against a plain Riemann sum of the smooth kernel.
TEST(Kernel, FourierTransformMatchesFineSum) {
  const KernelParams k = choose_kernel(1e-9, 2.0, false);
  for (double omega : {0.0, 0.3, 1.0, 1.5}) {
    const int n = 200000;
    double s = 0;
    const double h = k.width / static_cast<double>(n);
    for (int i = 0; i < n; ++i) {
      const double t = -k.width / 2.0 + (i + 0.5) * h;
      s += es_kernel(t / (k.width / 2.0), k.beta) * std::cos(omega * t) * h;
    }
    EXPECT_NEAR(kernel_transform(k, omega), s, 1e-8 * std::abs(s)) << omega;
  }
}
