// Slices against the direct sum over the autocorrelation grid, batching, and the rotation
// convention shared with the simulator.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "slicing/slicing.hpp"

using namespace spire;

namespace {

std::vector<std::array<double, 3>> detector_pixels(std::int64_t side) {
  const auto det = geometry::Detector::square(side, 0.08, 0.2);
  return geometry::reciprocal_positions(det, 12398.4198e-10 / 4600);
}

double largest(const std::vector<std::array<double, 3>>& pixels) {
  double m = 0;
  for (const auto& p : pixels) m = std::max(m, std::hypot(p[0], p[1], p[2]));
  return m;
}

// Gaussian random values on an n^3 grid: an autocorrelation as good as any for comparing
// two ways of slicing it.
std::vector<float> random_grid(std::int64_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<float> A(static_cast<std::size_t>(n * n * n));
  for (auto& v : A) v = static_cast<float>(g(rng));
  return A;
}

// The direct sums at pixel s turned by q: the value sum_l A(l) cos(l . x) and its gradient
// in x, -sum_l A(l) l_d sin(l . x), x = pi R^T s / s_ext (slicing.hpp), A on an n^3 grid.
template <typename T>
std::array<double, 4> direct_value_and_gradient(const std::vector<T>& A, std::int64_t n, const geometry::Quaternion& q,
                                                const std::array<double, 3>& pixel, double s_ext) {
  const std::int64_t half = n / 2;
  const auto s = geometry::rotate_inverse(q, pixel);
  const double x[3] = {std::numbers::pi * s[0] / s_ext, std::numbers::pi * s[1] / s_ext, std::numbers::pi * s[2] / s_ext};
  std::array<double, 4> out{0, 0, 0, 0};
  for (std::int64_t i = 0; i < n * n * n; ++i) {
    const double l[3] = {double(i % n - half), double((i / n) % n - half), double(i / (n * n) - half)};
    const double phase = l[0] * x[0] + l[1] * x[1] + l[2] * x[2];
    out[0] += A[i] * std::cos(phase);
    for (int d = 0; d < 3; ++d) out[1 + d] -= A[i] * l[d] * std::sin(phase);
  }
  return out;
}

}  // namespace

template <typename T>
class SlicingTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SlicingTest, Precisions);

TYPED_TEST(SlicingTest, MatchesDirectSumInEveryBatch) {
  using T = TypeParam;
  const std::int64_t n = 15, half = n / 2;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  std::vector<T> A(n * n * n);
  for (auto& v : A) v = static_cast<T>(g(rng));
  const auto pixels = detector_pixels(12);
  const double s_ext = largest(pixels);
  const auto refs = geometry::reference_orientations(7);
  slicing::Options opt;
  opt.batch_size = 3;  // does not divide 7
  opt.tolerance = sizeof(T) == 4 ? 1e-5 : 1e-10;
  slicing::Slicer<T> slicer(refs, pixels, s_ext, n, opt);
  ASSERT_EQ(slicer.n_batches(), 3);
  slicer.set_autocorrelation(A);
  double num = 0, den = 0;
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
    std::vector<T> out(static_cast<std::size_t>(slicer.batch_count(b) * slicer.n_pixels()));
    slicer.slice_batch(b, out.data());
    for (std::int64_t k = 0; k < slicer.batch_count(b); ++k) {
      const auto& q = refs[slicer.batch_first(b) + k];
      for (std::size_t p = 0; p < pixels.size(); p += 5) {
        const auto s = geometry::rotate_inverse(q, pixels[p]);
        const double x = std::numbers::pi * s[0] / s_ext, y = std::numbers::pi * s[1] / s_ext,
                     z = std::numbers::pi * s[2] / s_ext;
        double want = 0;
        for (std::int64_t i = 0; i < n * n * n; ++i) {
          const double l1 = static_cast<double>(i % n - half), l2 = static_cast<double>((i / n) % n - half),
                       l3 = static_cast<double>(i / (n * n) - half);
          want += A[i] * std::cos(l1 * x + l2 * y + l3 * z);
        }
        const double d = out[k * slicer.n_pixels() + static_cast<std::int64_t>(p)] - want;
        num += d * d;
        den += want * want;
      }
    }
  }
  EXPECT_LT(std::sqrt(num / den), 10 * opt.tolerance);
}

