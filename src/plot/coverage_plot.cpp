#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "core/error.hpp"
#include "plot/image.hpp"
#include "plot/plots.hpp"

namespace spire::plot {

namespace {

constexpr double kPi = std::numbers::pi;

// Hammer-Aitoff: longitude lon in [-pi, pi], z = sin(latitude), to the map (x right, y up),
// |x| <= 2 sqrt 2, |y| <= sqrt 2.
Point hammer(double lon, double z) {
  const double c = std::sqrt(std::max(0.0, 1 - z * z)), den = std::sqrt(1 + c * std::cos(lon / 2));
  return {2 * std::numbers::sqrt2 * c * std::sin(lon / 2) / den, std::numbers::sqrt2 * z / den};
}

struct MapFrame {
  Point centre;
  double scale;  // points per map unit
  Point at(double lon, double z) const {
    const Point h = hammer(lon, z);
    return {centre.x + scale * h.x, centre.y - scale * h.y};
  }
};

// The cell's outline, its edges cut into steps so that they follow the map's curves.
std::vector<Point> cell_outline(const MapFrame& m, double lon0, double lon1, double z0, double z1) {
  constexpr int k = 12;
  std::vector<Point> pts;
  for (int i = 0; i <= k; ++i) pts.push_back(m.at(lon0 + (lon1 - lon0) * i / k, z0));
  for (int i = 0; i <= k; ++i) pts.push_back(m.at(lon1, z0 + (z1 - z0) * i / k));
  for (int i = 0; i <= k; ++i) pts.push_back(m.at(lon1 - (lon1 - lon0) * i / k, z1));
  for (int i = 0; i <= k; ++i) pts.push_back(m.at(lon0, z1 - (z1 - z0) * i / k));
  return pts;
}

void draw_cells(Figure& fig, const MapFrame& m, const CoverageHistogram& h, int top) {
  for (int r = 0; r < h.rows; ++r)
    for (int c = 0; c < h.cols; ++c) {
      const int count = h.counts[static_cast<std::size_t>(r) * h.cols + c];
      const double z1 = 1 - 2.0 * r / h.rows, z0 = 1 - 2.0 * (r + 1) / h.rows;
      const double lon0 = -kPi + 2 * kPi * c / h.cols, lon1 = -kPi + 2 * kPi * (c + 1) / h.cols;
      const Colour col = count == 0 ? kWhite : colour_at(ColourMap::viridis, static_cast<double>(count) / top);
      auto outline = cell_outline(m, lon0, lon1, z0, z1);
      fig.fill_polygon(outline, col);
      if (count == 0) fig.polyline(outline, {{0.8, 0.8, 0.8}, 0.5});  // an empty cell keeps its edges
    }
}

void draw_graticule(Figure& fig, const MapFrame& m) {
  const Line grid{kGrey, 0.5, true};
  for (double lat : {-60.0, -30.0, 0.0, 30.0, 60.0}) {
    std::vector<Point> pts;
    for (int i = 0; i <= 72; ++i) pts.push_back(m.at(-kPi + 2 * kPi * i / 72, std::sin(lat * kPi / 180)));
    fig.polyline(pts, grid);
  }
  for (double lon = -180; lon <= 180; lon += 60) {
    std::vector<Point> pts;
    for (int i = 0; i <= 48; ++i) pts.push_back(m.at(lon * kPi / 180, -1 + 2.0 * i / 48));
    fig.polyline(pts, lon == -180 || lon == 180 ? Line{kBlack, 0.8} : grid);
  }
  const struct {
    double lon, z;
    const char* name;
    Anchor anchor;
  } axes[] = {{0, 0, "+x", {0, 1}}, {kPi / 2, 0, "+y", {0, 1}}, {-kPi / 2, 0, "−y", {0, 1}},
              {0, 1, "+z", {0.5, 1}}, {0, -1, "−z", {0.5, 0}}};
  for (const auto& a : axes) {
    const Point p = m.at(a.lon, a.z);
    fig.circle(p, 1.5, {kBlack, 1.5});
    fig.text(a.name, {p.x + (a.anchor.h == 0 ? 3 : 0), p.y + (a.anchor.v == 0 ? 4 : -3)}, 9, a.anchor);
  }
}

}  // namespace

double CoverageHistogram::empty_fraction() const {
  if (counts.empty()) return 1;
  return static_cast<double>(std::count(counts.begin(), counts.end(), 0)) / static_cast<double>(counts.size());
}

int coverage_rows(std::size_t m) {
  const double rows = std::sqrt(static_cast<double>(m) / 16);
  return std::clamp(static_cast<int>(std::lround(rows)), 3, 24);
}

CoverageHistogram coverage_histogram(std::span<const std::array<double, 3>> directions, int rows) {
  if (rows < 1) fail("coverage histogram: needs at least one row");
  CoverageHistogram h{rows, 2 * rows, std::vector<int>(static_cast<std::size_t>(2 * rows * rows), 0), 0};
  for (const auto& d : directions) {
    const double len = std::hypot(d[0], d[1], d[2]);
    if (!(len > 0) || !std::isfinite(len)) continue;
    const int r = std::clamp(static_cast<int>((1 - d[2] / len) / 2 * rows), 0, rows - 1);
    const int c = std::clamp(static_cast<int>((std::atan2(d[1], d[0]) + kPi) / (2 * kPi) * h.cols), 0, h.cols - 1);
    ++h.counts[static_cast<std::size_t>(r) * h.cols + c];
    ++h.total;
  }
  return h;
}

Figure coverage_figure(std::span<const std::array<double, 3>> directions, const std::string& what) {
  const auto h = coverage_histogram(directions, coverage_rows(directions.size()));
  const int top = std::max(1, *std::max_element(h.counts.begin(), h.counts.end()));
  const double width = 700, height = 400;
  Figure fig(width, height);
  char title[160];
  std::snprintf(title, sizeof title, "Coverage of %s: %d images, %.0f%% of %d equal-area cells empty", what.c_str(),
                h.total, 100 * h.empty_fraction(), h.rows * h.cols);
  fig.text(title, {width / 2, 8}, 13, {0.5, 0}, kBlack, true);
  fig.text("Hammer-Aitoff equal-area map of the sphere, molecule frame (white: no image)", {width / 2, 28}, 9,
           {0.5, 0}, {0.3, 0.3, 0.3});
  const MapFrame m{{20 + 2 * std::numbers::sqrt2 * 105, 60 + std::numbers::sqrt2 * 105}, 105};
  draw_cells(fig, m, h, top);
  draw_graticule(fig, m);
  const double map_right = m.centre.x + 2 * std::numbers::sqrt2 * m.scale;
  draw_colour_bar(fig, {map_right + 30, 80, 12, 260}, {0, static_cast<double>(top)}, ColourMap::viridis,
                  "images per cell");
  return fig;
}

}  // namespace spire::plot
