#include "simulate/tabulated_transform.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "simulate/form_factors.hpp"
#include "simulate/simulate.hpp"
#include "simulate/transform.hpp"

namespace spire::simulate {
namespace {

// Nodes beyond the stencil's reach: the prefilter's boundary condition perturbs the
// coefficients by a factor |z| = 0.27 less per node inwards, 0.27^10 = 2e-6 at the last used.
constexpr std::int64_t kMargin = 10;

// Interpolation values -> cubic B-spline coefficients along one line, in place: the causal
// and anti-causal recursions with pole z = sqrt(3) - 2 and mirror boundaries (Unser 1999).
void prefilter(std::complex<double>* c, std::int64_t n) {
  const double z = std::sqrt(3.0) - 2;
  std::complex<double> sum = 0;
  double zk = 1;
  for (std::int64_t k = 0; k < std::min<std::int64_t>(n, 30); ++k, zk *= z) sum += zk * c[k];
  c[0] = sum;
  for (std::int64_t k = 1; k < n; ++k) c[k] += z * c[k - 1];
  c[n - 1] = z / (z * z - 1) * (c[n - 1] + z * c[n - 2]);
  for (std::int64_t k = n - 2; k >= 0; --k) c[k] = z * (c[k + 1] - c[k]);
  for (std::int64_t k = 0; k < n; ++k) c[k] *= 6.0;
}

}  // namespace

TabulatedTransform::TabulatedTransform(const std::vector<Atom>& atoms, double s_max, double tolerance,
                                       int threads) {
  if (!(s_max > 0) || !(tolerance > 0)) fail("tabulated transform: s_max and tolerance must be positive");
  const auto moved = centred(atoms);
  double r8 = 0, z2 = 0;
  for (const Atom& a : moved) {
    const double z = a.occupancy * atom_form_factor(a.element, a.charge).atomic_number;
    const double r2 = a.position_angstrom[0] * a.position_angstrom[0] +
                      a.position_angstrom[1] * a.position_angstrom[1] +
                      a.position_angstrom[2] * a.position_angstrom[2];
    r8 += z * z * r2 * r2 * r2 * r2;
    z2 += z * z;
  }
  radius_ = z2 > 0 ? std::pow(r8 / z2, 0.125) : 0;
  // A single atom: any spacing interpolates its smooth form factor; keep a few nodes.
  ds_ = std::min(std::pow(1500 * tolerance, 0.25) / (2 * std::numbers::pi * std::max(radius_, 1.0)), s_max / 4);
  const std::int64_t K = static_cast<std::int64_t>(std::ceil(s_max / ds_)) + 2 + kMargin;
  n_ = 2 * K + 1;
  inv_ds_ = static_cast<float>(1 / ds_);
  offset_ = static_cast<float>(K - 1);
  if (n_ > 1000) fail("tabulated transform: " + std::to_string(n_) + "^3 nodes, too many (tolerance too tight?)");

  // F at the nodes with linear index <= the centre's; the rest are their mirror images
  // (index n^3 - 1 - i is -s).
  const std::int64_t n3 = n_ * n_ * n_, half = n3 / 2 + 1;
  std::vector<float> x(static_cast<std::size_t>(half)), y(x.size()), z(x.size());
  for (std::int64_t i = 0; i < half; ++i) {
    x[i] = static_cast<float>(static_cast<double>(i % n_ - K) * ds_);
    y[i] = static_cast<float>(static_cast<double>((i / n_) % n_ - K) * ds_);
    z[i] = static_cast<float>(static_cast<double>(i / (n_ * n_) - K) * ds_);
  }
  TransformOptions options;
  options.threads = threads;
  MolecularTransform<float> transform(moved, (static_cast<double>(K) + 0.5) * ds_, tolerance, options);
  electrons_ = transform.electrons();
  std::vector<std::complex<float>> F(static_cast<std::size_t>(half));
  transform.evaluate(half, x.data(), y.data(), z.data(), F.data());
  coeff_.resize(static_cast<std::size_t>(2 * n3));
  for (std::int64_t i = 0; i < half; ++i) {
    coeff_[2 * i] = F[i].real();
    coeff_[2 * i + 1] = F[i].imag();
    coeff_[2 * (n3 - 1 - i)] = F[i].real();
    coeff_[2 * (n3 - 1 - i) + 1] = -F[i].imag();
  }

  // The separable prefilter: every line along x, then y, then z, in double.
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  for (std::int64_t stride : {std::int64_t{1}, n_, n_ * n_}) {
#pragma omp parallel num_threads(nt)
    {
      std::vector<std::complex<double>> line(static_cast<std::size_t>(n_));
#pragma omp for schedule(static)
      for (std::int64_t l = 0; l < n_ * n_; ++l) {
        // Line l: the nodes whose index along this axis varies, the other two fixed.
        const std::int64_t start = stride == 1 ? l * n_ : (l / stride) * stride * n_ + l % stride;
        for (std::int64_t k = 0; k < n_; ++k) {
          const float* v = coeff_.data() + 2 * (start + k * stride);
          line[k] = {v[0], v[1]};
        }
        prefilter(line.data(), n_);
        for (std::int64_t k = 0; k < n_; ++k) {
          float* v = coeff_.data() + 2 * (start + k * stride);
          v[0] = static_cast<float>(line[k].real());
          v[1] = static_cast<float>(line[k].imag());
        }
      }
    }
  }
}

void TabulatedTransform::evaluate(std::int64_t n, const float* x, const float* y, const float* z,
                                  std::complex<float>* F) const {
  // Blocks of points: first the stencils' corners and weights in loops over the block that
  // vectorise across points, then per point the 16 runs of 4 coefficients.
  constexpr int B = 64;
  alignas(64) std::int32_t corner[B];
  alignas(64) float w[3][4][B];
  const auto nn = static_cast<std::int32_t>(n_);
  for (std::int64_t first = 0; first < n; first += B) {
    const int m = static_cast<int>(std::min<std::int64_t>(B, n - first));
    const float* s[3] = {x + first, y + first, z + first};
    std::int32_t index[3][B];
    for (int d = 0; d < 3; ++d)
      for (int i = 0; i < m; ++i) {
        const float g = s[d][i] * inv_ds_ + offset_;
        const auto k = static_cast<std::int32_t>(g);  // g >= 0 by the grid's margin: floor
        const float t = g - static_cast<float>(k), t2 = t * t, t3 = t2 * t, v = 1 - t;
        index[d][i] = k;
        // The cubic B-spline at t + 1, t, t - 1, t - 2.
        w[d][0][i] = v * v * v * (1.0f / 6);
        w[d][1][i] = (3 * t3 - 6 * t2 + 4) * (1.0f / 6);
        w[d][2][i] = (-3 * t3 + 3 * t2 + 3 * t + 1) * (1.0f / 6);
        w[d][3][i] = t3 * (1.0f / 6);
      }
    // n_ <= 1000 keeps 2 n^3 within int32.
    for (int i = 0; i < m; ++i) corner[i] = 2 * ((index[2][i] * nn + index[1][i]) * nn + index[0][i]);
    for (int i = 0; i < m; ++i) {
      const float* base = coeff_.data() + corner[i];
      float acc[8] = {};
      for (int c = 0; c < 4; ++c)
        for (int b = 0; b < 4; ++b) {
          const float wyz = w[1][b][i] * w[2][c][i];
          const float* run = base + 2 * (c * n_ + b) * n_;
          for (int e = 0; e < 8; ++e) acc[e] += wyz * run[e];
        }
      float re = 0, im = 0;
      for (int a = 0; a < 4; ++a) {
        re += w[0][a][i] * acc[2 * a];
        im += w[0][a][i] * acc[2 * a + 1];
      }
      F[first + i] = {re, im};
    }
  }
}

}  // namespace spire::simulate