// slice_subsets: each orientation at its own subset of a table of positions (here the pixels
// and points off the detector), in one execution, against the direct cosine sum; and equal to
// slice_batch where a subset is every pixel.
TYPED_TEST(SlicingTest, SubsetsMatchTheDirectSum) {
  using T = TypeParam;
  const std::int64_t n = 15, half = n / 2;
  const auto A0 = random_grid(n, 12);
  const std::vector<T> A(A0.begin(), A0.end());
  auto table = detector_pixels(12);
  const double s_ext = largest(table);
  const auto P = static_cast<std::int64_t>(table.size());
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> u(-0.55 * s_ext, 0.55 * s_ext);
  for (int j = 0; j < 50; ++j) table.push_back({u(rng), u(rng), u(rng)});
  const auto refs = geometry::reference_orientations(5);
  slicing::Options opt;
  opt.tolerance = sizeof(T) == 4 ? 1e-5 : 1e-10;
  slicing::Slicer<T> slicer(refs, std::span(table).first(static_cast<std::size_t>(P)), s_ext, n, opt);
  slicer.set_autocorrelation(A);
  // Orientation 0: every pixel; the others: random subsets of the whole table.
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> indices;
  for (std::int64_t p = 0; p < P; ++p) indices.push_back(static_cast<std::int32_t>(p));
  offsets.push_back(P);
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(table.size()) - 1);
  for (std::size_t k = 1; k < refs.size(); ++k) {
    for (int j = 0; j < 40; ++j) indices.push_back(pick(rng));
    offsets.push_back(static_cast<std::int64_t>(indices.size()));
  }
  std::vector<T> out(indices.size());
  slicer.slice_subsets(refs, offsets, indices, table, out.data());
  double num = 0, den = 0;
  for (std::size_t k = 0; k < refs.size(); ++k)
    for (auto j = offsets[k]; j < offsets[k + 1]; ++j) {
      const auto s = geometry::rotate_inverse(refs[k], table[static_cast<std::size_t>(indices[static_cast<std::size_t>(j)])]);
      double want = 0;
      for (std::int64_t i = 0; i < n * n * n; ++i) {
        const double l[3] = {double(i % n - half), double((i / n) % n - half), double(i / (n * n) - half)};
        want += A[static_cast<std::size_t>(i)] * std::cos(std::numbers::pi * (l[0] * s[0] + l[1] * s[1] + l[2] * s[2]) / s_ext);
      }
      const double d = out[static_cast<std::size_t>(j)] - want;
      num += d * d;
      den += want * want;
    }
  EXPECT_LT(std::sqrt(num / den), 10 * opt.tolerance);
  std::vector<T> full(static_cast<std::size_t>(slicer.batch_count(0) * P));
  slicer.slice_batch(0, full.data());
  for (std::int64_t p = 0; p < P; ++p)
    EXPECT_NEAR(out[static_cast<std::size_t>(p)], full[static_cast<std::size_t>(p)], 1e-5 * std::abs(full[0]) + 1e-6);
  // Indices outside the table, offsets that do not cover the indices: errors.
  indices.back() = static_cast<std::int32_t>(table.size());
  EXPECT_THROW(slicer.slice_subsets(refs, offsets, indices, table, out.data()), spire::Error);
  offsets.pop_back();
  EXPECT_THROW(slicer.slice_subsets(refs, offsets, indices, table, out.data()), spire::Error);
}

