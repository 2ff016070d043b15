#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "plot/axes.hpp"
#include "plot/plots.hpp"

namespace spire::plot {

namespace {

void check(const FscPlot& p) {
  if (p.n < 2 || !(p.voxel_angstrom > 0)) fail("FSC plot: needs n >= 2 and a voxel size > 0");
  if (p.curves.empty() || p.curves.size() > 4) fail("FSC plot: needs 1 to 4 curves");
  for (const auto& c : p.curves) {
    if (c.fsc.size() != static_cast<std::size_t>(p.n / 2 + 1)) fail("FSC plot: a curve needs n/2 + 1 shells");
    if (c.colour < -1 || c.colour > 3) fail("FSC plot: a curve's colour is 0..3 or -1");
  }
}

std::string angstrom_label(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, d >= 10 ? "%.0f" : "%.3g", d);
  return buf;
}

// Round resolutions (Angstrom) at s = 1/d, at least `gap` points apart.
std::vector<TopTick> resolution_ticks(const Axes& ax, double gap) {
  static constexpr double kRound[] = {500, 200, 100, 50, 30, 20, 15, 12, 10, 8, 6, 5, 4, 3, 2.5, 2, 1.5, 1.2, 1, 0.8, 0.6, 0.5};
  std::vector<TopTick> ticks;
  for (double d : kRound) {
    const double s = 1 / d;
    if (s > ax.x.hi) break;
    if (!ticks.empty() && ax.px(s) - ax.px(ticks.back().x) < gap) continue;
    if (ax.px(s) - ax.area.x < gap / 2) continue;
    ticks.push_back({s, angstrom_label(d)});
  }
  return ticks;
}

}  // namespace

Figure fsc_figure(const FscPlot& p) {
  check(p);
  const double width = 640, height = 420 + 16 * static_cast<double>(p.curves.size());
  Figure fig(width, height);
  const double s_max = 0.5 / p.voxel_angstrom;  // shell n/2
  const Axes ax{&fig, {64, 72, width - 64 - 48, 280}, {0, s_max}, {-0.1, 1.05}};
  fig.text(p.title, {width / 2, 8}, 13, {0.5, 0}, kBlack, true);
  draw_axes(ax, {"spatial frequency (1/Å)", "FSC", true, false, 7, 6});
  draw_top_axis(ax, resolution_ticks(ax, 30), "resolution (Å)");
  draw_hline(ax, 0.0, {kGrey, 0.8}, "");
  draw_hline(ax, 0.5, {{0.35, 0.35, 0.35}, 1, true}, "0.5");
  draw_hline(ax, 0.143, {{0.35, 0.35, 0.35}, 1, true}, "0.143");
  std::vector<double> xs(p.curves[0].fsc.size());
  for (std::size_t k = 0; k < xs.size(); ++k) xs[k] = static_cast<double>(k) / (p.n * p.voxel_angstrom);
  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < p.curves.size(); ++i) {
    const auto& c = p.curves[i];
    const Line style{kCurveColours[c.colour >= 0 ? static_cast<std::size_t>(c.colour) : i], 2};
    draw_curve(ax, xs, c.fsc, style);
    legend.push_back({c.resolutions.empty() ? c.name : c.name + " (" + c.resolutions + ")", style});
  }
  draw_legend(fig, {ax.area.x, ax.area.bottom() + 44}, legend);
  char grid[96];
  std::snprintf(grid, sizeof grid, "%d³ voxels of %.3g Å; lines at FSC 0.5 and 0.143", p.n, p.voxel_angstrom);
  fig.text(grid, {width - 8, height - 6}, 8, {1, 1}, kGrey);
  return fig;
}

}  // namespace spire::plot
