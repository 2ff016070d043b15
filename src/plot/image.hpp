#pragma once
// Image panels: values through a colour map, a colour bar and a scale bar.
//
// Contract:
//  - colour_at(map, t): t in [0, 1] (clamped; NaN gives the lowest colour). grey runs from
//    black to white; viridis is matplotlib's perceptually uniform map (dark blue to yellow),
//    interpolated between 11 of its colours.
//  - draw_values: `values` has rows x columns entries, row 0 at the top; each value v is
//    shown as colour_at((v - range.lo) / (range.hi - range.lo)).
//  - The scale bar's length is a nice round number of `unit` (1, 2 or 5 x 10^k) no longer
//    than `max_points`.
#include <span>
#include <string>

#include "plot/axes.hpp"
#include "plot/figure.hpp"

namespace spire::plot {

enum class ColourMap { grey, viridis };
Colour colour_at(ColourMap map, double t);

void draw_values(Figure& fig, const Rect& dest, std::span<const double> values, int columns, int rows, Range range,
                 ColourMap map);
// A vertical colour bar in `area` from range.lo (bottom) to range.hi, ticks on the right.
void draw_colour_bar(Figure& fig, const Rect& area, Range range, ColourMap map, const std::string& title,
                     double font = 9);
// A white-on-dark scale bar with its left end at `at` (the bar's bottom left).
void draw_scale_bar(Figure& fig, Point at, double points_per_unit, double max_points, const std::string& unit,
                    double font = 9);

}  // namespace spire::plot
