// Alignment by FFT cross-correlation: a shifted copy and a shifted, inverted copy come back
// exactly, with the right hand; a sub-voxel shift is recovered by the refinement.
#include <gtest/gtest.h>

#include <numbers>

#include "maps.hpp"
#include "resolution/align.hpp"

using namespace spire::resolution;
using namespace spire::resolution::test;

namespace {

std::vector<double> shifted_copy(int n, const std::vector<double>& m, int sx, int sy, int sz,
                                 bool invert) {
  auto w = [n](int i) { return ((i % n) + n) % n; };
  const int c2 = 2 * (n / 2);
  std::vector<double> out(m.size());
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const int xs = invert ? w(c2 - x) : x, ys = invert ? w(c2 - y) : y, zs = invert ? w(c2 - z) : z;
        out[w(x + sx) + n * (w(y + sy) + n * w(z + sz))] = m[xs + n * (ys + n * zs)];
      }
  return out;
}

// m(r - shift) by a Fourier phase ramp (odd n: stays real).
std::vector<double> fourier_shifted(int n, const std::vector<double>& m, std::array<double, 3> s) {
  auto w = spire::aligned_zeros<std::complex<double>>(m.size());
  spire::FftPlan3<double> fwd(n, n, n, -1, w.get(), 1, spire::Planning::estimate);
  spire::FftPlan3<double> bwd(n, n, n, +1, w.get(), 1, spire::Planning::estimate);
  for (std::size_t i = 0; i < m.size(); ++i) w[i] = m[i];
  fwd.execute(w.get());
  auto f = [n](int j) { return j <= n / 2 ? j : j - n; };
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        w[x + n * (y + n * z)] *=
            std::polar(1.0 / static_cast<double>(m.size()),
                       -2 * std::numbers::pi * (f(x) * s[0] + f(y) * s[1] + f(z) * s[2]) / n);
  bwd.execute(w.get());
  std::vector<double> out(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) out[i] = w[i].real();
  return out;
}

// A smooth random map: no symmetry, so only the true shift and hand match.
std::vector<double> smooth(int n) {
  return filtered(n, white(n, 9), [](double k) { return std::exp(-k * k / 18); });
}

}  // namespace

TEST(Align, RecoversShiftedCopy) {
  const int n = 31;
  const auto ref = smooth(n);
  const auto moved = shifted_copy(n, ref, 4, -7, 11, false);
  const Alignment<double> a = align<double>(n, moved, ref, false);
  EXPECT_FALSE(a.inverted);
  EXPECT_EQ(a.shift, (std::array<double, 3>{-4, 7, -11}));
  EXPECT_NEAR(a.correlation, 1.0, 1e-12);
  EXPECT_EQ(a.map, ref);
  // The refinement leaves an integer shift alone.
  const Alignment<double> b = align<double>(n, moved, ref);
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(b.shift[d], a.shift[d], 1e-9);
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(b.map[i], ref[i], 1e-9);
}

TEST(Align, RefinesSubvoxelShift) {
  const int n = 31;
  const auto ref = smooth(n);
  const auto moved = fourier_shifted(n, ref, {2.3, -1.6, 0.4});
  const Alignment<double> whole = align<double>(n, moved, ref, false);
  const Alignment<double> a = align<double>(n, moved, ref);
  EXPECT_NEAR(a.shift[0], -2.3, 0.15);
  EXPECT_NEAR(a.shift[1], 1.6, 0.15);
  EXPECT_NEAR(a.shift[2], -0.4, 0.15);
  EXPECT_GT(a.correlation, 0.995);
  EXPECT_GT(a.correlation, whole.correlation);
  std::printf("correlation: integer shift %.4f, refined %.5f\n", whole.correlation, a.correlation);
}

TEST(Align, RecoversShiftedInvertedCopy) {
  const int n = 31;
  const auto ref = smooth(n);
  const auto moved = shifted_copy(n, ref, -3, 5, 9, true);
  const Alignment<double> a = align<double>(n, moved, ref, false);
  EXPECT_TRUE(a.inverted);
  EXPECT_NEAR(a.correlation, 1.0, 1e-12);
  EXPECT_EQ(a.map, ref);
  const auto f = std::vector<float>(moved.begin(), moved.end());
  const auto rf = std::vector<float>(ref.begin(), ref.end());
  const Alignment<float> af = align<float>(n, f, rf, false);
  EXPECT_TRUE(af.inverted);
  EXPECT_EQ(af.map, rf);
}

TEST(Align, CorrelationOfConstantIsZero) {
  const std::vector<double> a(27, 1.0), b(27, 2.0);
  EXPECT_EQ(correlation<double>(a, b), 0.0);
}
