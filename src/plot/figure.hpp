#pragma once
// A figure: one drawing, written as PNG and SVG (issue 17: plots a scientist can read).
//
// Contract:
//  - Coordinates are in points, (0, 0) the top left corner, y down. A figure of w x h points
//    is a PNG of round(w scale) x round(h scale) pixels (scale 1.5 unless given) and an SVG of
//    w x h points.
//  - One drawing, two files: every call draws once onto a cairo recording surface; write_png
//    and write_svg replay that recording onto an image surface and an SVG surface, so the two
//    files show the same figure (the SVG keeps lines and text as vectors, images as embedded
//    PNGs with each pixel repeated so that viewers' smoothing does not blur them).
//  - Text is drawn with cairo's toy font API in "DejaVu Sans" (fonts-dejavu-core), UTF-8. In
//    the SVG cairo writes text as glyph outlines, not as <text>, so the figure also keeps a
//    list of every string it drew with its bounding box (texts()), and write_svg adds them
//    as an invisible <text> layer over the outlines (searchable, selectable, read by screen
//    readers). The tests read that list and the SVG's layer, and look for dark pixels
//    inside the boxes in the PNG.
//  - Files are written atomically: drawn into PATH.tmp-<pid> beside PATH (core/files.hpp),
//    then renamed; on failure the temporary file is removed and an Error names PATH.
//  - Colours are RGB in [0, 1].
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace spire::plot {

struct Colour {
  double r = 0, g = 0, b = 0;
};
inline constexpr Colour kBlack{0, 0, 0};
inline constexpr Colour kWhite{1, 1, 1};
inline constexpr Colour kGrey{0.55, 0.55, 0.55};
inline constexpr Colour kLightGrey{0.88, 0.88, 0.88};
// Curve colours, in order (Okabe-Ito): blue, orange, bluish green, reddish purple.
inline constexpr Colour kCurveColours[4] = {{0.0, 0.447, 0.698}, {0.902, 0.624, 0.0}, {0.0, 0.620, 0.451},
                                            {0.800, 0.475, 0.655}};
inline constexpr const char* kCurveColourNames[4] = {"blue", "orange", "green", "purple"};

struct Point {
  double x = 0, y = 0;
};
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool contains(Point p) const { return p.x >= x && p.x <= right() && p.y >= y && p.y <= bottom(); }
};

// Where a string's anchor point sits on its box: h = 0 left, 0.5 centre, 1 right;
// v = 0 top, 0.5 middle, 1 baseline-bottom.
struct Anchor {
  double h = 0, v = 1;
};

struct Line {
  Colour colour = kBlack;
  double width = 1;
  bool dashed = false;
  double alpha = 1;
};

struct TextItem {
  std::string text;
  Rect box;  // the ink's bounding box, in figure points (unrotated text only; rotated: its extent)
};

class Figure {
 public:
  Figure(double width, double height);  // points; starts white
  ~Figure();
  Figure(Figure&&) noexcept;
  Figure& operator=(Figure&&) noexcept;
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

  double width() const { return width_; }
  double height() const { return height_; }

  void polyline(std::span<const Point> points, const Line& style);
  void line(Point a, Point b, const Line& style);
  void fill_rect(const Rect& r, Colour c, double alpha = 1);
  void stroke_rect(const Rect& r, const Line& style);
  void fill_polygon(std::span<const Point> points, Colour c, double alpha = 1);
  void circle(Point centre, double radius, const Line& style);
  // Text of `size` points; angle in degrees, counter-clockwise (90: reads upward). Returns
  // its box and records it in texts().
  Rect text(const std::string& s, Point at, double size, Anchor anchor = {}, Colour c = kBlack, bool bold = false,
            double angle = 0);
  double text_width(const std::string& s, double size, bool bold = false) const;
  // An RGB image (3 bytes a pixel, rows top to bottom) stretched onto `dest`, pixels kept
  // sharp (nearest neighbour).
  void image(std::span<const std::uint8_t> rgb, int columns, int rows, const Rect& dest);
  // Drawing is clipped to `r` until pop_clip().
  void push_clip(const Rect& r);
  void pop_clip();

  const std::vector<TextItem>& texts() const { return texts_; }

  void write_png(const std::string& path, double scale = 1.5) const;
  void write_svg(const std::string& path) const;
  // PATH (a .png) and PATH with the extension .svg.
  void write_png_and_svg(const std::string& png_path, double scale = 1.5) const;

 private:
  struct Cairo;
  double width_, height_;
  std::unique_ptr<Cairo> cairo_;
  std::vector<TextItem> texts_;
};

}  // namespace spire::plot
