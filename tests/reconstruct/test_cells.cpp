// The loop on the detector's cells (reconstruct/cells.hpp): the cells' values against a
// brute-force mean (intensities) or sum (photon counts) over their pixels, the count cells'
// Poisson scores against a direct sum and their merge against their pixels repeated, the
// grouping against the cubes it claims, the rule of the settings, and grid matches that find
// on cells (intensities and counts) the orientations they find on every pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "matching/photon_scores.hpp"
#include "matching/search.hpp"
#include "reconstruct/cells.hpp"
#include "reconstruct/reconstruct.hpp"
#include "simulated.hpp"

using namespace spire;

namespace {

// Random images on a 64 x 64 detector (reciprocal positions of a real geometry), prepared.
reconstruct::Data random_images(std::int64_t n_images, unsigned seed) {
  const auto det = geometry::Detector::square(64, 0.08, 0.2);
  reconstruct::Data d;
  d.n_images = n_images;
  d.n_pixels = det.size();
  d.pixels = geometry::reciprocal_positions(det, 2.7e-10);
  d.images.resize(static_cast<std::size_t>(n_images * d.n_pixels));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (auto& v : d.images) v = u(rng);
  return d;
}

double extent_of(const reconstruct::Data& d) {
  double e = 0;
  for (const auto& s : d.pixels) e = std::max(e, std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]));
  return e;
}


// A grid match of `d` against the model its true orientations merge to (n = 25, 2,000
// references), on every pixel and on the cells of the box's voxel: the references each finds
// agree for `same` images; their median errors against the truth.
struct GridMatch {
  std::int64_t cells = 0;
  double voxels = 0;
  std::size_t same = 0;
  double pixels_error = 0, cells_error = 0;
};
GridMatch grid_match_on_cells(const reconstruct::Data& d) {
  auto st = reconstruct::load_settings("", {"grid.n=25", "orientations.references=2000", "runtime.fft_planning=estimate",
                                            "orientations.oracle=true", "generations.max=1"});
  GridMatch g;
  const int box = reconstruct::loop_box(d, st, reconstruct::State());
  g.voxels = reconstruct::cell_voxels_for(st, d, box);
  if (!(g.voxels > 0)) return g;
  const auto c = reconstruct::on_cells(d, g.voxels, 25);
  g.cells = c.n_pixels;
  const auto model = reconstruct::run(d, st).autocorrelation;  // merged at the true orientations, every pixel
  st.orientations.oracle = false;
  auto match = [&](const reconstruct::Data& data) {
    auto backend = reconstruct::make_backend(data, st, distributed::Team());
    backend->set_box(box);
    const auto m = backend->slice_and_match(model);
    std::vector<geometry::Quaternion> found;
    for (const auto r : m.reference) found.push_back(backend->references()[static_cast<std::size_t>(r)]);
    return found;
  };
  const auto on_pixels = match(d), on_cells = match(c);
  for (std::size_t i = 0; i < on_pixels.size(); ++i) g.same += geometry::angle_between(on_pixels[i], on_cells[i]) == 0;
  g.pixels_error = reconstruct::median_orientation_error(on_pixels, d.truth);
  g.cells_error = reconstruct::median_orientation_error(on_cells, d.truth);
  std::cout << g.cells << " cells of " << g.voxels << " voxels for " << d.n_pixels << " pixels, " << d.photons_per_image
            << " per image: " << g.same << " of " << on_pixels.size() << " images on the same reference; median error "
            << g.cells_error << " deg on cells, " << g.pixels_error << " on every pixel\n";
  return g;
}
}  // namespace

