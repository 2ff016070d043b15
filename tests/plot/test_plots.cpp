// The figures: what each one writes (texts, sizes, not blank), the crop box and the
// coverage histogram.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <numbers>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "plot/plots.hpp"
#include "plot_helpers.hpp"

using namespace spire::plot;

namespace {

bool has_text(const Figure& f, const std::string& s) {
  return std::any_of(f.texts().begin(), f.texts().end(), [&](const TextItem& t) { return t.text == s; });
}
bool has_text_containing(const Figure& f, const std::string& s) {
  return std::any_of(f.texts().begin(), f.texts().end(),
                     [&](const TextItem& t) { return t.text.find(s) != std::string::npos; });
}
const TextItem* find_text(const Figure& f, const std::string& s) {
  for (const auto& t : f.texts())
    if (t.text == s) return &t;
  return nullptr;
}

FscPlot two_curves() {
  FscPlot p{32, 2.0, {}};
  std::vector<double> a(17), b(17);
  for (int k = 0; k <= 16; ++k) a[k] = std::exp(-k / 6.0), b[k] = 1 / (1 + std::pow(k / 9.0, 4));
  p.curves = {{"against the model", a, "0.5: 16.6 Å, 0.143: 8.5 Å"}, {"half data", b, ""}};
  return p;
}

std::vector<double> blob(int n, double sigma) {
  std::vector<double> m(static_cast<std::size_t>(n) * n * n);
  const double c = n / 2;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        m[(static_cast<std::size_t>(z) * n + y) * n + x] =
            std::exp(-((x - c) * (x - c) + (y - c) * (y - c) + (z - c) * (z - c)) / (2 * sigma * sigma));
  return m;
}

}  // namespace

