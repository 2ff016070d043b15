// The guru-interface FFT plans (FftPlanReal, FftPlanMany) against direct DFTs: a 3D r2c
// and its c2r, and strided batches of 1D transforms, in float and double.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "core/fft.hpp"

using spire::FftDims;

namespace {

template <typename T>
class FftTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(FftTest, Precisions);

template <typename T>
double tolerance() {
  return sizeof(T) == 4 ? 2e-5 : 1e-12;
}

std::vector<double> random_values(std::size_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> v(size);
  for (double& e : v) e = g(rng);
  return v;
}

// sum_l x(l) exp(sign 2 pi i k.l / N) over an (nz, ny, nx) real array, x fastest.
std::complex<double> dft3(const std::vector<double>& x, int nz, int ny, int nx, int kz, int ky, int kx, int sign) {
  std::complex<double> s = 0;
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int w = 0; w < nx; ++w) {
        const double phase = 2 * std::numbers::pi * sign *
                             (static_cast<double>(kz * z) / nz + static_cast<double>(ky * y) / ny +
                              static_cast<double>(kx * w) / nx);
        s += x[static_cast<std::size_t>(w + nx * (y + ny * z))] * std::polar(1.0, phase);
      }
  return s;
}

}  // namespace

TYPED_TEST(FftTest, RealThreeDimensionalMatchesDirectDftAndRoundTrips) {
  using T = TypeParam;
  const int nz = 5, ny = 6, nx = 9, hx = nx / 2 + 1;  // odd last dimension: hx = 5
  const std::vector<double> xd = random_values(static_cast<std::size_t>(nz * ny * nx), 1);
  auto real = spire::aligned_zeros<T>(xd.size()), back = spire::aligned_zeros<T>(xd.size());
  auto half = spire::aligned_zeros<std::complex<T>>(static_cast<std::size_t>(nz * ny * hx));
  const FftDims r2c = {{nz, ny * nx, ny * hx}, {ny, nx, hx}, {nx, 1, 1}};
  const FftDims c2r = {{nz, ny * hx, ny * nx}, {ny, hx, nx}, {nx, 1, 1}};
  spire::FftPlanReal<T> forward(r2c, {}, real.get(), half.get(), 1, spire::Planning::estimate);
  spire::FftPlanReal<T> backward(c2r, {}, half.get(), back.get(), 2, spire::Planning::estimate);
  for (std::size_t i = 0; i < xd.size(); ++i) real[i] = static_cast<T>(xd[i]);
  forward.execute(real.get(), half.get());
  double err = 0, scale = 0;
  for (int kz = 0; kz < nz; ++kz)
    for (int ky = 0; ky < ny; ++ky)
      for (int kx = 0; kx < hx; ++kx) {
        const std::complex<double> e = dft3(xd, nz, ny, nx, kz, ky, kx, -1);
        const std::complex<T> g = half[static_cast<std::size_t>(kx + hx * (ky + ny * kz))];
        err = std::max(err, std::abs(std::complex<double>(g.real(), g.imag()) - e));
        scale = std::max(scale, std::abs(e));
      }
  EXPECT_LT(err / scale, tolerance<T>());
  for (std::size_t i = 0; i < xd.size(); ++i) EXPECT_EQ(real[i], static_cast<T>(xd[i])) << "r2c kept its input";
  backward.execute(half.get(), back.get());  // unnormalised: N x
  const double N = nz * ny * nx;
  double rt = 0;
  for (std::size_t i = 0; i < xd.size(); ++i) rt = std::max(rt, std::abs(back[i] / N - xd[i]));
  EXPECT_LT(rt, 10 * tolerance<T>());
  EXPECT_THROW(forward.execute(half.get(), back.get()), spire::Error);
}

TYPED_TEST(FftTest, StridedBatchesMatchDirectDft) {
  using T = TypeParam;
  // Columns of a (rows = 12) x (cols = 7) complex array padded to a row stride of 8, only the
  // first 3 of 4 planes (plane stride 12 * 8): transforms along the rows index, into a
  // compact (3, 12, 7) output.
  const int rows = 12, cols = 7, stride = 8, planes = 3;
  const std::size_t in_size = static_cast<std::size_t>(4 * rows * stride), out_size = static_cast<std::size_t>(planes * rows * cols);
  const std::vector<double> re = random_values(in_size, 2), im = random_values(in_size, 3);
  auto in = spire::aligned_zeros<std::complex<T>>(in_size), out = spire::aligned_zeros<std::complex<T>>(out_size);
  const FftDims dims = {{rows, stride, cols}};
  const FftDims loops = {{planes, rows * stride, rows * cols}, {cols, 1, 1}};
  for (int sign : {-1, +1}) {
    spire::FftPlanMany<T> plan(dims, loops, sign, in.get(), out.get(), 1, spire::Planning::estimate);
    for (std::size_t i = 0; i < in_size; ++i) in[i] = {static_cast<T>(re[i]), static_cast<T>(im[i])};
    plan.execute(in.get(), out.get());
    double err = 0;
    for (int p = 0; p < planes; ++p)
      for (int c = 0; c < cols; ++c)
        for (int k = 0; k < rows; ++k) {
          std::complex<double> e = 0;
          for (int r = 0; r < rows; ++r) {
            const std::size_t i = static_cast<std::size_t>(c + stride * (r + rows * p));
            e += std::complex<double>(re[i], im[i]) * std::polar(1.0, 2 * std::numbers::pi * sign * k * r / rows);
          }
          const std::complex<T> g = out[static_cast<std::size_t>(c + cols * (k + rows * p))];
          err = std::max(err, std::abs(std::complex<double>(g.real(), g.imag()) - e));
        }
    EXPECT_LT(err / rows, tolerance<T>()) << "sign " << sign;
    for (std::size_t i = 0; i < in_size; ++i)
      EXPECT_EQ(in[i], std::complex<T>(static_cast<T>(re[i]), static_cast<T>(im[i]))) << "out of place kept its input";
  }
}
