// Rotating maps and aligning over rotation. The resampling is checked against index
// permutations (quarter turns carry voxels onto voxels) and against its inverse; the search
// against maps made analytically in a known frame: a sum of Gaussians evaluated at turned,
// moved and mirrored positions, so the truth comes from no code under test.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "geometry/orientations.hpp"
#include "maps.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"
#include "resolution/rotate.hpp"

using namespace spire::resolution;
using namespace spire::resolution::test;
using spire::geometry::Quaternion;

namespace {

constexpr double degree = std::numbers::pi / 180;

Quaternion about(int axis, double angle) {
  Quaternion q{std::cos(angle / 2), 0, 0, 0};
  (axis == 0 ? q.x : axis == 1 ? q.y : q.z) = std::sin(angle / 2);
  return q;
}

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// A molecule-like map: Gaussians (widths 1.3-2.5 voxels unless told) within `radius` of the
// centre. at(p) evaluates it anywhere, p in voxels from the centre.
struct Blob {
  struct G {
    std::array<double, 3> x;
    double width, weight;
  };
  std::vector<G> g;
  Blob(int count, double radius, unsigned seed, double min_width = 1.3, double max_width = 2.5) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1), w(min_width, max_width), a(0.5, 1.5);
    while (static_cast<int>(g.size()) < count) {
      const std::array<double, 3> x{u(rng), u(rng), u(rng)};
      if (x[0] * x[0] + x[1] * x[1] + x[2] * x[2] > 1) continue;
      g.push_back({{radius * x[0], radius * x[1], radius * x[2]}, w(rng), a(rng)});
    }
  }
  double at(const std::array<double, 3>& p) const {
    double v = 0;
    for (const auto& e : g) {
      const double d2 = (p[0] - e.x[0]) * (p[0] - e.x[0]) + (p[1] - e.x[1]) * (p[1] - e.x[1]) +
                        (p[2] - e.x[2]) * (p[2] - e.x[2]);
      v += e.weight * std::exp(-d2 / (2 * e.width * e.width));
    }
    return v;
  }
  // The map whose voxel r holds at(position(r - c)).
  template <typename F>
  std::vector<double> sample(int n, F position) const {
    const int c = n / 2;
    std::vector<double> m(static_cast<std::size_t>(n) * n * n);
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          m[x + n * (y + static_cast<std::size_t>(n) * z)] =
              at(position(std::array<double, 3>{double(x - c), double(y - c), double(z - c)}));
    return m;
  }
};

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

double max_abs(const std::vector<double>& a) { return max_abs_diff(a, std::vector<double>(a.size(), 0.0)); }

}  // namespace

template <typename T>
class Rotate : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Rotate, Precisions);

// A quarter turn about z is the permutation out(x, y, z) = map(c + (y - c), c - (x - c), z)
// (R^T sends (dx, dy) to (dy, -dx)); four of them give the map back, exactly up to rounding
// (the B-spline interpolates its voxels).
TYPED_TEST(Rotate, QuarterTurnsArePermutations) {
  using T = TypeParam;
  const int n = 21, c = n / 2;
  const auto ref = cast<T>(filtered(n, white(n, 3), [](double k) { return std::exp(-k * k / 30); }));
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-11;
  double scale = 0;
  for (T v : ref) scale = std::max(scale, std::fabs(double(v)));
  for (int axis = 0; axis < 3; ++axis) {
    const auto q = about(axis, std::numbers::pi / 2);
    auto m = rotate_map<T>(n, ref, q);
    // Independent reference for the first turn: indices permuted by hand.
    std::vector<T> expect(ref.size());
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
          std::array<int, 3> r{x, y, z}, s = r;
          const int a = (axis + 1) % 3, b = (axis + 2) % 3;  // the turn takes a to b
          s[a] = c + (r[b] - c);
          s[b] = c - (r[a] - c);
          expect[x + n * (y + n * z)] = ref[s[0] + n * (s[1] + n * s[2])];
        }
    for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(m[i], expect[i], tol * scale) << "axis " << axis;
    for (int k = 1; k < 4; ++k) m = rotate_map<T>(n, m, q);
    for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(m[i], ref[i], 4 * tol * scale) << "axis " << axis;
  }
}

