#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "matching/matching.hpp"

using namespace spire::matching;

namespace {

// Every (image, slice) cost in double, straight from the definitions in matching.hpp (the
// scale applied explicitly, not through the library's algebra), and the size of the terms
// the library sums, which bounds its rounding.
struct Brute {
  std::int64_t n_images = 0, n_refs = 0;
  std::vector<double> cost, magnitude;  // n_images x n_refs
  double at(std::int64_t i, std::int64_t j) const { return cost[i * n_refs + j]; }
};

template <typename T>
Brute brute_force(const std::vector<T>& images, const std::vector<T>& slices, std::int64_t P,
                  const Options& o) {
  Brute b;
  b.n_images = static_cast<std::int64_t>(images.size()) / P;
  b.n_refs = static_cast<std::int64_t>(slices.size()) / P;
  b.cost.resize(b.n_images * b.n_refs);
  b.magnitude.resize(b.cost.size());
  const double floor = static_cast<double>(static_cast<T>(o.poisson_floor));
  const bool scaled = o.scale == Scale::per_slice;
  for (std::int64_t i = 0; i < b.n_images; ++i)
    for (std::int64_t j = 0; j < b.n_refs; ++j) {
      const T* x = images.data() + i * P;
      const T* y = slices.data() + j * P;
      double cost = 0, mag = 0;
      if (o.metric == Metric::euclidean) {
        double xx = 0, xy = 0, yy = 0;
        for (std::int64_t p = 0; p < P; ++p) {
          xx += double(x[p]) * x[p];
          xy += double(x[p]) * y[p];
          yy += double(y[p]) * y[p];
        }
        const double a = !scaled ? 1.0 : yy > 0 ? std::max(xy, 0.0) / yy : 0.0;
        for (std::int64_t p = 0; p < P; ++p) cost += (x[p] - a * y[p]) * (x[p] - a * y[p]);
        mag = xx + a * a * yy + 2 * a * std::abs(xy);
      } else {
        double k_total = 0, w_total = 0, k_log_w = 0;
        for (std::int64_t p = 0; p < P; ++p) {
          const double w = std::max(double(y[p]), floor);
          k_total += x[p];
          w_total += w;
          k_log_w += std::abs(x[p] * std::log(w));
        }
        const double a = !scaled ? 1.0 : k_total / w_total;
        if (a > 0)
          for (std::int64_t p = 0; p < P; ++p) {
            const double w = a * std::max(double(y[p]), floor);
            cost += w - x[p] * std::log(w);
          }
        mag = k_log_w + w_total + (scaled ? k_total * (std::abs(std::log(w_total)) + std::abs(std::log(std::max(k_total, 1.0))) + 1) : 0);
      }
      b.cost[i * b.n_refs + j] = cost;
      b.magnitude[i * b.n_refs + j] = mag;
    }
  return b;
}

template <typename T>
double relative_tolerance() {
  return std::is_same_v<T, float> ? 5e-5 : 1e-12;
}

// The library's top-k rows against a brute-force partial sort by (cost, index). A different
// index is accepted only where its exact cost is within rounding of the expected one (a
// near-tie); in double none is expected.
template <typename T>
void expect_matches_brute_force(const NearestSlices<T>& match, const Brute& b) {
  const std::int64_t k = match.top_k();
  std::int64_t swaps = 0;
  std::vector<std::int64_t> order(b.n_refs);
  for (std::int64_t i = 0; i < b.n_images; ++i) {
    std::iota(order.begin(), order.end(), 0);
    const std::int64_t kept = std::min(k, b.n_refs);
    std::partial_sort(order.begin(), order.begin() + kept, order.end(), [&](auto u, auto v) {
      return b.at(i, u) < b.at(i, v) || (b.at(i, u) == b.at(i, v) && u < v);
    });
    for (std::int64_t r = 0; r < k; ++r) {
      const std::int64_t got = match.indices()[i * k + r];
      const double score = static_cast<double>(match.scores()[i * k + r]);
      if (r >= kept) {
        EXPECT_EQ(got, -1);
        EXPECT_EQ(score, std::numeric_limits<double>::infinity());
        continue;
      }
      if (got < 0 || got >= b.n_refs) {
        ADD_FAILURE() << "image " << i << " rank " << r << ": index " << got << " out of range";
        continue;
      }
      const double tol = relative_tolerance<T>() * b.magnitude[i * b.n_refs + got];
      EXPECT_NEAR(score, b.at(i, got), tol) << "image " << i << " rank " << r;
      const std::int64_t want = order[r];
      if (got != want) {
        ++swaps;
        EXPECT_NEAR(b.at(i, got), b.at(i, want), tol) << "image " << i << " rank " << r;
      }
      for (std::int64_t q = 0; q < r; ++q) EXPECT_NE(match.indices()[i * k + q], got);
    }
  }
  if constexpr (std::is_same_v<T, double>) {
    EXPECT_EQ(swaps, 0);
  }
  EXPECT_LE(swaps, b.n_images * k / 100 + 1);
}

template <typename T>
std::vector<T> uniform(std::int64_t n, std::uint64_t seed, double lo = 0.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

template <typename T>
void add_in_batches(NearestSlices<T>& match, const std::vector<T>& slices, std::int64_t batch) {
  const std::int64_t P = match.n_pixels(), m = static_cast<std::int64_t>(slices.size()) / P;
  for (std::int64_t first = 0; first < m; first += batch) {
    const std::int64_t count = std::min(batch, m - first);
    match.add_batch(first, count, std::span<const T>(slices.data() + first * P, count * P));
  }
}

template <typename T>
class MatchingTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(MatchingTest, Precisions);

}  // namespace

TYPED_TEST(MatchingTest, EuclideanMatchesBruteForceForAnyBatchSize) {
  using T = TypeParam;
  const std::int64_t n = 300, P = 517, m = 1000;
  const auto images = uniform<T>(n * P, 1), slices = uniform<T>(m * P, 2);
  const Options o;
  const Brute b = brute_force(images, slices, P, o);
  for (std::int64_t batch : {128, 1, 1500}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    NearestSlices<T> match(n, P, images, o);
    add_in_batches(match, slices, batch);
    expect_matches_brute_force(match, b);
  }
}

TYPED_TEST(MatchingTest, ImagesEqualToSlicesAreMatchedExactly) {
  using T = TypeParam;
  const std::int64_t P = 517, m = 400;
  const auto slices = uniform<T>(m * P, 3);
  const std::vector<std::int64_t> sources{0, 7, 127, 128, 255, 399};
  const std::int64_t n = static_cast<std::int64_t>(sources.size());
  for (Scale scale : {Scale::none, Scale::per_slice}) {
    // Scaled copies for per_slice: the optimal scale recovers them exactly.
    const T factor = scale == Scale::none ? T(1) : T(2.5);
    std::vector<T> images(n * P);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t p = 0; p < P; ++p) images[i * P + p] = factor * slices[sources[i] * P + p];
    Options o;
    o.scale = scale;
    NearestSlices<T> match(n, P, images, o);
    add_in_batches(match, slices, 128);
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(match.indices()[i], sources[i]);
      // |x|^2 is about P / 3 x factor^2: zero up to the cancellation in |x|^2 + |y|^2 - 2<x,y>.
      EXPECT_NEAR(static_cast<double>(match.scores()[i]), 0.0, relative_tolerance<T>() * 4 * P);
    }
  }
}

