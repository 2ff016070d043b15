// The loop on the detector's cells (reconstruct/cells.hpp): the cells' values against a
// brute-force mean over their pixels, the grouping against the cubes it claims, the rule of
// the settings, and a loop that finds on cells the orientations it finds on every pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "matching/photon_scores.hpp"
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

// The settings' rule: auto on for intensities at the box's voxel, off for photon
// counts; on with photon counts is refused naming the setting; cells that would not be
// fewer than half the pixels are not used under auto.
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
  EXPECT_EQ(reconstruct::cell_voxels_for(st({"grid.n=25"}), counts, 5), 0);
  try {
    reconstruct::cell_voxels_for(st({"grid.n=25", "orientations.cells=on"}), counts, 5);
    ADD_FAILURE() << "photon counts on cells were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("orientations.cells"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reconstruct::on_cells(counts, 2.0, 25), Error);
}

// One grid match of noise-free images against the model their true orientations merge to:
// on cells of the box's voxel (fewer than a quarter of the pixels) the images find the
// references they find on every pixel, as close to the truth. Broken cells (values or
// positions) would send them elsewhere.
TEST(Cells, AGridMatchOnCellsFindsWhatEveryPixelFinds) {
  const auto d = reconstruct::test::simulated_images(300, 64, 4);
  auto st = reconstruct::load_settings("", {"grid.n=25", "orientations.references=2000", "runtime.fft_planning=estimate",
                                            "orientations.oracle=true", "generations.max=1"});
  const int box = reconstruct::loop_box(d, st, reconstruct::State());
  const double voxels = reconstruct::cell_voxels_for(st, d, box);
  ASSERT_GT(voxels, 0);
  const auto c = reconstruct::on_cells(d, voxels, 25);
  EXPECT_LT(4 * c.n_pixels, d.n_pixels);
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
  std::size_t same = 0;
  for (std::size_t i = 0; i < on_pixels.size(); ++i) same += geometry::angle_between(on_pixels[i], on_cells[i]) == 0;
  const double pixels_error = reconstruct::median_orientation_error(on_pixels, d.truth),
               cells_error = reconstruct::median_orientation_error(on_cells, d.truth);
  std::cout << c.n_pixels << " cells of " << voxels << " voxels for " << d.n_pixels << " pixels: " << same
            << " of 300 images on the same reference; median error " << cells_error << " deg on cells, " << pixels_error
            << " on every pixel\n";
  EXPECT_GE(same, 240u);
  EXPECT_LT(cells_error, pixels_error + 1.0);
  EXPECT_LT(cells_error, 12.0);  // the covering radius of 2000 references is about 15 degrees
}
