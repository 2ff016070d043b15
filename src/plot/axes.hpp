#pragma once
// The generic layer of the plots: axes with nice ticks, titles, curves, labelled lines,
// shaded ranges, a secondary top axis and a legend, drawn onto a Figure (figure.hpp).
//
// Contract:
//  - An Axes maps data (x, y) linearly onto its area (points, y down): x.lo at the left
//    edge, y.lo at the bottom. Curves and lines are clipped to the area.
//  - nice_ticks: the multiples of 1, 2 or 5 x 10^k inside [lo, hi] (ends included within
//    1e-9 of a step), about `target` of them, at least 2 when the range allows; with
//    `integer` the step is at least 1. tick_label writes a tick with the decimals its step
//    needs ("0.2", "10", never "-0").
//  - NaN points break a curve (unknown values are left out, not joined across).
#include <span>
#include <string>
#include <vector>

#include "plot/figure.hpp"

namespace spire::plot {

struct Range {
  double lo = 0, hi = 1;
};

std::vector<double> nice_ticks(Range r, int target = 6, bool integer = false);
std::string tick_label(double value, double step);

struct Axes {
  Figure* fig = nullptr;
  Rect area;
  Range x, y;
  double px(double v) const { return area.x + (v - x.lo) / (x.hi - x.lo) * area.w; }
  double py(double v) const { return area.bottom() - (v - y.lo) / (y.hi - y.lo) * area.h; }
  Point at(double xv, double yv) const { return {px(xv), py(yv)}; }
};

struct AxisStyle {
  std::string x_title, y_title;
  bool x_tick_labels = true;   // off for the upper panels of a shared x axis
  bool x_integer = false;      // integer x ticks (generations)
  int x_ticks = 7, y_ticks = 5;
  double font = 10;
};
// Grid, frame, ticks, tick labels and axis titles.
void draw_axes(const Axes& ax, const AxisStyle& style);

void draw_curve(const Axes& ax, std::span<const double> xs, std::span<const double> ys, const Line& style,
                bool markers = false);
// A horizontal line across the area at y, its label just right of the frame.
void draw_hline(const Axes& ax, double y, const Line& style, const std::string& label, double font = 9);
// The x range shaded over the full height; the label (if any) at its top left, inside.
void shade_x(const Axes& ax, Range x, Colour c, const std::string& label, double font = 8);

// A secondary axis along the top: ticks at data x positions with their own labels.
struct TopTick {
  double x = 0;
  std::string label;
};
void draw_top_axis(const Axes& ax, std::span<const TopTick> ticks, const std::string& title, double font = 10);

struct LegendEntry {
  std::string label;
  Line line;
};
// A legend box, entries one a line, its top left corner at `at`; returns the box.
Rect draw_legend(Figure& fig, Point at, std::span<const LegendEntry> entries, double font = 10);

}  // namespace spire::plot