TYPED_TEST(MatchingTest, TiesGoToTheLowestIndexAcrossBatchesInAnyOrder) {
  using T = TypeParam;
  // Small integers: every dot product is exact, so duplicate slices score exactly alike.
  const std::int64_t P = 64, m = 200, batch = 64;
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int> counts(0, 3);
  std::vector<T> slices(m * P);
  for (auto& v : slices) v = static_cast<T>(counts(rng) + 1);
  // Reference 150 (batch 2) duplicates 30 (batch 0); 41 duplicates 40 (same batch).
  std::copy_n(slices.begin() + 30 * P, P, slices.begin() + 150 * P);
  std::copy_n(slices.begin() + 40 * P, P, slices.begin() + 41 * P);
  std::vector<T> images(2 * P);
  std::copy_n(slices.begin() + 150 * P, P, images.begin());
  std::copy_n(slices.begin() + 41 * P, P, images.begin() + P);

  for (Metric metric : {Metric::euclidean, Metric::poisson})
    for (Scale scale : {Scale::none, Scale::per_slice})
      for (std::int64_t k : {1, 3}) {  // the top-1 and the top-k paths
        Options o;
        o.metric = metric;
        o.scale = scale;
        o.top_k = k;
        NearestSlices<T> forward(2, P, images, o), backward(2, P, images, o);
        add_in_batches(forward, slices, batch);
        for (std::int64_t first = (m - 1) / batch * batch; first >= 0; first -= batch) {
          const std::int64_t count = std::min(batch, m - first);
          backward.add_batch(first, count, std::span<const T>(slices.data() + first * P, count * P));
        }
        for (const auto* match : {&forward, &backward}) {
          EXPECT_EQ(match->indices()[0], 30);
          EXPECT_EQ(match->indices()[k], 40);
          if (k > 1) {
            EXPECT_EQ(match->indices()[1], 150);
            EXPECT_EQ(match->scores()[0], match->scores()[1]);
            EXPECT_EQ(match->indices()[k + 1], 41);
            EXPECT_EQ(match->scores()[k], match->scores()[k + 1]);
          }
        }
        EXPECT_EQ(forward.indices(), backward.indices());
        EXPECT_EQ(forward.scores(), backward.scores());
      }
}

