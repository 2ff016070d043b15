// Photon scores (matching/photon_scores.hpp): the local stage's Poisson scores from each
// image's photon pixels and the detector's cells, against score_one over every pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "matching/photon_scores.hpp"
#include "matching/refine.hpp"
#include "slicing/slicing.hpp"

using namespace spire;

namespace {

constexpr double deg = std::numbers::pi / 180;

// The autocorrelation of `atoms` Gaussian atoms (width 1 voxel) within a radius of 4 voxels
// (2cex on the README's n = 81 grid spans about 8 voxels), scaled so that a slice sums to
// about `photons`.
std::vector<double> molecule(std::int64_t n, int atoms, double radius, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-radius, radius);
  std::vector<std::array<double, 3>> r;
  while (static_cast<int>(r.size()) < atoms) {
    const std::array<double, 3> p{u(rng), u(rng), u(rng)};
    if (std::hypot(p[0], p[1], p[2]) <= radius) r.push_back(p);
  }
  std::vector<double> A(static_cast<std::size_t>(n * n * n), 0.0);
  const std::int64_t half = n / 2;
  for (std::int64_t i = 0; i < n * n * n; ++i) {
    const double l[3] = {double(i % n - half), double((i / n) % n - half), double(i / (n * n) - half)};
    if (std::hypot(l[0], l[1], l[2]) > 2 * radius + 8) continue;  // beyond 2 radius + 8 sigma: below 1e-15
    for (const auto& a : r)
      for (const auto& b : r) {
        double d2 = 0;
        for (int c = 0; c < 3; ++c) d2 += (l[c] - (a[c] - b[c])) * (l[c] - (a[c] - b[c]));
        A[static_cast<std::size_t>(i)] += std::exp(-d2 / 4);
      }
  }
  return A;
}

struct Setup {
  std::int64_t n;
  std::vector<std::array<double, 3>> pixels;
  double s_ext = 0;
};

Setup setup(std::int64_t n, std::int64_t side) {
  Setup s{n, geometry::reciprocal_positions(geometry::Detector::square(side, 0.08, 0.2), 12398.4198e-10 / 4600)};
  for (const auto& p : s.pixels) s.s_ext = std::max(s.s_ext, std::hypot(p[0], p[1], p[2]));
  return s;
}

template <typename T>
std::vector<T> full_slices(const Setup& s, std::span<const T> A, std::span<const geometry::Quaternion> qs,
                           double tolerance) {
  slicing::Options so;
  so.tolerance = tolerance;
  slicing::Slicer<T> slicer(qs, s.pixels, s.s_ext, s.n, so);
  slicer.set_autocorrelation(A);
  std::vector<T> out(qs.size() * s.pixels.size());
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b)
    slicer.slice_batch(b, out.data() + slicer.batch_first(b) * slicer.n_pixels());
  return out;
}

// Poisson counts of each slice scaled to `photons` expected photons.
template <typename T>
std::vector<T> photon_images(const std::vector<T>& slices, std::size_t P, double photons, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> out(slices.size());
  for (std::size_t i = 0; i < slices.size() / P; ++i) {
    double total = 0;
    for (std::size_t k = 0; k < P; ++k) total += std::max<double>(slices[i * P + k], 0);
    for (std::size_t k = 0; k < P; ++k) {
      const double mean = photons * std::max<double>(slices[i * P + k], 0) / total;
      out[i * P + k] = mean > 0 ? static_cast<T>(std::poisson_distribution<int>(mean)(rng)) : T(0);
    }
  }
  return out;
}

// Per image: the centre and its 6 axis neighbours at +-h.
std::vector<geometry::Quaternion> stencils(const std::vector<geometry::Quaternion>& centres, double h) {
  std::vector<geometry::Quaternion> out;
  for (const auto& c : centres) {
    out.push_back(c);
    for (int a = 0; a < 3; ++a)
      for (const double sign : {1.0, -1.0}) {
        std::array<double, 3> v{0, 0, 0};
        v[a] = sign * h;
        out.push_back(matching::turned(c, v));
      }
  }
  return out;
}