// R then R^-1 gives the map back inside the ball the box keeps (cubic: to a small fraction
// of the peak for a smooth map; trilinear loses more).
TYPED_TEST(Rotate, TurnAndBackIsIdentityInside) {
  using T = TypeParam;
  const int n = 33, c = n / 2;
  const Blob blob(12, 8, 5);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const Quaternion q = spire::geometry::random_orientations(1, 7)[0];
  const std::array<double, 3> shift{1.3, -0.6, 2.1};
  const auto there = rotate_map<T>(n, cast<T>(ref), q, shift);
  // Back: out(r) = there(c + R (r - c) + shift) = the rotation by R^-1 with shift -R^T shift.
  const auto s = spire::geometry::rotate_inverse(q, {-shift[0], -shift[1], -shift[2]});
  double worst[2] = {0, 0};
  for (auto interp : {Interpolation::cubic, Interpolation::linear}) {
    const auto back = rotate_map<T>(n, there, spire::geometry::conjugate(q), s, interp);
    double err = 0;
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
          if ((x - c) * (x - c) + (y - c) * (y - c) + (z - c) * (z - c) > (c - 3) * (c - 3)) continue;
          const std::size_t i = x + n * (y + static_cast<std::size_t>(n) * z);
          err = std::max(err, std::fabs(double(back[i]) - ref[i]));
        }
    worst[interp == Interpolation::linear] = err / max_abs(ref);
  }
  std::printf("turn and back: max error inside %.2e (cubic), %.2e (trilinear) of the peak\n", worst[0], worst[1]);
  EXPECT_LT(worst[0], 0.01);
  EXPECT_LT(worst[0], worst[1]);
  // The turned map itself against the analytic one: out(r) = f(R^T (r - c - shift)).
  const auto exact = blob.sample(n, [&](auto p) {
    return spire::geometry::rotate_inverse(q, {p[0] - shift[0], p[1] - shift[1], p[2] - shift[2]});
  });
  EXPECT_LT(max_abs_diff(cast<double>(std::vector<double>(there.begin(), there.end())), exact) / max_abs(ref), 0.01);
}

TEST(Rotate, DownsampleKeepsTheCentre) {
  // A Gaussian at the centre stays at the centre, its peak and integral kept.
  const int n = 41, m = 21;
  Blob g(0, 0, 1);
  g.g.push_back({{0, 0, 0}, 3.0, 1.0});
  const auto fine = g.sample(n, [](auto p) { return p; });
  const auto coarse = downsample<double>(n, fine, m);
  const double scale = double(n) / m;  // coarse voxel in fine voxels
  const auto expect = g.sample(m, [&](auto p) { return std::array<double, 3>{p[0] * scale, p[1] * scale, p[2] * scale}; });
  EXPECT_LT(max_abs_diff(coarse, expect), 1e-3);
  EXPECT_EQ(downsample<double>(n, fine, n), fine);
}

// moved(r) = f(-R0^T (r - c - t0)): the blob turned by R0, moved by t0, then mirrored
// through the centre; plus white noise of the given fraction of the peak.
std::vector<double> turned_moved_mirrored(int n, const Blob& blob, const Quaternion& q0, double noise,
                                          unsigned seed) {
  const std::array<double, 3> t0{2.4, -1.7, 0.8};
  auto moved = blob.sample(n, [&](auto p) {
    const auto v = spire::geometry::rotate_inverse(q0, {p[0] - t0[0], p[1] - t0[1], p[2] - t0[2]});
    return std::array<double, 3>{-v[0], -v[1], -v[2]};
  });
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, noise * max_abs(moved) + 1e-300);
  for (double& v : moved) v += g(rng);
  return moved;
}

template <typename T>
class AlignRotation : public ::testing::Test {};
TYPED_TEST_SUITE(AlignRotation, Precisions);

// Low noise: the search finds the inverse rotation to a fraction of a degree and the hand,
// and the aligned map's FSC against the reference stays above 0.9 to the shell before
// Nyquist (Gaussians of 1-2 voxels, so the top shells hold some power; noise 1e-4 of the
// peak, which a 10x larger noise would already bring down to 0.9 at shell 14 of 18).
TYPED_TEST(AlignRotation, RecoversTurnedMovedMirroredCopy) {
  using T = TypeParam;
  const int n = 37;
  const Blob blob(16, 9, 11, 1.0, 2.0);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const unsigned seed = std::is_same_v<T, float> ? 21 : 22;
  const Quaternion q0 = spire::geometry::random_orientations(1, seed)[0];
  const auto moved = turned_moved_mirrored(n, blob, q0, 1e-4, seed);
  const auto start = std::chrono::steady_clock::now();
  const auto a = align_rotation<T>(n, cast<T>(moved), cast<T>(ref));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The map was turned by R0 (the mirror commutes with turns about c): R = R0^-1 undoes it.
  const double error = spire::geometry::angle_between(a.rotation, spire::geometry::conjugate(q0)) / degree;
  const auto curve = fsc<T>(n, a.map, cast<T>(ref));
  int good = 0;  // shells from 1 on with FSC >= 0.9
  while (good + 1 < static_cast<int>(curve.fsc.size()) && curve.fsc[good + 1] >= 0.9) ++good;
  std::printf("rotation error %.3f deg, inverted %d, shift (%.2f %.2f %.2f), correlation %.5f, "
              "FSC >= 0.9 to shell %d of %d, %.2f s\n",
              error, a.inverted, a.shift[0], a.shift[1], a.shift[2], a.correlation, good, n / 2, seconds);
  EXPECT_TRUE(a.inverted);
  EXPECT_LT(error, 0.5);
  // aligned(r) = h(c + R^T (r - c - s)) with h(p) = f(R0^T (p - c + t0)) is f(r - c) for
  // R = R0^T and s = R0^T t0.
  const auto s = spire::geometry::rotate_inverse(q0, {2.4, -1.7, 0.8});
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(a.shift[d], s[d], 0.05) << "axis " << d;
  EXPECT_GT(a.correlation, 0.9999);
  EXPECT_GE(good, n / 2 - 1);
}