TYPED_TEST(MatchingTest, PerSliceScaleMatchesBruteForceWithOptimalScale) {
  using T = TypeParam;
  const std::int64_t n = 120, P = 300, m = 350;
  const auto slices = uniform<T>(m * P, 5);
  // Images: scaled noisy slices and pure noise, including some anticorrelated (scale 0).
  auto images = uniform<T>(n * P, 6, -0.5, 0.5);
  std::mt19937_64 rng(7);
  for (std::int64_t i = 0; i < n; i += 2) {
    const std::int64_t j = static_cast<std::int64_t>(rng() % m);
    const double a = 0.2 + 0.1 * static_cast<double>(i % 37);
    for (std::int64_t p = 0; p < P; ++p) images[i * P + p] += static_cast<T>(a * slices[j * P + p]);
  }
  for (std::int64_t p = 0; p < P; ++p) images[3 * P + p] = -slices[p];
  Options o;
  o.scale = Scale::per_slice;
  const Brute b = brute_force(images, slices, P, o);
  NearestSlices<T> match(n, P, images, o);
  add_in_batches(match, slices, 100);
  expect_matches_brute_force(match, b);
}

TYPED_TEST(MatchingTest, PoissonMatchesBruteForceLogLikelihood) {
  using T = TypeParam;
  const std::int64_t n = 150, P = 400, m = 300;
  // Model intensities with zeros and small negatives (NUFFT ripple) that the floor catches.
  auto slices = uniform<T>(m * P, 8, -0.05, 1.0);
  std::vector<T> images(n * P);
  std::mt19937_64 rng(9);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t j = static_cast<std::int64_t>(rng() % m);
    const double photons_per_pixel = 0.02 + 0.05 * static_cast<double>(i % 10);  // sparse
    for (std::int64_t p = 0; p < P; ++p) {
      std::poisson_distribution<int> k(photons_per_pixel * std::max(double(slices[j * P + p]), 0.0) + 1e-3);
      images[i * P + p] = static_cast<T>(k(rng));
    }
  }
  std::fill_n(images.begin(), P, T(0));  // an empty image: every slice scores alike
  for (Scale scale : {Scale::none, Scale::per_slice}) {
    SCOPED_TRACE(scale == Scale::none ? "scale none" : "scale per_slice");
    Options o;
    o.metric = Metric::poisson;
    o.scale = scale;
    o.poisson_floor = 1e-4;
    const Brute b = brute_force(images, slices, P, o);
    NearestSlices<T> match(n, P, images, o);
    add_in_batches(match, slices, 96);
    expect_matches_brute_force(match, b);
    if (scale == Scale::per_slice) {
      EXPECT_EQ(match.indices()[0], 0);
    }
  }
}