// A linear intensity's mean over a cell is its value at the cell's centroid (exactly, in
// real arithmetic): so the cells' values and positions agree, whatever the grouping. Each
// pixel lies in its cell's cube, and the cells hold every pixel once.
TEST(Cells, ALinearIntensityAveragesToItsValueAtTheCentroid) {
  auto d = random_images(3, 1);
  const std::array<double, 3> a{2.0, -1.0, 0.5};
  for (std::int64_t i = 0; i < d.n_images; ++i)
    for (std::int64_t p = 0; p < d.n_pixels; ++p) {
      const auto& s = d.pixels[static_cast<std::size_t>(p)];
      const double e = extent_of(d);
      d.images[static_cast<std::size_t>(i * d.n_pixels + p)] =
          static_cast<float>(3.0 + static_cast<double>(i) + (a[0] * s[0] + a[1] * s[1] + a[2] * s[2]) / e);
    }
  reconstruct::prepare(d);
  const std::int64_t n = 25;
  for (const double voxels : {0.9, 1.5, 3.0}) {
    const auto c = reconstruct::on_cells(d, voxels, n);
    ASSERT_GT(c.n_pixels, 0);
    ASSERT_LT(c.n_pixels, d.n_pixels);
    EXPECT_EQ(c.extent, d.extent);
    EXPECT_EQ(c.scale, d.scale);
    EXPECT_TRUE(c.bad_pixels.empty());
    double worst = 0;
    for (std::int64_t i = 0; i < c.n_images; ++i)
      for (std::int64_t k = 0; k < c.n_pixels; ++k) {
        const auto& s = c.pixels[static_cast<std::size_t>(k)];
        const double want = (3.0 + static_cast<double>(i) + (a[0] * s[0] + a[1] * s[1] + a[2] * s[2]) / extent_of(d)) / d.scale;
        worst = std::max(worst, std::abs(c.images[static_cast<std::size_t>(i * c.n_pixels + k)] - want) / want);
      }
    EXPECT_LT(worst, 2e-6) << voxels;  // float images
    const double side = voxels * 2 * d.extent / static_cast<double>(n);
    const auto cells = matching::detector_cells(d.pixels, side);
    ASSERT_EQ(cells.cell_of.size(), d.pixels.size());
    std::vector<double> members(cells.centroids.size(), 0);
    for (std::size_t p = 0; p < d.pixels.size(); ++p) {
      const auto k = static_cast<std::size_t>(cells.cell_of[p]);
      members[k] += 1;
      for (int ax = 0; ax < 3; ++ax)  // the same cube: within one side of its centroid on every axis
        EXPECT_LT(std::abs(d.pixels[p][ax] - cells.centroids[k][ax]), side);
    }
    EXPECT_EQ(members, cells.weights);
  }
}

// Bad pixels are left out of their cell's mean (brute force over every pixel); a cell whose
// pixels are all bad in an image is a bad pixel of that image.
TEST(Cells, BadPixelsAreLeftOutOfTheirCellsMean) {
  auto d = random_images(4, 2);
  const std::int64_t n = 25;
  const double voxels = 1.5;
  reconstruct::prepare(d);
  const auto cells = matching::detector_cells(d.pixels, voxels * 2 * d.extent / static_cast<double>(n));
  // Image 1: every 7th pixel bad, and every pixel of cell 10; image 3: pixel 0. Others none.
  std::vector<std::vector<std::int32_t>> bad(4);
  for (std::int32_t p = 0; p < d.n_pixels; ++p)
    if (p % 7 == 0 || cells.cell_of[static_cast<std::size_t>(p)] == 10) bad[1].push_back(p);
  bad[3].push_back(0);
  d.bad_offsets.push_back(0);
  for (const auto& b : bad) {
    d.bad_pixels.insert(d.bad_pixels.end(), b.begin(), b.end());
    d.bad_offsets.push_back(static_cast<std::int64_t>(d.bad_pixels.size()));
  }
  const auto c = reconstruct::on_cells(d, voxels, n);
  ASSERT_EQ(c.n_pixels, static_cast<std::int64_t>(cells.centroids.size()));
  ASSERT_EQ(c.bad_offsets.size(), 5u);
  for (std::int64_t i = 0; i < 4; ++i) {
    const auto& b = bad[static_cast<std::size_t>(i)];
    std::vector<std::int32_t> bad_cells(c.bad_pixels.begin() + c.bad_offsets[static_cast<std::size_t>(i)],
                                        c.bad_pixels.begin() + c.bad_offsets[static_cast<std::size_t>(i) + 1]);
    EXPECT_EQ(bad_cells, (i == 1 ? std::vector<std::int32_t>{10} : std::vector<std::int32_t>{})) << i;
    for (std::int64_t k = 0; k < c.n_pixels; ++k) {
      double sum = 0, good = 0;
      for (std::int32_t p = 0; p < d.n_pixels; ++p)
        if (cells.cell_of[static_cast<std::size_t>(p)] == k && std::find(b.begin(), b.end(), p) == b.end())
          sum += d.images[static_cast<std::size_t>(i * d.n_pixels + p)], good += 1;
      const double want = good > 0 ? sum / good : 0.0;
      EXPECT_NEAR(c.images[static_cast<std::size_t>(i * c.n_pixels + k)], want, 1e-6 * (1 + want)) << i << " " << k;
    }
  }
}

