#include "plot/figure.hpp"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/markup.hpp"

namespace spire::plot {

struct Figure::Cairo {
  cairo_surface_t* surface = nullptr;  // the recording
  cairo_t* cr = nullptr;
  ~Cairo() {
    if (cr) cairo_destroy(cr);
    if (surface) cairo_surface_destroy(surface);
  }
};

namespace {

constexpr const char* kFont = "DejaVu Sans";

void set_line(cairo_t* cr, const Line& s) {
  cairo_set_source_rgba(cr, s.colour.r, s.colour.g, s.colour.b, s.alpha);
  cairo_set_line_width(cr, s.width);
  const double dash[] = {4 * s.width + 2, 2.5 * s.width + 1.5};
  cairo_set_dash(cr, dash, s.dashed ? 2 : 0, 0);
}

void select_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// Removes the temporary file and fails naming `path` when the cairo status is an error.
void check(cairo_status_t status, const std::string& tmp, const std::string& path, const char* what) {
  if (status == CAIRO_STATUS_SUCCESS) return;
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  fail_in(path, std::string("cannot write the ") + what + ": " + cairo_status_to_string(status));
}

void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    fail_in(path, "cannot move " + tmp + " into place: " + why);
  }
}

// The figure's strings as invisible <text> over their glyph outlines, before </svg>: the
// SVG's text can then be searched, selected and read by screen readers (as a PDF's text
// layer over a scan). Returns false when the file is not the SVG cairo wrote.
bool add_text_layer(const std::string& tmp, const std::vector<TextItem>& texts) {
  std::ifstream in(tmp, std::ios::binary);
  std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto end = svg.rfind("</svg>");
  if (!in.good() && !in.eof()) return false;
  if (end == std::string::npos) return false;
  std::string layer = "<g id=\"text\" fill-opacity=\"0\" font-family=\"DejaVu Sans\">\n";
  for (const auto& t : texts)
    layer += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"{:.2f}\" textLength=\"{:.2f}\">{}</text>\n",
                         t.box.x, t.box.y + t.box.h, std::max(t.box.h, 1.0), std::max(t.box.w, 1.0),
                         escape_markup(t.text));
  svg.insert(end, layer + "</g>\n");
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out << svg;
  return static_cast<bool>(out.flush());
}

// Draws the recording onto `target` at `scale`; the status of the drawing.
cairo_status_t replay(cairo_surface_t* recording, cairo_surface_t* target, double scale) {
  cairo_t* cr = cairo_create(target);
  cairo_scale(cr, scale, scale);
  cairo_set_source_surface(cr, recording, 0, 0);
  cairo_paint(cr);
  const cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  return status;
}

}  // namespace

Figure::Figure(double width, double height) : width_(width), height_(height), cairo_(std::make_unique<Cairo>()) {
  if (!(width >= 1 && height >= 1)) fail("a figure must be at least 1 x 1 point");
  const cairo_rectangle_t extents{0, 0, width, height};
  cairo_->surface = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
  cairo_->cr = cairo_create(cairo_->surface);
  fill_rect({0, 0, width, height}, kWhite);
}

Figure::~Figure() = default;
Figure::Figure(Figure&&) noexcept = default;
Figure& Figure::operator=(Figure&&) noexcept = default;

void Figure::polyline(std::span<const Point> points, const Line& style) {
  if (points.size() < 2) return;
  cairo_t* cr = cairo_->cr;
  cairo_move_to(cr, points[0].x, points[0].y);
  for (std::size_t i = 1; i < points.size(); ++i) cairo_line_to(cr, points[i].x, points[i].y);
  set_line(cr, style);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_stroke(cr);
}

void Figure::line(Point a, Point b, const Line& style) {
  const Point p[] = {a, b};
  polyline(p, style);
}

void Figure::fill_rect(const Rect& r, Colour c, double alpha) {
  cairo_rectangle(cairo_->cr, r.x, r.y, r.w, r.h);
  cairo_set_source_rgba(cairo_->cr, c.r, c.g, c.b, alpha);
  cairo_fill(cairo_->cr);
}

void Figure::stroke_rect(const Rect& r, const Line& style) {
  cairo_rectangle(cairo_->cr, r.x, r.y, r.w, r.h);
  set_line(cairo_->cr, style);
  cairo_stroke(cairo_->cr);
}

void Figure::fill_polygon(std::span<const Point> points, Colour c, double alpha) {
  if (points.size() < 3) return;
  cairo_t* cr = cairo_->cr;
  cairo_move_to(cr, points[0].x, points[0].y);
  for (std::size_t i = 1; i < points.size(); ++i) cairo_line_to(cr, points[i].x, points[i].y);
  cairo_close_path(cr);
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
  // A hairline of the same colour closes the seams antialiasing leaves between cells.
  cairo_fill_preserve(cr);
  cairo_set_line_width(cr, 0.3);
  cairo_stroke(cr);
}

void Figure::circle(Point centre, double radius, const Line& style) {
  cairo_new_sub_path(cairo_->cr);
  cairo_arc(cairo_->cr, centre.x, centre.y, radius, 0, 2 * std::numbers::pi);
  set_line(cairo_->cr, style);
  cairo_stroke(cairo_->cr);
}