TYPED_TEST(MatchingTest, TopKMatchesPartialSort) {
  using T = TypeParam;
  const std::int64_t n = 100, P = 200, m = 500;
  const auto images = uniform<T>(n * P, 10), slices = uniform<T>(m * P, 11);
  for (Metric metric : {Metric::euclidean, Metric::poisson}) {
    Options o;
    o.metric = metric;
    o.scale = metric == Metric::poisson ? Scale::per_slice : Scale::none;
    o.top_k = 7;
    const Brute b = brute_force(images, slices, P, o);
    for (std::int64_t batch : {3, 64, 600}) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      NearestSlices<T> match(n, P, images, o);
      add_in_batches(match, slices, batch);
      expect_matches_brute_force(match, b);
    }
  }
}

TYPED_TEST(MatchingTest, FewerReferencesThanTopKLeaveEmptySlots) {
  using T = TypeParam;
  const std::int64_t n = 20, P = 50, m = 3;
  const auto images = uniform<T>(n * P, 12), slices = uniform<T>(m * P, 13);
  Options o;
  o.top_k = 5;
  NearestSlices<T> match(n, P, images, o);
  add_in_batches(match, slices, 2);
  expect_matches_brute_force(match, brute_force(images, slices, P, o));
}

TYPED_TEST(MatchingTest, ResetStartsAfreshAndThreadCountOnlyChangesRounding) {
  using T = TypeParam;
  // Large enough batches (n x batch x P products) for the GEMM to be split among threads.
  const std::int64_t n = 400, P = 300, m = 450, batch = 200;
  const auto images = uniform<T>(n * P, 14), slices = uniform<T>(m * P, 15), other = uniform<T>(m * P, 16);
  NearestSlices<T> fresh(n, P, images);
  add_in_batches(fresh, slices, batch);
  NearestSlices<T> reused(n, P, images);
  add_in_batches(reused, other, batch);
  reused.reset();
  add_in_batches(reused, slices, batch);
  EXPECT_EQ(reused.indices(), fresh.indices());
  EXPECT_EQ(reused.scores(), fresh.scores());

  // Another thread count splits the GEMM differently: the same result up to rounding.
  Options one_thread;
  one_thread.threads = 1;
  NearestSlices<T> serial(n, P, images, one_thread);
  add_in_batches(serial, slices, batch);
  expect_matches_brute_force(serial, brute_force(images, slices, P, one_thread));
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(serial.scores()[i], fresh.scores()[i], relative_tolerance<T>() * 4 * P);
}