// The settings' rule: auto on at the box's voxel, for intensities and for photon counts
// (off for counts on the GPU, which takes no pixel weights); off where asked; cells that
// would not be fewer than half the pixels are not used under auto.
TEST(Cells, TheSettingsRule) {
  auto d = random_images(2, 3);
  reconstruct::prepare(d);
  const auto st = [](std::vector<std::string> o) { return reconstruct::load_settings("", o); };
  EXPECT_DOUBLE_EQ(reconstruct::cell_voxels_for(st({"grid.n=25"}), d, 5), 25.0 / 5);
  EXPECT_DOUBLE_EQ(reconstruct::cell_voxels_for(st({"grid.n=25", "orientations.cell_voxels=2"}), d, 5), 2.0);
  EXPECT_EQ(reconstruct::cell_voxels_for(st({"grid.n=25", "orientations.cells=off"}), d, 5), 0);
  // A voxel of 81 is about a pixel here: nearly as many cells as pixels, not used unless asked.
  EXPECT_EQ(reconstruct::cell_voxels_for(st({"grid.n=81"}), d, 0), 0);
  EXPECT_DOUBLE_EQ(reconstruct::cell_voxels_for(st({"grid.n=81", "orientations.cells=on"}), d, 0), 1.0);
  auto counts = d;
  for (auto& v : counts.images) v = std::round(v * 3);
  reconstruct::prepare(counts);
  ASSERT_TRUE(counts.counts);
  EXPECT_DOUBLE_EQ(reconstruct::cell_voxels_for(st({"grid.n=25"}), counts, 5), 25.0 / 5);
  EXPECT_EQ(reconstruct::cell_voxels_for(st({"grid.n=25", "runtime.device=cuda"}), counts, 5), 0);
  EXPECT_DOUBLE_EQ(reconstruct::cell_voxels_for(st({"grid.n=25", "runtime.device=cuda"}), d, 5), 25.0 / 5);
}

