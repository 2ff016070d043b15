#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "plot/axes.hpp"
#include "plot/plots.hpp"

namespace spire::plot {

namespace {

struct Series {
  std::string title;
  std::vector<double> values;  // NaN: unknown
};

Colour stage_colour(const std::string& stage) {
  if (stage == "start") return {0.93, 0.93, 0.93};
  if (stage == "search") return {0.87, 0.92, 0.98};
  if (stage == "refine") return {0.99, 0.92, 0.82};
  if (stage == "local") return {0.86, 0.95, 0.88};
  if (stage == "oracle") return {0.94, 0.88, 0.96};
  return {0.96, 0.96, 0.90};
}

// Unknown (< 0 when `negative_unknown`, or NaN) -> NaN; empty when nothing is known.
std::vector<double> known(const std::vector<double>& v, bool negative_unknown) {
  std::vector<double> out(v);
  bool any = false;
  for (double& x : out) {
    if (!std::isfinite(x) || (negative_unknown && x < 0)) x = std::numeric_limits<double>::quiet_NaN();
    else any = true;
  }
  return any ? out : std::vector<double>{};
}

Range y_range(const std::vector<double>& v) {
  double lo = 0, hi = -std::numeric_limits<double>::infinity();
  for (double x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(hi > lo)) hi = lo + 1;
  return {lo - (lo < 0 ? 0.08 * (hi - lo) : 0), hi + 0.1 * (hi - lo)};
}

void shade_stages(const Axes& ax, const std::vector<std::string>& stage, int first, bool label) {
  for (std::size_t a = 0; a < stage.size();) {
    std::size_t b = a;
    while (b + 1 < stage.size() && stage[b + 1] == stage[a]) ++b;
    shade_x(ax, {first + static_cast<double>(a) - 0.5, first + static_cast<double>(b) + 0.5}, stage_colour(stage[a]),
            label ? stage[a] : "");
    a = b + 1;
  }
}

std::vector<Series> series_of(const ConvergenceData& d) {
  std::vector<Series> out{{"fit", known(d.fit, false)},
                          {"moved", known(d.moved, false)},
                          {"Fourier error", known(d.fourier_error, true)},
                          {"orient. error (°)", known(d.median_error_deg, true)},
                          {"resolution (Å)", known(d.resolution_angstrom, true)}};
  std::erase_if(out, [](const Series& s) { return s.values.empty(); });
  return out;
}

}  // namespace

Figure convergence_figure(const ConvergenceData& d) {
  const std::size_t g = d.stage.size();
  if (g == 0) fail("convergence plot: no generation");
  for (const auto* v : {&d.fit, &d.moved, &d.fourier_error})
    if (v->size() != g) fail("convergence plot: fit, moved and fourier_error need a value per generation");
  for (const auto* v : {&d.median_error_deg, &d.resolution_angstrom})
    if (!v->empty() && v->size() != g) fail("convergence plot: a series needs a value per generation");
  const auto series = series_of(d);
  const double panel = 100, gap = 10, top = 40, width = 640;
  const double height = top + static_cast<double>(series.size()) * (panel + gap) + 40;
  Figure fig(width, height);
  fig.text("Convergence of the run", {width / 2, 8}, 13, {0.5, 0}, kBlack, true);
  std::vector<double> xs(g);
  for (std::size_t i = 0; i < g; ++i) xs[i] = d.first + static_cast<double>(i);
  for (std::size_t p = 0; p < series.size(); ++p) {
    const Axes ax{&fig, {84, top + static_cast<double>(p) * (panel + gap), width - 84 - 20, panel},
                  {d.first - 0.5, d.first + static_cast<double>(g) - 0.5}, y_range(series[p].values)};
    shade_stages(ax, d.stage, d.first, p == 0);
    const bool last = p + 1 == series.size();
    draw_axes(ax, {"generation", series[p].title, last, true, 10, 4, 9});
    draw_curve(ax, xs, series[p].values, {kCurveColours[0], 1.6}, g <= 60);
  }
  return fig;
}

}  // namespace spire::plot