TYPED_TEST(MatchingTest, BadInputIsAClearError) {
  using T = TypeParam;
  const std::int64_t n = 4, P = 10;
  auto images = uniform<T>(n * P, 17), slices = uniform<T>(3 * P, 18);
  const auto expect_error = [](auto&& call, const std::string& words) {
    try {
      call();
      ADD_FAILURE() << "no error, expected one mentioning \"" << words << "\"";
    } catch (const spire::Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error([&] { NearestSlices<T>(n, 0, std::span<const T>()); }, "n_pixels");
  expect_error([&] { NearestSlices<T>(n, P + 1, images); }, "image values");
  Options o;
  o.top_k = 0;
  expect_error([&] { NearestSlices<T>(n, P, images, o); }, "top_k");

  NearestSlices<T> match(n, P, images);
  expect_error([&] { match.add_batch(0, 2, slices); }, "slice values given for a batch of 2");
  expect_error([&] { match.add_batch(-1, 3, slices); }, "first reference");
  slices[2 * P + 4] = std::numeric_limits<T>::quiet_NaN();
  expect_error([&] { match.add_batch(10, 3, slices); }, "reference 12 has a non-finite value");
  slices[2 * P + 4] = std::numeric_limits<T>::infinity();
  o = Options{};
  o.metric = Metric::poisson;
  NearestSlices<T> poisson(n, P, images, o);
  expect_error([&] { poisson.add_batch(10, 3, slices); }, "reference 12 has a non-finite value");

  images[P + 3] = std::numeric_limits<T>::quiet_NaN();
  expect_error([&] { NearestSlices<T>(n, P, images); }, "image 1 has a non-finite value");
  images[P + 3] = T(-1);
  expect_error([&] { NearestSlices<T>(n, P, images, o); }, "image 1 has a negative value");
}

TYPED_TEST(MatchingTest, SoftWeightsAreANormalisedSoftmax) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  const std::vector<T> scores{T(10), T(11), T(13), T(-5), T(-5), inf, inf, inf, inf};
  const auto w = soft_weights<T>(scores, 3, 0.5);
  const double z = 1 + std::exp(-0.5) + std::exp(-1.5);
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  EXPECT_NEAR(w[0], 1 / z, tol);
  EXPECT_NEAR(w[1], std::exp(-0.5) / z, tol);
  EXPECT_NEAR(w[2], std::exp(-1.5) / z, tol);
  EXPECT_NEAR(w[3], 0.5, tol);  // equal scores share
  EXPECT_NEAR(w[4], 0.5, tol);
  EXPECT_EQ(w[5], T(0));  // no reference
  for (int r = 6; r < 9; ++r) EXPECT_EQ(w[r], T(0));
  // beta = 0: uniform; huge score gaps do not overflow.
  const auto flat = soft_weights<T>(std::vector<T>{T(1), T(1e6)}, 2, 0.0);
  EXPECT_NEAR(flat[0], 0.5, tol);
  const auto sharp = soft_weights<T>(std::vector<T>{T(1e6), T(1)}, 2, 1.0);
  EXPECT_EQ(sharp[0], T(0));
  EXPECT_EQ(sharp[1], T(1));
  EXPECT_THROW(soft_weights<T>(scores, 2, 1.0), spire::Error);
  EXPECT_THROW(soft_weights<T>(scores, 3, -1.0), spire::Error);
}

// score_one (double sums, no GEMM) is the brute-force cost of every metric and scale, images
// with zero counts and slices with values below the Poisson floor included.
TYPED_TEST(MatchingTest, ScoreOneIsTheBruteForceCost) {
  using T = TypeParam;
  const std::int64_t n = 20, P = 4096, m = 15;
  const auto slices = uniform<T>(m * P, 21, -0.05, 1.0);
  auto images = uniform<T>(n * P, 22, 0.0, 3.0);
  for (std::int64_t i = 0; i < n * P; i += 3) images[i] = std::round(images[i]);
  std::fill_n(images.begin(), P, T(0));
  for (Metric metric : {Metric::euclidean, Metric::poisson})
    for (Scale scale : {Scale::none, Scale::per_slice}) {
      Options o;
      o.metric = metric;
      o.scale = scale;
      o.poisson_floor = 1e-4;
      const Brute b = brute_force(images, slices, P, o);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < m; ++j)
          EXPECT_NEAR(score_one(images.data() + i * P, slices.data() + j * P, P, o), b.at(i, j),
                      1e-12 * b.magnitude[i * m + j] + 1e-9)
              << "metric " << int(metric) << " scale " << int(scale) << " image " << i << " slice " << j;
    }
}

