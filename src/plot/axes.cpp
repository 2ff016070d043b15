#include "plot/axes.hpp"

#include <cmath>
#include <cstdio>

namespace spire::plot {

namespace {

// A step of m x 10^e (m = 1, 2 or 5), about span / target.
struct Step {
  double m = 1;
  int e = 0;
  double value() const { return e >= 0 ? m * std::pow(10.0, e) : m / std::pow(10.0, -e); }
  // k steps, rounded as a decimal: 3 x 0.2 is 0.6, not 0.6000000000000001.
  double times(double k) const { return e >= 0 ? k * m * std::pow(10.0, e) : k * m / std::pow(10.0, -e); }
};

Step nice_step(double span, int target, bool integer) {
  const double raw = span / std::max(1, target);
  Step st{1, static_cast<int>(std::floor(std::log10(raw)))};
  while (st.m * std::pow(10.0, st.e) < raw * (1 - 1e-12)) {
    if (st.m == 1) st.m = 2;
    else if (st.m == 2) st.m = 5;
    else st.m = 1, ++st.e;
  }
  if (integer && st.e < 0) st = {1, 0};
  return st;
}

}  // namespace

std::vector<double> nice_ticks(Range r, int target, bool integer) {
  std::vector<double> ticks;
  const double span = r.hi - r.lo;
  if (!(span > 0) || !std::isfinite(span)) return ticks;
  const Step step = nice_step(span, target, integer);
  for (double k = std::ceil(r.lo / step.value() - 1e-9); step.times(k) <= r.hi + 1e-9 * step.value(); k += 1)
    ticks.push_back(std::abs(k) < 0.5 ? 0.0 : step.times(k));
  return ticks;
}

std::string tick_label(double value, double step) {
  const int decimals = step > 0 ? std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9))) : 0;
  if (std::abs(value) < 1e-9 * std::max(step, 1e-300)) value = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

void draw_axes(const Axes& ax, const AxisStyle& st) {
  Figure& f = *ax.fig;
  const auto xt = nice_ticks(ax.x, st.x_ticks, st.x_integer), yt = nice_ticks(ax.y, st.y_ticks);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  const Line grid{kLightGrey, 0.6}, tick{kBlack, 0.8};
  for (double v : xt) f.line({ax.px(v), ax.area.y}, {ax.px(v), ax.area.bottom()}, grid);
  for (double v : yt) f.line({ax.area.x, ax.py(v)}, {ax.area.right(), ax.py(v)}, grid);
  f.stroke_rect(ax.area, {kBlack, 0.8});
  for (double v : xt) {
    f.line({ax.px(v), ax.area.bottom()}, {ax.px(v), ax.area.bottom() + 4}, tick);
    if (st.x_tick_labels) f.text(tick_label(v, xstep), {ax.px(v), ax.area.bottom() + 6}, st.font, {0.5, 0});
  }
  double widest = 0;
  for (double v : yt) {
    f.line({ax.area.x - 4, ax.py(v)}, {ax.area.x, ax.py(v)}, tick);
    const Rect r = f.text(tick_label(v, ystep), {ax.area.x - 6, ax.py(v)}, st.font, {1, 0.5});
    widest = std::max(widest, r.w);
  }
  if (!st.x_title.empty() && st.x_tick_labels)
    f.text(st.x_title, {ax.area.x + ax.area.w / 2, ax.area.bottom() + 10 + 1.6 * st.font}, st.font, {0.5, 0});
  if (!st.y_title.empty())
    f.text(st.y_title, {ax.area.x - 12 - widest, ax.area.y + ax.area.h / 2}, st.font, {0.5, 1}, kBlack, false, 90);
}

void draw_curve(const Axes& ax, std::span<const double> xs, std::span<const double> ys, const Line& style,
                bool markers) {
  Figure& f = *ax.fig;
  f.push_clip(ax.area);
  std::vector<Point> run;
  auto flush = [&] {
    f.polyline(run, style);
    if (run.size() == 1 || markers)
      for (const Point& p : run) f.circle(p, 1.2 * style.width, {style.colour, 1.5 * style.width});
    run.clear();
  };
  for (std::size_t i = 0; i < std::min(xs.size(), ys.size()); ++i) {
    if (std::isfinite(xs[i]) && std::isfinite(ys[i])) run.push_back(ax.at(xs[i], ys[i]));
    else flush();
  }
  flush();
  f.pop_clip();
}

void draw_hline(const Axes& ax, double y, const Line& style, const std::string& label, double font) {
  if (y < ax.y.lo || y > ax.y.hi) return;
  ax.fig->line({ax.area.x, ax.py(y)}, {ax.area.right(), ax.py(y)}, style);
  if (!label.empty()) ax.fig->text(label, {ax.area.right() + 4, ax.py(y)}, font, {0, 0.5}, style.colour);
}

void shade_x(const Axes& ax, Range x, Colour c, const std::string& label, double font) {
  const double x0 = std::max(ax.px(x.lo), ax.area.x), x1 = std::min(ax.px(x.hi), ax.area.right());
  if (x1 <= x0) return;
  ax.fig->fill_rect({x0, ax.area.y, x1 - x0, ax.area.h}, c);
  if (!label.empty() && ax.fig->text_width(label, font) < x1 - x0 - 2)
    ax.fig->text(label, {x0 + 2, ax.area.y + 2}, font, {0, 0}, {0.3, 0.3, 0.3});
}

void draw_top_axis(const Axes& ax, std::span<const TopTick> ticks, const std::string& title, double font) {
  Figure& f = *ax.fig;
  for (const auto& t : ticks) {
    if (t.x < ax.x.lo || t.x > ax.x.hi) continue;
    f.line({ax.px(t.x), ax.area.y - 4}, {ax.px(t.x), ax.area.y}, {kBlack, 0.8});
    f.text(t.label, {ax.px(t.x), ax.area.y - 6}, font, {0.5, 1});
  }
  if (!title.empty()) f.text(title, {ax.area.x + ax.area.w / 2, ax.area.y - 10 - 1.3 * font}, font, {0.5, 1});
}

Rect draw_legend(Figure& fig, Point at, std::span<const LegendEntry> entries, double font) {
  const double line_len = 26, pad = 6, row = 1.5 * font;
  double widest = 0;
  for (const auto& e : entries) widest = std::max(widest, fig.text_width(e.label, font));
  const Rect box{at.x, at.y, 2 * pad + line_len + 6 + widest, 2 * pad + row * static_cast<double>(entries.size()) - 0.5 * font};
  fig.fill_rect(box, kWhite, 0.9);
  fig.stroke_rect(box, {kGrey, 0.6});
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double y = at.y + pad + 0.35 * font + row * static_cast<double>(i);
    Line l = entries[i].line;
    l.width = std::max(l.width, 1.5);
    fig.line({at.x + pad, y}, {at.x + pad + line_len, y}, l);
    fig.text(entries[i].label, {at.x + pad + line_len + 6, y}, font, {0, 0.5});
  }
  return box;
}

}  // namespace spire::plot
