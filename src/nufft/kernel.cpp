#include "nufft/kernel.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace spire::nufft {
namespace {

// Nodes and weights of n-point Gauss-Legendre quadrature on [-1, 1] (Newton on P_n).
void gauss_legendre(int n, std::vector<double>& x, std::vector<double>& w) {
  x.resize(n);
  w.resize(n);
  for (int i = 0; i < n; ++i) {
    double z = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1, p1 = z;
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      if (n == 1) p0 = 1, p1 = z;
      dp = n * (z * p1 - p0) / (z * z - 1);
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    x[i] = z;
    w[i] = 2 / ((1 - z * z) * dp * dp);
  }
}

}  // namespace

KernelParams choose_kernel(double tolerance, double upsampling, bool single_precision) {
  // Below these, rounding amplified by the kernel correction 1/psihat dominates: the low
  // upsampling factor's steeper correction costs about one digit in float.
  const bool low_sigma = upsampling < 2.0;
  const double floor_tol = single_precision ? (low_sigma ? 1e-4 : 1e-7) : (low_sigma ? 1e-10 : 1e-15);
  if (!(tolerance > 0) || tolerance >= 1)
    fail("NUFFT tolerance must be in (0, 1), got " + std::to_string(tolerance));
  if (tolerance < floor_tol)
    fail("NUFFT tolerance " + std::to_string(tolerance) + " is below what " +
         (single_precision ? "float" : "double") + " precision can reach with upsampling " +
         std::to_string(upsampling) + " (" + std::to_string(floor_tol) + ")");
  if (!(upsampling >= 1.2 && upsampling <= 2.0))
    fail("NUFFT upsampling factor must be between 1.2 and 2, got " +
         std::to_string(upsampling));
  KernelParams k;
  k.upsampling = upsampling;
  if (upsampling == 2.0) {
    // The ES kernel's error at sigma = 2 falls about tenfold per added grid point and is
    // about 10^(1-w) in 3D; one point more than that keeps the error below the tolerance
    // (the tolerance is a bound, not a target).
    k.width = static_cast<int>(std::ceil(std::log10(100.0 / tolerance) - 1e-9));
    k.width = std::clamp(k.width, 2, 16);
    const double beta_per_point =
        k.width == 2 ? 2.20 : k.width == 3 ? 2.26 : k.width == 4 ? 2.38 : 2.30;
    k.beta = beta_per_point * k.width;
  } else {
    // General sigma: error ~ exp(-pi w sqrt(1 - 1/sigma)).
    k.width = static_cast<int>(
        std::ceil(-std::log(tolerance) / (std::numbers::pi * std::sqrt(1 - 1 / upsampling))));
    k.width = std::clamp(k.width, 2, 16);
    k.beta = 0.97 * std::numbers::pi * (1 - 0.5 / upsampling) * k.width;
  }
  // Degree enough that the polynomial's error sits well below the kernel's own.
  k.degree = std::min(k.width + 3, 19);
  return k;
}

std::int64_t fine_grid_size(std::int64_t modes, double upsampling, int width) {
  auto n = std::max<std::int64_t>(static_cast<std::int64_t>(std::ceil(upsampling * static_cast<double>(modes))),
                                  2 * width);
  for (;; ++n) {
    if (n % 2) continue;
    std::int64_t r = n;
    for (int p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return n;
  }
}

double es_kernel(double z, double beta) {
  if (std::abs(z) >= 1) return 0;
  return std::exp(beta * (std::sqrt(1 - z * z) - 1));
}

std::vector<double> horner_coefficients(const KernelParams& k, int stride) {
  const int w = k.width, deg = k.degree, n = deg + 1;
  std::vector<double> coeff(static_cast<std::size_t>(n) * stride, 0.0);
  // Chebyshev interpolation at n nodes, then conversion to monomials in t; on [-1, 1] and
  // degree <= 19 the monomial form loses well under the kernel's own accuracy.
  std::vector<double> nodes(n);
  for (int j = 0; j < n; ++j) nodes[j] = std::cos(std::numbers::pi * (j + 0.5) / n);
  // Monomial coefficients of T_0..T_deg.
  std::vector<std::vector<double>> cheb(n, std::vector<double>(n, 0.0));
  cheb[0][0] = 1;
  if (n > 1) cheb[1][1] = 1;
  for (int i = 2; i < n; ++i)
    for (int p = 0; p < n; ++p)
      cheb[i][p] = (p > 0 ? 2 * cheb[i - 1][p - 1] : 0) - cheb[i - 2][p];
  for (int m = 0; m < w; ++m) {
    std::vector<double> values(n);
    for (int j = 0; j < n; ++j) {
      const double d = (nodes[j] + 1) / 2;
      values[j] = es_kernel((d + m - w / 2.0) / (w / 2.0), k.beta);
    }
    for (int i = 0; i < n; ++i) {
      double c = 0;
      for (int j = 0; j < n; ++j)
        c += values[j] * std::cos(std::numbers::pi * i * (j + 0.5) / n);
      c *= (i == 0 ? 1.0 : 2.0) / n;
      for (int p = 0; p < n; ++p) coeff[static_cast<std::size_t>(p) * stride + m] += c * cheb[i][p];
    }
  }
  return coeff;
}

double kernel_transform(const KernelParams& k, double omega) {
  // psi(t) = phi(2t/w) on t in [-w/2, w/2]; substitute t = (w/2) z.
  std::vector<double> z, wt;
  gauss_legendre(2 * k.width + 16, z, wt);
  const double half = k.width / 2.0;
  double s = 0;
  for (std::size_t q = 0; q < z.size(); ++q)
    s += wt[q] * es_kernel(z[q], k.beta) * std::cos(omega * half * z[q]);
  return half * s;
}

std::vector<double> kernel_fourier_series(const KernelParams& k, std::int64_t nf,
                                          std::int64_t n_modes) {
  std::vector<double> out(static_cast<std::size_t>(n_modes / 2 + 1));
  for (std::size_t kk = 0; kk < out.size(); ++kk)
    out[kk] = kernel_transform(k, 2 * std::numbers::pi * static_cast<double>(kk) /
                                      static_cast<double>(nf));
  return out;
}

}  // namespace spire::nufft