template <typename T>
double floored_sum_of(const std::vector<T>& w, T floor = T(1e-8)) {
  double sum = 0;
  for (const T v : w) sum += std::max<double>(v, floor);
  return sum;
}

}  // namespace

template <typename T>
class PhotonScoresTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(PhotonScoresTest, Precisions);

// The photon terms exactly: photon score - its cells' sum = score_one - the pixels' sum of W
// (W at least the floor; bad pixels out of both), for both scales, dense and sparse images
// giving the same scores.
TYPED_TEST(PhotonScoresTest, PhotonTermsAreScoreOnesExactly) {
  using T = TypeParam;
  const auto s = setup(31, 48);
  const auto P = static_cast<std::int64_t>(s.pixels.size());
  const auto Ad = molecule(s.n, 6, 3, 3);
  std::vector<T> A(Ad.begin(), Ad.end());
  const auto truth = geometry::random_orientations(10, 4);
  const double tolerance = sizeof(T) == 4 ? 1e-5 : 1e-10;
  auto images = photon_images<T>(full_slices<T>(s, A, truth, tolerance), static_cast<std::size_t>(P), 3000, 5);
  // Images 2 and 7 have bad pixels (held as 0); the model is on the images' scale.
  const std::vector<std::int64_t> bad_offsets{0, 0, 0, 3, 3, 3, 3, 3, 3, 5, 5, 5};
  const std::vector<std::int32_t> bad{5, 100, 1000, 7, 2000};
  for (std::size_t j = 0; j < 3; ++j) images[2 * static_cast<std::size_t>(P) + static_cast<std::size_t>(bad[j])] = 0;
  for (std::size_t j = 3; j < 5; ++j) images[7 * static_cast<std::size_t>(P) + static_cast<std::size_t>(bad[j])] = 0;
  const T factor = T(3000) / static_cast<T>(floored_sum_of(full_slices<T>(s, A, std::span(truth).first(1), tolerance)));
  for (auto& v : A) v *= factor;
  // Sparse rows of the same images.
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> nz;
  std::vector<T> values;
  for (std::int64_t i = 0; i < 10; ++i) {
    for (std::int64_t p = 0; p < P; ++p)
      if (const T v = images[static_cast<std::size_t>(i * P + p)]; v != T(0))
        nz.push_back(static_cast<std::int32_t>(p)), values.push_back(v);
    offsets.push_back(static_cast<std::int64_t>(nz.size()));
  }
  const matching::ImageSet<T> dense{10, P, images, {}, {}, {}}, sparse{10, P, {}, offsets, nz, values};
  const auto candidates = stencils(truth, 2 * deg);
  const auto slices = full_slices<T>(s, A, candidates, tolerance);
  for (const auto scale : {matching::Scale::none, matching::Scale::per_slice}) {
    matching::Options mo;
    mo.metric = matching::Metric::poisson;
    mo.scale = scale;
    mo.poisson_floor = 1e-3;  // some slice values lie below it
    mo.bad_pixels = {bad_offsets, bad};
    slicing::Options so;
    so.tolerance = tolerance;
    slicing::Slicer<T> slicer(truth, s.pixels, s.s_ext, s.n, so);
    slicer.set_autocorrelation(A);
    std::vector<double> from_dense(candidates.size()), from_sparse(candidates.size()), sums(candidates.size());
    Progress silent;
    const matching::PhotonScores<T> a(dense, s.pixels, s.s_ext, s.n, mo, 2.0), b(sparse, s.pixels, s.s_ext, s.n, mo, 2.0);
    a.score(slicer, candidates, 7, 3000, 2, from_dense.data(), silent);  // several executions
    b.score(slicer, candidates, 7, 1000000, 2, from_sparse.data(), silent);
    a.cell_sums(slicer, candidates, sums.data());
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const std::size_t i = k / 7;
      const T* w = slices.data() + k * static_cast<std::size_t>(P);
      const auto bad_of = mo.bad_pixels.of(static_cast<std::int64_t>(i));
      double S = floored_sum_of(std::vector<T>(w, w + P), static_cast<T>(mo.poisson_floor)), S_cells = sums[k];
      for (const auto p : bad_of) {
        S -= std::max<double>(w[p], static_cast<T>(mo.poisson_floor));
        S_cells -= std::max<double>(w[p], static_cast<T>(mo.poisson_floor));
      }
      const double exact = matching::score_one(images.data() + i * static_cast<std::size_t>(P), w, P, mo, bad_of);
      const double K = [&] { double t = 0; for (std::int64_t p = 0; p < P; ++p) t += images[i * static_cast<std::size_t>(P) + static_cast<std::size_t>(p)]; return t; }();
      const double want = scale == matching::Scale::none ? exact - S + S_cells : exact + K * (std::log(S_cells) - std::log(S));
      EXPECT_NEAR(from_dense[k], want, (sizeof(T) == 4 ? 1e-4 : 1e-9) * std::abs(want)) << k;
      EXPECT_EQ(from_dense[k], from_sparse[k]) << k;
    }
  }
}