double Figure::text_width(const std::string& s, double size, bool bold) const {
  select_font(cairo_->cr, size, bold);
  cairo_text_extents_t e;
  cairo_text_extents(cairo_->cr, s.c_str(), &e);
  return e.x_advance;
}

Rect Figure::text(const std::string& s, Point at, double size, Anchor anchor, Colour c, bool bold, double angle) {
  cairo_t* cr = cairo_->cr;
  select_font(cr, size, bold);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  const double cap = 0.73 * size;  // DejaVu Sans' cap height
  const double dx = -anchor.h * e.x_advance, dy = (1 - anchor.v) * cap;
  const double a = -angle * std::numbers::pi / 180;
  cairo_save(cr);
  cairo_translate(cr, at.x, at.y);
  cairo_rotate(cr, a);
  cairo_move_to(cr, dx, dy);
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
  // The ink box in the text's frame, turned into the figure's.
  const double xs[2] = {dx + e.x_bearing, dx + e.x_bearing + e.width};
  const double ys[2] = {dy + e.y_bearing, dy + e.y_bearing + e.height};
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (double x : xs)
    for (double y : ys) {
      const double fx = at.x + x * std::cos(a) - y * std::sin(a), fy = at.y + x * std::sin(a) + y * std::cos(a);
      x0 = std::min(x0, fx), x1 = std::max(x1, fx), y0 = std::min(y0, fy), y1 = std::max(y1, fy);
    }
  const Rect box{x0, y0, x1 - x0, y1 - y0};
  texts_.push_back({s, box});
  return box;
}

namespace {

// An RGB24 surface of the image with each pixel repeated `k` x `k` times (cairo owns it).
cairo_surface_t* pixel_surface(std::span<const std::uint8_t> rgb, int columns, int rows, int k) {
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, columns * k, rows * k);
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  for (int r = 0; r < rows * k; ++r)
    for (int c = 0; c < columns * k; ++c) {
      const std::uint8_t* p = &rgb[(static_cast<std::size_t>(r / k) * columns + c / k) * 3];
      auto* px = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(r) * stride) + c;
      *px = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    }
  cairo_surface_mark_dirty(img);
  return img;
}

}  // namespace

void Figure::image(std::span<const std::uint8_t> rgb, int columns, int rows, const Rect& dest) {
  if (columns < 1 || rows < 1 || rgb.size() != static_cast<std::size_t>(columns) * rows * 3)
    fail("plot: an image needs 3 bytes for each of its pixels");
  // The SVG surface (cairo 1.16) drops the nearest-neighbour filter and viewers smooth
  // embedded images: repeating each pixel (about 2 per point of `dest`) keeps them sharp.
  const double per_pixel = std::max(dest.w / columns, dest.h / rows);
  const int k = std::clamp(static_cast<int>(std::ceil(2 * per_pixel)), 1, 16);
  cairo_surface_t* img = pixel_surface(rgb, columns, rows, k);
  cairo_t* cr = cairo_->cr;
  cairo_save(cr);
  cairo_rectangle(cr, dest.x, dest.y, dest.w, dest.h);
  cairo_clip(cr);
  cairo_translate(cr, dest.x, dest.y);
  cairo_scale(cr, dest.w / (columns * k), dest.h / (rows * k));
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);  // the recording holds its own reference
}

void Figure::push_clip(const Rect& r) {
  cairo_save(cairo_->cr);
  cairo_rectangle(cairo_->cr, r.x, r.y, r.w, r.h);
  cairo_clip(cairo_->cr);
}

void Figure::pop_clip() { cairo_restore(cairo_->cr); }

void Figure::write_png(const std::string& path, double scale) const {
  if (!(scale > 0)) fail_in(path, "the PNG scale must be > 0");
  const int w = static_cast<int>(std::lround(width_ * scale)), h = static_cast<int>(std::lround(height_ * scale));
  const std::string tmp = temporary_path(path);
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_status_t status = replay(cairo_->surface, img, scale);
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_write_to_png(img, tmp.c_str());
  cairo_surface_destroy(img);
  check(status, tmp, path, "PNG");
  commit(tmp, path);
}

void Figure::write_svg(const std::string& path) const {
  const std::string tmp = temporary_path(path);
  cairo_surface_t* svg = cairo_svg_surface_create(tmp.c_str(), width_, height_);
  cairo_status_t status = cairo_surface_status(svg);
  if (status == CAIRO_STATUS_SUCCESS) status = replay(cairo_->surface, svg, 1);
  cairo_surface_finish(svg);  // writes the file
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(svg);
  cairo_surface_destroy(svg);
  check(status, tmp, path, "SVG");
  if (!add_text_layer(tmp, texts_)) check(CAIRO_STATUS_WRITE_ERROR, tmp, path, "SVG's text layer");
  commit(tmp, path);
}

void Figure::write_png_and_svg(const std::string& png_path, double scale) const {
  write_png(png_path, scale);
  write_svg(std::filesystem::path(png_path).replace_extension(".svg").string());
}

}  // namespace spire::plot
