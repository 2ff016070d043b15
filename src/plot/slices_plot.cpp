#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"
#include "plot/image.hpp"
#include "plot/plots.hpp"

namespace spire::plot {

namespace {

// Plane p's axes (a to the right, b upward) and the axis it is fixed on.
constexpr int kA[3] = {0, 0, 1}, kB[3] = {1, 2, 2};
constexpr const char* kPlaneNames[3] = {"XY", "XZ", "YZ"};
constexpr const char* kAxisNames[3] = {"x", "y", "z"};

void check_map(int n, std::span<const double> map, const char* what) {
  const auto nn = static_cast<std::size_t>(std::max(n, 0));
  if (n < 2 || map.size() != nn * nn * nn) fail(std::string(what) + ": the map needs n^3 values, n >= 2");
}

// The central slice of plane p inside the box, row 0 at the top (highest b).
std::vector<double> central_slice(int n, std::span<const double> map, int p, const Box& box) {
  const int c = n / 2, a0 = box.lo[kA[p]], a1 = box.hi[kA[p]], b0 = box.lo[kB[p]], b1 = box.hi[kB[p]];
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(a1 - a0) * (b1 - b0));
  for (int b = b1 - 1; b >= b0; --b)
    for (int a = a0; a < a1; ++a) {
      std::array<int, 3> v{c, c, c};
      v[kA[p]] = a, v[kB[p]] = b;
      out.push_back(map[(static_cast<std::size_t>(v[2]) * n + v[1]) * n + v[0]]);
    }
  return out;
}

struct SliceStyle {
  std::string title, colour_title, scale_unit;
  ColourMap colours = ColourMap::grey;
  double scale_per_voxel = 0;  // scale-bar units per voxel
  double circle_radius = 0;    // voxels about the centre voxel; 0: none
  bool log = false;            // log10, 6 decades below the maximum
};

// Values as drawn (log10 when asked) and the colour range over the three slices.
Range transform(std::array<std::vector<double>, 3>& slices, bool log) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : slices)
    for (double v : s) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!log) return hi > lo ? Range{lo, hi} : Range{lo, lo + 1};
  if (!(hi > 0)) hi = 1;
  const double top = std::log10(hi), floor = hi * 1e-6;
  for (auto& s : slices)
    for (double& v : s) v = std::log10(std::max(v, floor));
  return {top - 6, top};
}

void draw_panel(Figure& fig, const Rect& r, int p, const std::vector<double>& values, const Box& box, Range range,
                const SliceStyle& st, int n) {
  const int cols = box.hi[kA[p]] - box.lo[kA[p]], rows = box.hi[kB[p]] - box.lo[kB[p]];
  draw_values(fig, r, values, cols, rows, range, st.colours);
  fig.stroke_rect(r, {kBlack, 0.6});
  const double s = r.w / cols;
  if (st.circle_radius > 0) {
    fig.push_clip(r);
    const Point centre{r.x + (n / 2 + 0.5 - box.lo[kA[p]]) * s, r.y + (box.hi[kB[p]] - n / 2 - 0.5) * s};
    fig.circle(centre, st.circle_radius * s, {kWhite, 1.2, true});
    fig.pop_clip();
  }
  char title[64];
  std::snprintf(title, sizeof title, "%s (%s = centre)", kPlaneNames[p], kAxisNames[3 - kA[p] - kB[p]]);
  fig.text(title, {r.x + r.w / 2, r.y - 6}, 10, {0.5, 1}, kBlack, true);
  fig.text(std::string(kAxisNames[kA[p]]) + " →", {r.x + r.w / 2, r.bottom() + 4}, 9, {0.5, 0});
  fig.text(std::string(kAxisNames[kB[p]]) + " →", {r.x - 4, r.y + r.h / 2}, 9, {0.5, 1}, kBlack, false, 90);
  if (p == 0 && st.scale_per_voxel > 0)
    draw_scale_bar(fig, {r.x + 6, r.bottom() - 6}, s / st.scale_per_voxel, 0.4 * r.w, st.scale_unit);
}

Figure slices_figure(int n, std::span<const double> map, const Box& box, const SliceStyle& st) {
  std::array<std::vector<double>, 3> slices;
  for (int p = 0; p < 3; ++p) slices[static_cast<std::size_t>(p)] = central_slice(n, map, p, box);
  const Range range = transform(slices, st.log);
  const int wx = box.hi[0] - box.lo[0], wy = box.hi[1] - box.lo[1], wz = box.hi[2] - box.lo[2];
  const double gap = 26, left = 24, right = 90, top = 58, bottom = 34;
  const double s = std::min((720 - left - right - 2 * gap) / (2 * wx + wy), 240.0 / std::max(wy, wz));
  const double width = left + right + 2 * gap + s * (2 * wx + wy), height = top + bottom + s * std::max(wy, wz);
  Figure fig(width, height);
  fig.text(st.title, {width / 2, 8}, 13, {0.5, 0}, kBlack, true);
  double x = left;
  for (int p = 0; p < 3; ++p) {
    const Rect r{x, top, s * (box.hi[kA[p]] - box.lo[kA[p]]), s * (box.hi[kB[p]] - box.lo[kB[p]])};
    draw_panel(fig, r, p, slices[static_cast<std::size_t>(p)], box, range, st, n);
    x += r.w + gap;
  }
  draw_colour_bar(fig, {x - gap + 16, top, 12, s * std::max(wy, wz)}, range, st.colours, st.colour_title);
  return fig;
}

}  // namespace

Box crop_box(int n, std::span<const double> map, double fraction, int margin) {
  check_map(n, map, "crop box");
  const double top = *std::max_element(map.begin(), map.end());
  Box box{{n, n, n}, {0, 0, 0}};
  if (!(top > 0)) return {{0, 0, 0}, {n, n, n}};
  std::size_t i = 0;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x, ++i)
        if (map[i] > fraction * top) {
          const std::array<int, 3> v{x, y, z};
          for (int a = 0; a < 3; ++a)
            box.lo[a] = std::min(box.lo[a], v[a]), box.hi[a] = std::max(box.hi[a], v[a] + 1);
        }
  for (int a = 0; a < 3; ++a) box.lo[a] = std::max(0, box.lo[a] - margin), box.hi[a] = std::min(n, box.hi[a] + margin);
  return box;
}

Figure density_slices_figure(int n, std::span<const double> map, double voxel_angstrom) {
  check_map(n, map, "density slices");
  Box box = crop_box(n, map);
  // The slices pass through voxel n/2: keep it inside the box.
  for (int a = 0; a < 3; ++a) box.lo[a] = std::min(box.lo[a], n / 2), box.hi[a] = std::max(box.hi[a], n / 2 + 1);
  SliceStyle st{"Density: central slices", "density", "Å", ColourMap::grey, voxel_angstrom};
  return slices_figure(n, map, box, st);
}

Figure intensity_slices_figure(int n, std::span<const double> intensity, double measured_radius,
                               double frequency_voxel) {
  check_map(n, intensity, "intensity slices");
  SliceStyle st{"Intensity: central slices (circle: the measured sphere)", "log10 I", "1/Å", ColourMap::viridis,
                frequency_voxel, measured_radius, true};
  return slices_figure(n, intensity, {{0, 0, 0}, {n, n, n}}, st);
}

}  // namespace spire::plot