// Bad pixels (an image's NaN/Inf, held as 0): every score is the one over the image's good
// pixels only, computed by the brute force on the image and slices with those pixels
// removed; the rest of the images are untouched. Every metric and scale, float and double,
// batches that split the references, top 3.
TYPED_TEST(MatchingTest, BadPixelsAreLeftOutExactly) {
  using T = TypeParam;
  const std::int64_t n = 120, P = 700, m = 300, k = 3;
  auto images = uniform<T>(n * P, 21, 0.0, 4.0);
  for (auto& v : images) v = std::round(v);  // counts, so that poisson applies
  const auto slices = uniform<T>(m * P, 22, 0.05, 3.0);
  // Every third image has 2% to 30% of its pixels bad, at random places.
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> bad;
  std::mt19937_64 rng(23);
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % 3 == 0) {
      const double fraction = 0.02 + 0.28 * static_cast<double>(i) / n;
      for (std::int32_t p = 0; p < P; ++p)
        if (std::uniform_real_distribution<double>(0, 1)(rng) < fraction) bad.push_back(p), images[i * P + p] = 0;
    }
    offsets.push_back(static_cast<std::int64_t>(bad.size()));
  }
  for (Metric metric : {Metric::euclidean, Metric::poisson})
    for (Scale scale : {Scale::none, Scale::per_slice}) {
      SCOPED_TRACE(std::string(name_of(kMetricNames, metric)) + " " + std::string(name_of(kScaleNames, scale)));
      Options o;
      o.metric = metric, o.scale = scale, o.top_k = k;
      o.bad_pixels = {offsets, bad};
      NearestSlices<T> match(n, P, images, o);
      add_in_batches(match, slices, 128);
      Brute b;  // row by row: image i and every slice without image i's bad pixels
      b.n_images = n, b.n_refs = m;
      for (std::int64_t i = 0; i < n; ++i) {
        std::vector<std::int32_t> good;
        for (std::int32_t p = 0, next = 0; p < P; ++p) {
          const auto mine = o.bad_pixels.of(i);
          if (next < static_cast<std::int32_t>(mine.size()) && mine[next] == p) ++next;
          else good.push_back(p);
        }
        std::vector<T> x, y;
        for (auto p : good) x.push_back(images[i * P + p]);
        for (std::int64_t j = 0; j < m; ++j)
          for (auto p : good) y.push_back(slices[j * P + p]);
        Options plain = o;
        plain.bad_pixels = {};
        const Brute row = brute_force(x, y, static_cast<std::int64_t>(good.size()), plain);
        b.cost.insert(b.cost.end(), row.cost.begin(), row.cost.end());
        b.magnitude.insert(b.magnitude.end(), row.magnitude.begin(), row.magnitude.end());
        // score_one (local refinement's score) agrees with the brute force too.
        const double one = score_one(images.data() + i * P, slices.data() + 5 * P, P, o, o.bad_pixels.of(i));
        EXPECT_NEAR(one, row.at(0, 5), 1e-9 * row.magnitude[5] + 1e-9) << "image " << i;
      }
      expect_matches_brute_force(match, b);
    }
}

// reference_sums: each reference's |y|^2 or sum of max(W, floor), in double, by index.
TYPED_TEST(MatchingTest, ReferenceSumsAreTheSlicesSums) {
  using T = TypeParam;
  const std::int64_t n = 10, P = 333, m = 50;
  const auto images = uniform<T>(n * P, 31, 0, 3), slices = uniform<T>(m * P, 32, -0.1, 2);
  for (Metric metric : {Metric::euclidean, Metric::poisson}) {
    Options o;
    o.metric = metric;
    std::vector<T> counts(images);
    for (auto& v : counts) v = std::round(v);
    NearestSlices<T> match(n, P, counts, o);
    add_in_batches(match, slices, 16);
    ASSERT_EQ(match.reference_sums().size(), static_cast<std::size_t>(m));
    const double floor = static_cast<double>(static_cast<T>(o.poisson_floor));
    for (std::int64_t j = 0; j < m; ++j) {
      double want = 0;
      for (std::int64_t p = 0; p < P; ++p) {
        const double y = slices[j * P + p];
        want += metric == Metric::poisson ? std::max(y, floor) : y * y;
      }
      EXPECT_NEAR(match.reference_sums()[j], want, 1e-6 * want) << j;
    }
    match.reset();
    EXPECT_TRUE(std::isnan(match.reference_sums()[0]));
  }
}

