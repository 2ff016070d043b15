// The generic layer: ticks, the atomic PNG/SVG writers, and that text reaches the pixels.
//
// How text is tested: cairo's SVG surface writes glyph outlines, not <text>, so a string
// cannot be found in the SVG. Every string a Figure draws is recorded with its ink box
// (Figure::texts()); the tests check that list, and that the PNG, read back with cairo, has
// dark pixels inside the box of a label (and none there in a figure without it).
#include <cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "plot/axes.hpp"
#include "plot/figure.hpp"
#include "plot_helpers.hpp"

namespace fs = std::filesystem;
using namespace spire::plot;

TEST(Plot, NiceTicks) {
  EXPECT_EQ(nice_ticks({0, 1}, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks({-0.1, 1.05}, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks({0.5, 7.5}, 10, true), (std::vector<double>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(nice_ticks({0.5, 3.5}, 10, true), (std::vector<double>{1, 2, 3}));  // never steps below 1
  EXPECT_EQ(nice_ticks({0, 230}, 5), (std::vector<double>{0, 50, 100, 150, 200}));
  EXPECT_TRUE(nice_ticks({1, 1}, 5).empty());
  EXPECT_EQ(tick_label(0.2, 0.2), "0.2");
  EXPECT_EQ(tick_label(-1e-17, 0.2), "0.0");
  EXPECT_EQ(tick_label(150, 50), "150");
  EXPECT_EQ(tick_label(0.05, 0.05), "0.05");
}

TEST(Plot, TextIsRecordedAndReachesThePixels) {
  const auto dir = test_dir("text");
  Figure with(200, 100), without(200, 100);
  const Rect box = with.text("Label 0.143", {20, 50}, 14);
  ASSERT_EQ(with.texts().size(), 1u);
  EXPECT_EQ(with.texts()[0].text, "Label 0.143");
  EXPECT_GT(box.w, 50);
  EXPECT_GT(box.h, 8);
  EXPECT_LT(box.bottom(), 51);  // anchored on its baseline: "Label 0.143" has no descender
  with.write_png((dir / "with.png").string(), 2);
  without.write_png((dir / "without.png").string(), 2);
  const Png a = read_png((dir / "with.png").string()), b = read_png((dir / "without.png").string());
  ASSERT_EQ(a.width, 400);
  ASSERT_EQ(a.height, 200);
  EXPECT_GT(dark_pixels(a, box, 2), 40);
  EXPECT_EQ(dark_pixels(b, box, 2), 0);
  EXPECT_EQ(dark_pixels(a, {120, 60, 70, 30}, 2), 0);  // nothing outside the text
}

TEST(Plot, RotatedTextBoxIsTall) {
  Figure f(100, 200);
  const Rect box = f.text("a vertical title", {50, 100}, 10, {0.5, 0.5}, kBlack, false, 90);
  EXPECT_GT(box.h, 3 * box.w);
}

TEST(Plot, PngAndSvgFromOneDrawing) {
  const auto dir = test_dir("both");
  Figure f(320, 200);
  f.fill_rect({10, 10, 100, 50}, kCurveColours[0]);
  f.text("hello", {150, 100}, 12);
  f.write_png_and_svg((dir / "f.png").string());
  const Png p = read_png((dir / "f.png").string());
  EXPECT_EQ(p.width, 480);
  EXPECT_EQ(p.height, 300);
  EXPECT_GT(dark_pixels(p, {10, 10, 100, 50}, 1.5), 100 * 50 * 2);  // the blue box
  std::ifstream svg(dir / "f.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("width=\"320"), std::string::npos);
  EXPECT_NE(text.find("glyph"), std::string::npos);  // cairo's text: glyph outlines
}

TEST(Plot, UnwritablePathNamesTheFileAndLeavesNoTemporary) {
  const auto dir = test_dir("unwritable");
  Figure f(50, 50);
  const std::string missing = (dir / "no-such-dir" / "plot.png").string();
  for (int svg = 0; svg < 2; ++svg) {
    const std::string path = svg ? (dir / "no-such-dir" / "plot.svg").string() : missing;
    try {
      svg ? f.write_svg(path) : f.write_png(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const spire::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  // A directory where the file should go: the rename fails; the temporary must go.
  fs::create_directories(dir / "taken.png" / "inside");
  EXPECT_THROW(f.write_png((dir / "taken.png").string()), spire::Error);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}