// The gradient in x against its direct sum, -sum_l A(l) l_d sin(l . x), and the values
// beside it against the direct cosine sum, in every batch.
TYPED_TEST(SlicingTest, GradientsMatchTheDirectSum) {
  using T = TypeParam;
  const std::int64_t n = 15;
  const auto A0 = random_grid(n, 8);
  const std::vector<T> A(A0.begin(), A0.end());
  const auto pixels = detector_pixels(12);
  const double s_ext = largest(pixels);
  const auto refs = geometry::reference_orientations(7);
  slicing::Options opt;
  opt.batch_size = 3;
  opt.tolerance = sizeof(T) == 4 ? 1e-5 : 1e-10;
  opt.keep_points = false;  // the local stage's way
  slicing::Slicer<T> slicer(refs, pixels, s_ext, n, opt);
  slicer.set_autocorrelation(A);
  const std::int64_t P = slicer.n_pixels();
  double num = 0, den = 0, vnum = 0, vden = 0;
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
    std::vector<T> values(static_cast<std::size_t>(slicer.batch_count(b) * P)), grad(3 * values.size());
    slicer.slice_batch_with_gradient(b, values.data(), grad.data());
    for (std::int64_t k = 0; k < slicer.batch_count(b); ++k)
      for (std::int64_t p = 0; p < P; p += 7) {
        const auto direct = direct_value_and_gradient(A, n, refs[slicer.batch_first(b) + k], pixels[p], s_ext);
        const double value = direct[0], want[3] = {direct[1], direct[2], direct[3]};
        for (int d = 0; d < 3; ++d) {
          const double e = grad[3 * (k * P + p) + d] - want[d];
          num += e * e;
          den += want[d] * want[d];
        }
        const double e = values[k * P + p] - value;
        vnum += e * e;
        vden += value * value;
      }
  }
  EXPECT_LT(std::sqrt(vnum / vden), 10 * opt.tolerance);
  EXPECT_LT(std::sqrt(num / den), 30 * opt.tolerance);
}

// Pixel weights (a cell's pixel count, reconstruct/cells.hpp): every value and gradient of a
// pixel is the direct sum's times its weight, in slice_batch and slice_batch_with_gradient;
// weights of the wrong count or not positive are refused.
TYPED_TEST(SlicingTest, PixelWeightsMultiplyValuesAndGradients) {
  using T = TypeParam;
  const std::int64_t n = 15;
  const auto A0 = random_grid(n, 9);
  const std::vector<T> A(A0.begin(), A0.end());
  const auto pixels = detector_pixels(12);
  const double s_ext = largest(pixels);
  const auto refs = geometry::reference_orientations(5);
  slicing::Options opt;
  opt.batch_size = 2;
  opt.tolerance = sizeof(T) == 4 ? 1e-5 : 1e-10;
  slicing::Slicer<T> slicer(refs, pixels, s_ext, n, opt);
  const auto P = static_cast<std::int64_t>(pixels.size());
  std::vector<T> w(static_cast<std::size_t>(P));
  for (std::int64_t p = 0; p < P; ++p) w[p] = static_cast<T>(1 + p % 5);
  EXPECT_THROW(slicer.set_pixel_weights(std::span<const T>(w).first(w.size() - 1)), spire::Error);
  auto zero = w;
  zero[3] = 0;
  EXPECT_THROW(slicer.set_pixel_weights(zero), spire::Error);
  slicer.set_pixel_weights(w);
  slicer.set_autocorrelation(A);
  double num = 0, den = 0, gnum = 0, gden = 0;
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
    const auto m = static_cast<std::size_t>(slicer.batch_count(b) * P);
    std::vector<T> plain(m), values(m), grad(3 * m);
    slicer.slice_batch(b, plain.data());
    slicer.slice_batch_with_gradient(b, values.data(), grad.data());
    for (std::int64_t k = 0; k < slicer.batch_count(b); ++k)
      for (std::int64_t p = 0; p < P; p += 7) {
        const auto direct = direct_value_and_gradient(A, n, refs[slicer.batch_first(b) + k], pixels[p], s_ext);
        const double value = w[p] * direct[0], gradient[3] = {w[p] * direct[1], w[p] * direct[2], w[p] * direct[3]};
        for (const T got : {plain[k * P + p], values[k * P + p]}) {
          num += (got - value) * (got - value);
          den += value * value;
        }
        for (int d = 0; d < 3; ++d) {
          const double e = grad[3 * (k * P + p) + d] - gradient[d];
          gnum += e * e;
          gden += gradient[d] * gradient[d];
        }
      }
  }
  EXPECT_LT(std::sqrt(num / den), 10 * opt.tolerance);
  EXPECT_LT(std::sqrt(gnum / gden), 30 * opt.tolerance);
}