// The measured cell size at realistic sizes (128 x 128 detector, n = 81, 3,000 photons per
// image): a 2cex-sized molecule (atoms within 4 voxels; 2cex's autocorrelation holds 99%
// of its square within 9.5 voxels of the centre, this one within 8) and one twice as wide.
// On other images than choose_cells sampled, the score changes at +-h with the chosen cells
// stay within twice the bound of the exact ones; the wider molecule gets smaller cells.
TYPED_TEST(PhotonScoresTest, ChosenCellsKeepTheScoreChangesWithinTheBound) {
  using T = TypeParam;
  const auto s = setup(81, 128);
  const auto P = static_cast<std::int64_t>(s.pixels.size());
  const double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-9, h = 1.7 * deg, bound = 0.01;
  double chosen[2] = {0, 0};
  for (const int wide : {0, 1}) {
    const auto Ad = molecule(s.n, 8, wide ? 8 : 4, 3);
    const std::vector<T> A(Ad.begin(), Ad.end());
    const auto truth = geometry::random_orientations(24, 4);
    const auto images = photon_images<T>(full_slices<T>(s, A, truth, tolerance), static_cast<std::size_t>(P), 3000, 5);
    matching::Options mo;
    mo.metric = matching::Metric::poisson;
    mo.scale = matching::Scale::per_slice;
    slicing::Options so;
    so.tolerance = tolerance;
    slicing::Slicer<T> slicer(truth, s.pixels, s.s_ext, s.n, so);
    slicer.set_autocorrelation(A);
    const matching::ImageSet<T> set{24, P, images, {}, {}, {}};
    // choose_cells samples images 0, 2, 4, ...; the check below uses the odd ones.
    const auto choice = matching::choose_cells(slicer, set, s.pixels, s.s_ext, s.n, mo, truth, h, bound, 12);
    std::printf("molecule radius %d voxels: cells of %.1f voxels (%lld cells), error %.3g of the changes\n",
                wide ? 8 : 4, choice.voxels, static_cast<long long>(choice.cells), choice.error);
    ASSERT_GT(choice.voxels, 0);
    EXPECT_LE(choice.error, bound);
    chosen[wide] = choice.voxels;
    const matching::PhotonScores<T> photons(set, s.pixels, s.s_ext, s.n, mo, choice.voxels);
    const auto candidates = stencils(truth, h);
    std::vector<double> got(candidates.size());
    Progress silent;
    photons.score(slicer, candidates, 7, 100000, 2, got.data(), silent);
    const auto slices = full_slices<T>(s, A, candidates, tolerance);
    double err = 0, change = 0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const std::size_t i = k / 7, c = k - k % 7;
      if (i % 2 == 0 || k == c) continue;
      auto exact = [&](std::size_t j) {
        return matching::score_one(images.data() + i * static_cast<std::size_t>(P),
                                   slices.data() + j * static_cast<std::size_t>(P), P, mo);
      };
      const double d = exact(k) - exact(c), e = (got[k] - got[c]) - d;
      change += d * d;
      err += e * e;
    }
    EXPECT_LT(std::sqrt(err / change), 2 * bound);
  }
  EXPECT_LT(chosen[1], chosen[0]);
}

