#pragma once
// The figures spire writes (issue 17): FSC, convergence of a run, central slices of the
// density and of the intensity, and the coverage of beam directions. Each returns a Figure
// (figure.hpp: write_png_and_svg writes PNG and SVG from one drawing, atomically). The data
// come as plain numbers, so this stage depends on core alone.
#include <array>
#include <span>
#include <string>
#include <vector>

#include "plot/figure.hpp"

namespace spire::plot {

// --- FSC ---------------------------------------------------------------------------------
// x: spatial frequency s = k / (n v) in 1/Angstrom for shell k = 0..n/2 of an n-grid with
// voxel v Angstrom; top axis: the resolution d = 1/s in Angstrom at round values; y: FSC,
// -0.1..1.05. Dashed lines at 0.5 and 0.143, labelled. The legend (below the plot, so it
// never covers a curve) names each curve in its colour (kCurveColours[colour], or the curve's
// place when colour is -1, so that a caller can keep a colour per kind of curve), with its
// `resolutions` text (the caller's wording of the resolution at 0.5 and 0.143).
struct FscCurveData {
  std::string name;         // "against the model", "half data", ...
  std::vector<double> fsc;  // per shell 0..n/2
  std::string resolutions;  // e.g. "0.5: 12.1 Å, 0.143: 9.6 Å"; may be empty
  int colour = -1;          // 0..3, or -1
};
struct FscPlot {
  int n = 0;
  double voxel_angstrom = 0;
  std::vector<FscCurveData> curves;  // 1 to 4, each n/2 + 1 shells
  std::string title = "Fourier shell correlation";
};
Figure fsc_figure(const FscPlot& plot);

// --- Convergence -------------------------------------------------------------------------
// One figure, panels stacked over the x axis "generation" (first, first + 1, ...): fit, moved (fraction
// of images whose orientation changed), phasing Fourier error, then the median orientation
// error in degrees ("orient. error") and the resolution at FSC 0.5 in Angstrom when given (a panel only when
// at least one value is known). Every series has one value per generation; unknown values
// are left out: NaN in fit and moved (a fit may be slightly negative), NaN or < 0 in
// fourier_error (a generation that did not phase), median_error_deg and resolution_angstrom. Contiguous runs of one stage are shaded alike in every panel and
// named in the top one.
struct ConvergenceData {
  int first = 1;                   // the first generation's number
  std::vector<std::string> stage;  // per generation: "start", "search", "refine", "local", ...
  std::vector<double> fit, moved, fourier_error;
  std::vector<double> median_error_deg;     // empty or per generation
  std::vector<double> resolution_angstrom;  // empty or per generation (FSC 0.5)
};
Figure convergence_figure(const ConvergenceData& data);

// --- Maps ------------------------------------------------------------------------------
// An n^3 map: value (x, y, z) at index (z n + y) n + x; the central slices are the planes
// through voxel n/2: XY (z = n/2), XZ (y = n/2), YZ (x = n/2), each drawn with its first
// named axis to the right and its second upward.

// The smallest box [lo, hi) per axis (x, y, z) holding every voxel whose value is above
// `fraction` of the map's maximum, grown by `margin` voxels on each side and clipped to the
// grid; the whole grid when no value is positive.
struct Box {
  std::array<int, 3> lo{}, hi{};
};
Box crop_box(int n, std::span<const double> map, double fraction = 0.1, int margin = 3);

// Density central slices, cropped to crop_box(map) (the same box for the three), grey from
// the lowest to the highest value in the three slices, a scale bar in Angstrom.
Figure density_slices_figure(int n, std::span<const double> map, double voxel_angstrom);

// Intensity central slices (the map centred: frequency index k = -n/2..n/2 at voxel
// k + n/2) on a log10 colour scale (viridis) over 6 decades below the highest value (values
// below that, zero or negative, at the bottom of the scale), with a circle of
// `measured_radius` voxels about the centre: the sphere the images reach. A scale bar in
// 1/Angstrom (frequency_voxel: 1/Angstrom per voxel).
Figure intensity_slices_figure(int n, std::span<const double> intensity, double measured_radius,
                               double frequency_voxel);

// --- Orientation coverage ----------------------------------------------------------------
// Directions (unit 3-vectors; normalised here, zero ones skipped) counted in equal-area cells
// of the sphere: `rows` bands equal in z = cos(polar angle) (so equal in area, Archimedes)
// times 2 rows cells equal in longitude atan2(y, x). Cell (r, c) is counts[r * cols + c],
// r = 0 at z = +1.
struct CoverageHistogram {
  int rows = 0, cols = 0;
  std::vector<int> counts;
  int total = 0;
  double empty_fraction() const;
};
// Rows for m directions: about 8 per cell on average, between 3 and 24 rows.
int coverage_rows(std::size_t m);
CoverageHistogram coverage_histogram(std::span<const std::array<double, 3>> directions, int rows);
// The histogram on a Hammer-Aitoff map (equal area: a cell's area on the map is its area on
// the sphere), a colour bar of counts per cell, the title giving the number of directions
// and the fraction of empty cells.
Figure coverage_figure(std::span<const std::array<double, 3>> directions, const std::string& what = "beam directions");

}  // namespace spire::plot
