#include "plot/image.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace spire::plot {

namespace {

// matplotlib's viridis at t = 0, 0.1, ..., 1.
constexpr std::array<Colour, 11> kViridis{{{0.267, 0.005, 0.329},
                                           {0.283, 0.141, 0.458},
                                           {0.254, 0.265, 0.530},
                                           {0.207, 0.372, 0.553},
                                           {0.164, 0.471, 0.558},
                                           {0.128, 0.567, 0.551},
                                           {0.135, 0.659, 0.518},
                                           {0.267, 0.749, 0.441},
                                           {0.478, 0.821, 0.318},
                                           {0.741, 0.873, 0.150},
                                           {0.993, 0.906, 0.144}}};

std::uint8_t byte(double v) { return static_cast<std::uint8_t>(std::lround(255 * std::clamp(v, 0.0, 1.0))); }

}  // namespace

Colour colour_at(ColourMap map, double t) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  if (map == ColourMap::grey) return {t, t, t};
  const double u = t * (kViridis.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(u), kViridis.size() - 2);
  const double f = u - static_cast<double>(i);
  const Colour a = kViridis[i], b = kViridis[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

void draw_values(Figure& fig, const Rect& dest, std::span<const double> values, int columns, int rows, Range range,
                 ColourMap map) {
  std::vector<std::uint8_t> rgb(values.size() * 3);
  const double span = range.hi > range.lo ? range.hi - range.lo : 1.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Colour c = colour_at(map, (values[i] - range.lo) / span);
    rgb[3 * i] = byte(c.r), rgb[3 * i + 1] = byte(c.g), rgb[3 * i + 2] = byte(c.b);
  }
  fig.image(rgb, columns, rows, dest);
}

void draw_colour_bar(Figure& fig, const Rect& area, Range range, ColourMap map, const std::string& title,
                     double font) {
  constexpr int steps = 128;
  std::vector<double> ramp(steps);
  for (int i = 0; i < steps; ++i) ramp[static_cast<std::size_t>(i)] = range.hi - (range.hi - range.lo) * (i + 0.5) / steps;
  draw_values(fig, area, ramp, 1, steps, range, map);
  fig.stroke_rect(area, {kBlack, 0.6});
  const Axes ax{&fig, area, {0, 1}, range};
  const auto ticks = nice_ticks(range, 5);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (double v : ticks) {
    fig.line({area.right(), ax.py(v)}, {area.right() + 3, ax.py(v)}, {kBlack, 0.6});
    fig.text(tick_label(v, step), {area.right() + 5, ax.py(v)}, font, {0, 0.5});
  }
  if (!title.empty()) fig.text(title, {area.x + area.w / 2, area.y - 5}, font, {0.5, 1});
}

void draw_scale_bar(Figure& fig, Point at, double points_per_unit, double max_points, const std::string& unit,
                    double font) {
  if (!(points_per_unit > 0) || !(max_points > 0)) return;
  const double most = max_points / points_per_unit;
  const double p = std::pow(10.0, std::floor(std::log10(most)));
  double length = p;
  for (double m : {2.0, 5.0})
    if (m * p <= most) length = m * p;
  const double w = length * points_per_unit;
  const std::string label = tick_label(length, length) + " " + unit;
  const double tw = fig.text_width(label, font);
  fig.fill_rect({at.x - 3, at.y - 5 - 1.3 * font, std::max(w, tw) + 6, 1.3 * font + 8}, kBlack, 0.55);
  fig.fill_rect({at.x, at.y - 3, w, 3}, kWhite);
  fig.text(label, {at.x, at.y - 5}, font, {0, 1}, kWhite);
}

}  // namespace spire::plot