// Noise of 10% of the peak in every voxel (correlation 0.63 with the same noise in the
// reference's frame): the rotation within 2 degrees, the hand right, and the correlation
// no lower than that (the cubic resampling smooths some noise away, so it comes out higher).
TEST(AlignRotationCases, NoisyCopy) {
  const int n = 37;
  const Blob blob(16, 9, 12);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const Quaternion q0 = spire::geometry::random_orientations(1, 23)[0];
  const auto moved = turned_moved_mirrored(n, blob, q0, 0.1, 3);
  // The same noise on the reference's own frame: the best any alignment can do.
  const auto clean = turned_moved_mirrored(n, blob, q0, 0, 3);
  std::vector<double> noise(moved.size()), ideal(ref.size());
  for (std::size_t i = 0; i < moved.size(); ++i) noise[i] = moved[i] - clean[i];
  for (std::size_t i = 0; i < ref.size(); ++i) ideal[i] = ref[i] + noise[i];
  const double best = correlation<double>(ideal, ref);
  const auto a = align_rotation<double>(n, moved, ref);
  const double error = spire::geometry::angle_between(a.rotation, spire::geometry::conjugate(q0)) / degree;
  std::printf("noisy: rotation error %.2f deg, correlation %.4f (ideal %.4f)\n", error, a.correlation, best);
  EXPECT_TRUE(a.inverted);
  EXPECT_LT(error, 2.0);
  EXPECT_GT(a.correlation, best - 0.02);
}

// A small object in a large box (a molecule of 2cex's size in a reconstruction's box): the
// search works on a box cut around each map's content, so the object still spans its grids.
TEST(AlignRotationCases, SmallObjectInLargeBox) {
  const int n = 45;
  const Blob blob(20, 4, 13, 1.0, 1.5);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const Quaternion q0 = spire::geometry::random_orientations(1, 24)[0];
  const auto moved = turned_moved_mirrored(n, blob, q0, 1e-3, 4);
  const auto a = align_rotation<double>(n, moved, ref);
  const double error = spire::geometry::angle_between(a.rotation, spire::geometry::conjugate(q0)) / degree;
  std::printf("small object: rotation error %.3f deg, correlation %.5f\n", error, a.correlation);
  EXPECT_TRUE(a.inverted);
  EXPECT_LT(error, 0.5);
  EXPECT_GT(a.correlation, 0.999);
}

// Maps already in the same frame come back unturned (the identity is in the coarse set).
TEST(AlignRotationCases, SameFrameStaysUnturned) {
  const int n = 33;
  const Blob blob(12, 8, 3);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const auto moved = blob.sample(n, [](auto p) { return std::array<double, 3>{p[0] - 1.5, p[1] + 2, p[2]}; });
  const auto a = align_rotation<double>(n, moved, ref);
  EXPECT_FALSE(a.inverted);
  EXPECT_LT(spire::geometry::angle_between(a.rotation, {}) / degree, 0.5);
  EXPECT_NEAR(a.shift[0], -1.5, 0.1);
  EXPECT_NEAR(a.shift[1], 2.0, 0.1);
  EXPECT_NEAR(a.shift[2], 0.0, 0.1);
  EXPECT_GT(a.correlation, 0.999);
}

// Without trying the inversion, a mirrored copy cannot be matched as well as with it.
TEST(AlignRotationCases, OneHandOnlyWhenAsked) {
  const int n = 33;
  const Blob blob(12, 8, 4);
  const auto ref = blob.sample(n, [](auto p) { return p; });
  const auto mirrored = blob.sample(n, [](auto p) { return std::array<double, 3>{-p[0], -p[1], -p[2]}; });
  RotationSearch both;
  both.orientations = 1000;  // enough for this blob, and half the time
  RotationSearch one_hand = both;
  one_hand.try_inversion = false;
  const auto a = align_rotation<double>(n, mirrored, ref, one_hand);
  const auto b = align_rotation<double>(n, mirrored, ref, both);
  EXPECT_FALSE(a.inverted);
  EXPECT_TRUE(b.inverted);
  EXPECT_GT(b.correlation, 0.999);
  EXPECT_LT(a.correlation, b.correlation - 0.05);
}

TEST(AlignRotationCases, RejectsBadInput) {
  const std::vector<double> a(27, 1.0), b(8, 1.0);
  EXPECT_THROW(align_rotation<double>(3, a, b), spire::Error);
  EXPECT_THROW(align_rotation<double>(3, a, a), spire::Error);  // constant maps
  RotationSearch none;
  none.orientations = 0;
  EXPECT_THROW(align_rotation<double>(3, a, a, none), spire::Error);
}