// Photon counts on cells: each cell's value is the sum of its pixels' counts (brute force),
// a cell with any bad pixel in an image is bad there, the weights are the cells' pixel
// counts, and the values are counts still; the same from images held dense and sparse.
TEST(Cells, PhotonCountsSumOverTheirCells) {
  auto d = random_images(4, 4);
  for (auto& v : d.images) v = std::floor(v * v * v);  // 0 to 3 photons
  const std::int64_t n = 25;
  const double voxels = 1.5;
  const auto cells = matching::detector_cells(d.pixels, voxels * 2 * extent_of(d) / static_cast<double>(n));
  std::vector<std::vector<std::int32_t>> bad(4);  // image 2: every 11th pixel
  for (std::int32_t p = 0; p < d.n_pixels; p += 11) bad[2].push_back(p);
  d.bad_offsets.push_back(0);
  for (const auto& b : bad) {
    d.bad_pixels.insert(d.bad_pixels.end(), b.begin(), b.end());
    d.bad_offsets.push_back(static_cast<std::int64_t>(d.bad_pixels.size()));
  }
  for (const auto& p : d.bad_pixels) d.images[static_cast<std::size_t>(2 * d.n_pixels + p)] = 0;
  auto sparse = d;
  sparse.images.clear();
  sparse.sparse_offsets.push_back(0);
  for (std::int64_t i = 0; i < d.n_images; ++i) {
    for (std::int32_t p = 0; p < d.n_pixels; ++p)
      if (const float v = d.images[static_cast<std::size_t>(i * d.n_pixels + p)]; v != 0)
        sparse.sparse_pixels.push_back(p), sparse.sparse_values.push_back(v);
    sparse.sparse_offsets.push_back(static_cast<std::int64_t>(sparse.sparse_pixels.size()));
  }
  reconstruct::prepare(d);
  reconstruct::prepare(sparse);
  ASSERT_TRUE(d.counts);
  for (const auto* held : {&d, &sparse}) {
    const auto c = reconstruct::on_cells(*held, voxels, n);
    ASSERT_EQ(c.n_pixels, static_cast<std::int64_t>(cells.centroids.size()));
    EXPECT_TRUE(c.counts);
    EXPECT_EQ(std::vector<double>(c.pixel_weights.begin(), c.pixel_weights.end()), cells.weights);
    for (std::int64_t i = 0; i < c.n_images; ++i) {
      const auto& b = bad[static_cast<std::size_t>(i)];
      std::vector<std::int32_t> want_bad;
      for (std::int32_t k = 0; k < c.n_pixels; ++k) {
        double sum = 0;
        bool any_bad = false;
        for (std::int32_t p = 0; p < d.n_pixels; ++p)
          if (cells.cell_of[static_cast<std::size_t>(p)] == k) {
            sum += d.images[static_cast<std::size_t>(i * d.n_pixels + p)];
            any_bad = any_bad || std::find(b.begin(), b.end(), p) != b.end();
          }
        if (any_bad) want_bad.push_back(k);
        EXPECT_EQ(c.images[static_cast<std::size_t>(i * c.n_pixels + k)], any_bad ? 0.0 : sum) << i << " " << k;
      }
      const auto got_bad = reconstruct::bad_pixels_of(c).of(i);
      EXPECT_EQ(std::vector<std::int32_t>(got_bad.begin(), got_bad.end()), want_bad) << i;
      EXPECT_EQ(want_bad.empty(), i != 2);
    }
  }
}

// One grid match of noise-free images against the model their true orientations merge to:
// on cells of the box's voxel (fewer than a quarter of the pixels) the images find the
// references they find on every pixel, as close to the truth. Broken cells (values or
// positions) would send them elsewhere.
TEST(Cells, AGridMatchOnCellsFindsWhatEveryPixelFinds) {
  const auto g = grid_match_on_cells(reconstruct::test::simulated_images(300, 64, 4));
  ASSERT_GT(g.voxels, 0);
  EXPECT_LT(4 * g.cells, 64 * 64);
  EXPECT_GE(g.same, 240u);
  EXPECT_LT(g.cells_error, g.pixels_error + 1.0);
  EXPECT_LT(g.cells_error, 12.0);  // the covering radius of 2000 references is about 15 degrees
}