TEST(Slicing, RejectsBadSettings) {
  const auto pixels = detector_pixels(4);
  const auto refs = geometry::reference_orientations(2);
  EXPECT_THROW(slicing::Slicer<float>(refs, pixels, largest(pixels), 14), spire::Error);
  EXPECT_THROW(slicing::Slicer<float>(refs, pixels, largest(pixels) / 2, 15), spire::Error);
  slicing::Slicer<float> ok(refs, pixels, largest(pixels), 15);
  std::vector<float> out(2 * 16);
  EXPECT_THROW(ok.slice_batch(0, out.data()), spire::Error);  // no autocorrelation yet
  EXPECT_THROW(ok.set_autocorrelation(std::vector<float>(10)), spire::Error);
}

// keep_points = false sorts each batch again on every call, with the same result.
TEST(Slicing, PointsSortedPerCallGiveTheSameSlices) {
  const std::int64_t n = 15;
  const auto A = random_grid(n, 5);
  const auto pixels = detector_pixels(10);
  const auto refs = geometry::reference_orientations(11);
  slicing::Options kept, sorted_each_time;
  kept.batch_size = sorted_each_time.batch_size = 4;
  sorted_each_time.keep_points = false;
  slicing::Slicer<float> a(refs, pixels, largest(pixels), n, kept), b(refs, pixels, largest(pixels), n, sorted_each_time);
  a.set_autocorrelation(A);
  b.set_autocorrelation(A);
  for (std::int64_t batch = 0; batch < a.n_batches(); ++batch)
    for (int twice = 0; twice < 2; ++twice) {
      std::vector<float> x(static_cast<std::size_t>(a.batch_count(batch) * a.n_pixels())), y(x.size());
      a.slice_batch(batch, x.data());
      b.slice_batch(batch, y.data());
      EXPECT_EQ(x, y) << "batch " << batch;
    }
}

// set_references: a slicer given other orientations slices exactly as one made for them,
// with kept points and with points sorted per call, for more and for fewer references.
TEST(Slicing, NewReferencesSliceAsANewSlicer) {
  const std::int64_t n = 15;
  const auto A = random_grid(n, 6);
  const auto pixels = detector_pixels(10);
  const auto first = geometry::reference_orientations(5);
  for (bool keep : {true, false}) {
    slicing::Options o;
    o.batch_size = 4;
    o.keep_points = keep;
    slicing::Slicer<float> reused(first, pixels, largest(pixels), n, o);
    reused.set_autocorrelation(A);
    for (std::size_t count : {13, 3}) {
      const auto refs = geometry::random_orientations(count, count);
      reused.set_references(refs);
      slicing::Slicer<float> fresh(refs, pixels, largest(pixels), n, o);
      fresh.set_autocorrelation(A);
      ASSERT_EQ(reused.n_references(), static_cast<std::int64_t>(count));
      ASSERT_EQ(reused.n_batches(), fresh.n_batches());
      for (std::int64_t batch = 0; batch < fresh.n_batches(); ++batch) {
        std::vector<float> x(static_cast<std::size_t>(fresh.batch_count(batch) * fresh.n_pixels())), y(x.size());
        reused.slice_batch(batch, x.data());
        fresh.slice_batch(batch, y.data());
        EXPECT_EQ(x, y) << "keep_points " << keep << ", " << count << " references, batch " << batch;
      }
    }
    EXPECT_THROW(reused.set_references({}), spire::Error);
  }
}