// Refinement with photon scores against every pixel's (the fit method, poisson per-slice,
// 1,000 photons on 64 x 64 pixels, n = 41, starts 5 degrees off): the same median error
// within a tenth of a degree, at under half the positions per candidate, and each image's
// reported score is score_one's at its result.
TYPED_TEST(PhotonScoresTest, RefineAsEveryPixelDoes) {
  using T = TypeParam;
  const auto s = setup(41, 64);
  const auto P = static_cast<std::int64_t>(s.pixels.size());
  const double tolerance = sizeof(T) == 4 ? 1e-5 : 1e-9;
  const auto Ad = molecule(s.n, 8, 4, 8);
  const std::vector<T> A(Ad.begin(), Ad.end());
  const auto truth = geometry::random_orientations(80, 9);
  const auto images = photon_images<T>(full_slices<T>(s, A, truth, tolerance), static_cast<std::size_t>(P), 1000, 10);
  std::vector<geometry::Quaternion> starts;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g;
  for (const auto& q : truth) {
    std::array<double, 3> axis{g(rng), g(rng), g(rng)};
    const double len = std::hypot(axis[0], axis[1], axis[2]);
    for (auto& a : axis) a *= 5 * deg / len;
    starts.push_back(matching::turned(q, axis));
  }
  matching::Options mo;
  mo.metric = matching::Metric::poisson;
  mo.scale = matching::Scale::per_slice;
  double medians[2] = {0, 0};
  for (const bool photons : {false, true}) {
    matching::RefineOptions ro;
    ro.photon_scores = photons;
    ro.first_step = 3.5 * deg;
    ro.batch_size = 50;
    std::vector<geometry::Quaternion> found(truth.size());
    std::vector<double> scores(truth.size());
    const auto stats = matching::refine_orientations<T>(A, s.n, s.pixels, s.s_ext, images, starts, 1, mo, ro, found, scores);
    std::vector<double> errors;
    for (std::size_t i = 0; i < found.size(); ++i) errors.push_back(geometry::angle_between(found[i], truth[i]) / deg);
    std::nth_element(errors.begin(), errors.begin() + 40, errors.end());
    medians[photons] = errors[40];
    if (!photons) continue;
    std::printf("cells of %.1f voxels, error %.3g; %.0f positions per candidate of %lld pixels; median %.3f deg "
                "(every pixel: %.3f)\n",
                stats.cell_voxels, stats.cell_error, stats.positions_per_candidate, static_cast<long long>(P),
                medians[1], medians[0]);
    EXPECT_GT(stats.cell_voxels, 0);
    EXPECT_LT(stats.positions_per_candidate, 0.5 * static_cast<double>(P));
    const auto at_found = full_slices<T>(s, A, found, tolerance);
    for (std::size_t i = 0; i < found.size(); ++i)
      EXPECT_NEAR(scores[i],
                  matching::score_one(images.data() + i * static_cast<std::size_t>(P),
                                      at_found.data() + i * static_cast<std::size_t>(P), P, mo),
                  1e-6 * std::abs(scores[i]));
  }
  EXPECT_LT(medians[0], 2.5);
  EXPECT_NEAR(medians[1], medians[0], 0.1);
}