// The scores on count cells are the cells' Poisson likelihoods: for every image the best
// score of a search over 20 references equals the brute-force minimum over them of
// sum_c (g_c W_c - k_c log(g_c W_c)), W_c the direct cosine sum of a positive model at the
// rotated centroid and g_c the cell's pixels (matching.hpp's poisson cost of the cell sums).
TEST(Cells, TheCellsPoissonScoresAreTheirLikelihoods) {
  const auto d = reconstruct::test::counted(reconstruct::test::simulated_images(8, 32, 5), 2000, 6);
  const std::int64_t n = 15, half = n / 2;
  const auto c = reconstruct::on_cells(d, 1.5, n);
  ASSERT_FALSE(c.pixel_weights.empty());
  std::vector<float> A(static_cast<std::size_t>(n * n * n));  // a Gaussian: a positive intensity
  for (std::int64_t i = 0; i < n * n * n; ++i) {
    const double l1 = double(i % n - half), l2 = double((i / n) % n - half), l3 = double(i / (n * n) - half);
    A[static_cast<std::size_t>(i)] = static_cast<float>(std::exp(-(l1 * l1 + l2 * l2 + l3 * l3) / 8));
  }
  A[static_cast<std::size_t>((n * n * n) / 2)] += 20;  // a floor well above the NUFFT's error
  const auto refs = geometry::reference_orientations(20);
  slicing::Options so;
  so.batch_size = 7;
  so.tolerance = 1e-6;
  matching::Options mo;
  mo.metric = matching::Metric::poisson;
  matching::SliceSearch search(refs, 0, c.pixels, c.extent, n, reconstruct::image_set(c), so, mo);
  Progress silent;
  search.run(A, silent);
  const auto C = static_cast<std::size_t>(c.n_pixels);
  std::vector<double> W(refs.size() * C);  // the model at each reference's rotated centroids
  for (std::size_t r = 0; r < refs.size(); ++r)
    for (std::size_t k = 0; k < C; ++k) {
      const auto s = geometry::rotate_inverse(refs[r], c.pixels[k]);
      double v = 0;
      for (std::int64_t i = 0; i < n * n * n; ++i) {
        const double l1 = double(i % n - half), l2 = double((i / n) % n - half), l3 = double(i / (n * n) - half);
        v += A[static_cast<std::size_t>(i)] * std::cos(std::numbers::pi * (l1 * s[0] + l2 * s[1] + l3 * s[2]) / c.extent);
      }
      W[r * C + k] = std::max(v * c.pixel_weights[k], 1e-8);
    }
  for (std::int64_t i = 0; i < c.n_images; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < refs.size(); ++r) {
      double score = 0;
      for (std::size_t k = 0; k < C; ++k)
        score += W[r * C + k] - c.images[static_cast<std::size_t>(i) * C + k] * std::log(W[r * C + k]);
      best = std::min(best, score);
    }
    EXPECT_NEAR(search.scores()[static_cast<std::size_t>(i)], best, 1e-4 * std::abs(best)) << i;
  }
}

// Merging count cells with weights g (value k / g, weight g) is merging each cell as g
// pixels at its centroid, each with the value k / g: the same autocorrelation from both.
TEST(Cells, CountCellsMergeAsTheirPixelsRepeated) {
  const auto d = reconstruct::test::counted(reconstruct::test::simulated_images(40, 32, 7), 2000, 8);
  const auto c = reconstruct::on_cells(d, 1.5, 25);
  auto repeated = c;
  repeated.pixel_weights.clear();
  repeated.counts = false;
  repeated.pixels.clear();
  std::vector<std::int64_t> from;
  for (std::size_t k = 0; k < c.pixels.size(); ++k)
    for (int j = 0; j < static_cast<int>(c.pixel_weights[k]); ++j)
      repeated.pixels.push_back(c.pixels[k]), from.push_back(static_cast<std::int64_t>(k));
  repeated.n_pixels = static_cast<std::int64_t>(from.size());
  ASSERT_EQ(repeated.n_pixels, d.n_pixels);
  repeated.images.resize(static_cast<std::size_t>(c.n_images * repeated.n_pixels));
  for (std::int64_t i = 0; i < c.n_images; ++i)
    for (std::int64_t p = 0; p < repeated.n_pixels; ++p) {
      const auto k = static_cast<std::size_t>(from[static_cast<std::size_t>(p)]);
      repeated.images[static_cast<std::size_t>(i * repeated.n_pixels + p)] =
          c.images[static_cast<std::size_t>(i) * c.pixels.size() + k] / c.pixel_weights[k];
    }
  // A solve that converges (40 images leave much of the grid unsampled): the two systems are
  // then one up to rounding, and so are their solutions.
  const auto st = reconstruct::load_settings("", {"grid.n=25", "runtime.fft_planning=estimate", "merging.tolerance=1e-6",
                                                  "merging.regularisation=0.1", "merging.cg_tolerance=1e-8",
                                                  "merging.cg_iterations=1000", "orientations.oracle=true"});
  const auto sa = reconstruct::make_backend(c, st, distributed::Team())->merge(c.truth, {});
  const auto sb = reconstruct::make_backend(repeated, st, distributed::Team())->merge(repeated.truth, {});
  ASSERT_TRUE(sa.cg.converged && sb.cg.converged);
  EXPECT_EQ(sa.lambda, sb.lambda);
  const auto &a = sa.x, &b = sb.x;
  double num = 0, den = 0;
  for (std::size_t v = 0; v < a.size(); ++v) num += (a[v] - b[v]) * (a[v] - b[v]), den += b[v] * b[v];
  EXPECT_LT(std::sqrt(num / den), 1e-4);
}