TEST(Plots, FscTextsAndPixels) {
  const auto dir = test_dir("fsc");
  const Figure f = fsc_figure(two_curves());
  for (const char* s : {"spatial frequency (1/Å)", "FSC", "resolution (Å)", "0.5", "0.143", "0.0", "1.0"})
    EXPECT_TRUE(has_text(f, s)) << s;
  EXPECT_TRUE(has_text(f, "against the model (0.5: 16.6 Å, 0.143: 8.5 Å)"));
  EXPECT_TRUE(has_text(f, "half data"));
  // Top axis: resolutions at round values; the grid's edge is 1/(2 v) = 0.25/A (4 A).
  EXPECT_TRUE(has_text(f, "10"));
  EXPECT_TRUE(has_text(f, "4"));
  EXPECT_FALSE(has_text(f, "3"));
  // Frequencies, not shell indices: the last x tick is 0.25 (1/A).
  EXPECT_TRUE(has_text(f, "0.25") || has_text(f, "0.2"));
  EXPECT_FALSE(has_text(f, "16"));
  f.write_png_and_svg((dir / "fsc.png").string());
  const Png p = read_png((dir / "fsc.png").string());
  EXPECT_EQ(p.width, static_cast<int>(std::lround(f.width() * 1.5)));
  EXPECT_EQ(p.height, static_cast<int>(std::lround(f.height() * 1.5)));
  EXPECT_GT(colours(p), 20u);
  const TextItem* label = find_text(f, "0.143");
  ASSERT_NE(label, nullptr);
  EXPECT_GT(dark_pixels(p, label->box, 1.5), 10);
  // The SVG: glyph outlines, and the strings in its text layer.
  std::ifstream in(dir / "fsc.svg");
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* s : {">spatial frequency (1/Å)</text>", ">resolution (Å)</text>", ">0.143</text>",
                        ">against the model (0.5: 16.6 Å, 0.143: 8.5 Å)</text>"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  EXPECT_LT(svg.find("<g id=\"text\""), svg.rfind("</svg>"));
}

TEST(Plots, FscRejectsBadCurves) {
  FscPlot p = two_curves();
  p.curves[1].fsc.pop_back();
  EXPECT_THROW(fsc_figure(p), spire::Error);
  EXPECT_THROW(fsc_figure(FscPlot{32, 2.0, {}}), spire::Error);
}

TEST(Plots, ConvergencePanelsAndStages) {
  ConvergenceData d;
  d.stage = {"start", "search", "search", "search", "refine", "refine", "local", "local"};
  d.fit = {NAN, 0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.07};
  d.moved = {1, 0.8, 0.5, 0.3, 0.1, 0.05, 0.02, 0.01};
  d.fourier_error = {0.4, 0.3, 0.25, 0.2, 0.18, 0.17, 0.16, 0.16};
  const Figure without = convergence_figure(d);
  EXPECT_FALSE(has_text(without, "orient. error (°)"));
  d.median_error_deg = {-1, 40, 20, 10, 5, 3, 2, -1};
  d.resolution_angstrom = {-1, -1, -1, -1, -1, -1, -1, -1};  // nothing known: no panel
  const Figure f = convergence_figure(d);
  for (const char* s : {"fit", "moved", "Fourier error", "orient. error (°)", "generation", "search", "refine", "local"})
    EXPECT_TRUE(has_text(f, s)) << s;
  EXPECT_FALSE(has_text(f, "resolution (Å)"));
  EXPECT_GT(f.height(), without.height());
  d.resolution_angstrom[3] = 20;
  EXPECT_TRUE(has_text(convergence_figure(d), "resolution (Å)"));
  d.moved.pop_back();
  EXPECT_THROW(convergence_figure(d), spire::Error);
  const auto dir = test_dir("convergence");
  f.write_png((dir / "c.png").string());
  EXPECT_GT(colours(read_png((dir / "c.png").string())), 20u);
}

TEST(Plots, CropBoxOfAGaussianBlob) {
  // exp(-r^2 / 2 sigma^2) > 0.1 for r < sigma sqrt(2 ln 10) = 2.146 sigma.
  const int n = 48;
  const double sigma = 3;
  const auto m = blob(n, sigma);
  const Box b = crop_box(n, m, 0.1, 2);
  const int reach = static_cast<int>(std::floor(sigma * std::sqrt(2 * std::log(10.0))));  // 6
  for (int a = 0; a < 3; ++a) {
    EXPECT_EQ(b.lo[a], n / 2 - reach - 2) << a;
    EXPECT_EQ(b.hi[a], n / 2 + reach + 1 + 2) << a;
  }
  const Box wide = crop_box(n, blob(n, 30), 0.1, 3);  // clipped to the grid
  EXPECT_EQ(wide.lo, (std::array<int, 3>{0, 0, 0}));
  EXPECT_EQ(wide.hi, (std::array<int, 3>{n, n, n}));
  const Box none = crop_box(n, std::vector<double>(static_cast<std::size_t>(n) * n * n, -1.0));
  EXPECT_EQ(none.hi, (std::array<int, 3>{n, n, n}));
}

TEST(Plots, SlicesFigures) {
  const auto dir = test_dir("slices");
  const int n = 48;
  const auto m = blob(n, 3);
  const Figure d = density_slices_figure(n, m, 2.5);
  for (const char* s : {"XY (z = centre)", "XZ (y = centre)", "YZ (x = centre)", "density"})
    EXPECT_TRUE(has_text(d, s)) << s;
  EXPECT_TRUE(has_text_containing(d, " Å"));  // the scale bar
  d.write_png_and_svg((dir / "density.png").string());
  const Png p = read_png((dir / "density.png").string());
  EXPECT_EQ(p.width, static_cast<int>(std::lround(d.width() * 1.5)));
  EXPECT_GT(colours(p), 20u);
  const Figure i = intensity_slices_figure(n, m, n / 2.0, 0.01);
  EXPECT_TRUE(has_text(i, "log10 I"));
  EXPECT_TRUE(has_text_containing(i, "1/Å"));
  i.write_png((dir / "intensity.png").string());
  EXPECT_GT(colours(read_png((dir / "intensity.png").string())), 20u);
  EXPECT_THROW(density_slices_figure(n, std::vector<double>(10), 1), spire::Error);
}

TEST(Plots, CoverageOfOnePoleLeavesCellsEmpty) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g(0, 0.1);
  std::vector<std::array<double, 3>> d(2000);
  for (auto& v : d) v = {g(rng), g(rng), 1};
  const auto h = coverage_histogram(d, coverage_rows(d.size()));
  EXPECT_EQ(h.total, 2000);
  EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.begin() + h.cols, 0), 2000);  // all in the top band
  EXPECT_GT(h.empty_fraction(), 0.85);
  const Figure f = coverage_figure(d);
  EXPECT_TRUE(has_text_containing(f, "2000 images"));
  EXPECT_TRUE(has_text_containing(f, "cells empty"));
}

TEST(Plots, UniformCoverageFillsEqualAreaCells) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(0, 1);
  std::vector<std::array<double, 3>> d(20000);
  for (auto& v : d) v = {g(rng), g(rng), g(rng)};
  const int rows = 10;
  const auto h = coverage_histogram(d, rows);
  ASSERT_EQ(h.counts.size(), 200u);
  EXPECT_EQ(h.empty_fraction(), 0);
  // Equal areas: every cell's count is Poisson with mean 100; 5 sigma = 50.
  for (int c : h.counts) EXPECT_NEAR(c, 100, 50);
  // The polar bands hold as many as the equatorial ones.
  const auto band = [&](int r) { return std::accumulate(h.counts.begin() + r * h.cols, h.counts.begin() + (r + 1) * h.cols, 0); };
  EXPECT_NEAR(band(0), 2000, 5 * std::sqrt(2000.0));
  EXPECT_NEAR(band(rows / 2), 2000, 5 * std::sqrt(2000.0));
  const auto dir = test_dir("coverage");
  coverage_figure(d).write_png_and_svg((dir / "coverage.png").string());
  EXPECT_GT(colours(read_png((dir / "coverage.png").string())), 20u);
}