// Sparse photon counts (compressed rows) against the brute force on the same images dense:
// every metric and scale, float and double, with bad pixels in some images too.
template <typename T>
void sparse_against_brute_force(double density, std::int64_t n = 200) {
  const std::int64_t P = 900, m = 260, k = 2;
  std::mt19937_64 rng(41);
  std::vector<T> dense(n * P, T(0));
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> pixels;
  std::vector<T> values;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int32_t p = 0; p < P; ++p)
      if (std::uniform_real_distribution<double>(0, 1)(rng) < density) {
        const T v = static_cast<T>(1 + std::uniform_int_distribution<int>(0, 3)(rng));
        dense[i * P + p] = v, pixels.push_back(p), values.push_back(v);
      }
    offsets.push_back(static_cast<std::int64_t>(values.size()));
  }
  const auto slices = uniform<T>(m * P, 42, 0.05, 2.0);
  const std::vector<std::int64_t> bad_offsets = [&] {
    std::vector<std::int64_t> o{0};
    for (std::int64_t i = 0; i < n; ++i) o.push_back(o.back() + (i % 7 == 0 ? 2 : 0));
    return o;
  }();
  std::vector<std::int32_t> bad;
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % 7 != 0) continue;
    bad.push_back(3), bad.push_back(500);  // bad pixels hold 0
    dense[i * P + 3] = dense[i * P + 500] = T(0);
  }
  // The sparse rows of the same images (bad pixels' photons removed above).
  offsets.assign(1, 0), pixels.clear(), values.clear();
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int32_t p = 0; p < P; ++p)
      if (dense[i * P + p] != T(0)) pixels.push_back(p), values.push_back(dense[i * P + p]);
    offsets.push_back(static_cast<std::int64_t>(values.size()));
  }
  const ImageSet<T> sparse{n, P, {}, offsets, pixels, values};
  for (Metric metric : {Metric::euclidean, Metric::poisson})
    for (Scale scale : {Scale::none, Scale::per_slice}) {
      SCOPED_TRACE(std::string(name_of(kMetricNames, metric)) + " " + std::string(name_of(kScaleNames, scale)));
      Options o;
      o.metric = metric, o.scale = scale, o.top_k = k;
      NearestSlices<T> match(sparse, o);
      add_in_batches(match, slices, 100);
      expect_matches_brute_force(match, brute_force(dense, slices, P, o));
      // With bad pixels: the same scores as the dense images with the same bad pixels.
      o.bad_pixels = {bad_offsets, bad};
      NearestSlices<T> sparse_bad(sparse, o), dense_bad(n, P, dense, o);
      add_in_batches(sparse_bad, slices, 100);
      add_in_batches(dense_bad, slices, 100);
      for (std::int64_t i = 0; i < n * k; ++i) {
        const double a = sparse_bad.scores()[i], b = dense_bad.scores()[i];
        EXPECT_NEAR(a, b, relative_tolerance<T>() * (std::abs(b) + 1e3)) << i;
      }
    }
}

TYPED_TEST(MatchingTest, SparseImagesMatchTheBruteForce) {
  // 5% nonzero takes the sparse product, 30% the GEMM on rows made dense (matching.cpp).
  for (const double density : {0.05, 0.3}) {
    SCOPED_TRACE("density " + std::to_string(density));
    sparse_against_brute_force<TypeParam>(density);
  }
  // 2,500 images: five blocks of the sparse product's pixel-major layout (512 images each,
  // the last partial), pixels shared by many images of a block (runs of one row).
  SCOPED_TRACE("2500 images");
  sparse_against_brute_force<TypeParam>(0.02, 2500);
}