// The kept maps' merges in one pass (Backend::merge_with_halves, the CPU back end's): every
// image toward x0 and each half toward zero, as three merge() calls give them, with fluence
// scales; the halves' sums add up to the full merge's, so only float rounding of the spread
// differs.
TEST(Cells, TheHalvesMergeInOnePassAsInThree) {
  const auto d = reconstruct::test::counted(reconstruct::test::simulated_images(60, 32, 7), 2000, 8);
  // Well conditioned and converged (as in CountCellsMergeAsTheirPixelsRepeated), so that the
  // solutions differ as their right-hand sides do.
  const auto st = reconstruct::load_settings("", {"grid.n=25", "runtime.fft_planning=estimate", "merging.tolerance=1e-6",
                                                  "merging.regularisation=0.1", "merging.cg_tolerance=1e-8",
                                                  "merging.cg_iterations=1000", "orientations.oracle=true"});
  const distributed::Team team;  // outlives the back end, which holds it
  auto backend = reconstruct::make_backend(d, st, team);
  std::vector<double> scales(static_cast<std::size_t>(d.n_images));
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = 0.6 + 0.013 * static_cast<double>(i);
  const auto x0 = backend->merge(d.truth, {}).x;
  const auto half = [](std::int64_t i) { return static_cast<int>(i % 2); };
  const auto once = backend->merge_with_halves(d.truth, x0, half, scales);
  const auto relative = [](const std::vector<double>& a, const std::vector<double>& b) {
    double num = 0, den = 0;
    for (std::size_t v = 0; v < a.size(); ++v) num += (a[v] - b[v]) * (a[v] - b[v]), den += b[v] * b[v];
    return std::sqrt(num / den);
  };
  const auto full = backend->merge(d.truth, x0, {}, scales);
  ASSERT_TRUE(once.full.cg.converged && full.cg.converged);
  EXPECT_NEAR(once.full.lambda, full.lambda, 1e-9 * full.lambda);
  EXPECT_LT(relative(once.full.x, full.x), 1e-5);
  for (int h = 0; h < 2; ++h) {
    const auto three = backend->merge(d.truth, {}, [&](std::int64_t i) { return half(i) == h; }, scales);
    EXPECT_NEAR(once.halves[static_cast<std::size_t>(h)].lambda, three.lambda, 1e-9 * three.lambda) << h;
    EXPECT_LT(relative(once.halves[static_cast<std::size_t>(h)].x, three.x), 1e-5) << h;
    EXPECT_GT(relative(once.halves[static_cast<std::size_t>(h)].x, full.x), 1e-3) << h;  // a half is not the whole
  }
}

// One grid match of Poisson counts (about 3,000 photons per image, the README's case) against
// the model their true orientations merge to: on count cells of the box's voxel the images
// come as close to the truth as on every pixel.
TEST(Cells, AGridMatchOnCountCellsFindsWhatEveryPixelFinds) {
  const auto g = grid_match_on_cells(reconstruct::test::counted(reconstruct::test::simulated_images(300, 64, 4), 3000, 9));
  ASSERT_GT(g.voxels, 0);
  EXPECT_LT(4 * g.cells, 64 * 64);
  EXPECT_GE(g.same, 180u);  // measured 205
  EXPECT_LT(g.cells_error, g.pixels_error + 1.5);
  EXPECT_LT(g.cells_error, 14.0);
}
