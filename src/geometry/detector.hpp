#pragma once
// Beam and detector geometry: the reciprocal-space position, polarization factor and solid
// angle of every pixel.
//
// Units: SI inside (m, 1/m, m^2, sr, eV); Angstrom only in the *_angstrom reporting helpers.
// Lab frame: the beam travels along +z from the particle at the origin. The detector is
// flat, perpendicular to the beam, at z = distance_m; the square one is centred on the beam
// with x along columns and y along rows. Pixel arrays are row-major (H, W): pixel p = row * W
// + col, as SpiniFEL/skopi's (H, W) images flattened.
//
// Reciprocal position (skopi's pixel_position_reciprocal, no 2 pi): s = (r_hat - z_hat) /
// lambda, i.e. k_out - k_in with |k| = 1 / lambda. It lies on the Ewald sphere, |s + k_in| =
// |k_in|, and |s| = 2 sin(theta) / lambda with 2 theta the scattering angle; 1 / |s| is the
// full-period resolution d = lambda / (2 sin theta).
//
// Polarization factor for a beam linearly polarized along e (x by default, as skopi's
// [1, 0, 0]): 1 - (r_hat . e)^2, in [0, 1].
// Solid angle (small-pixel approximation, as skopi): area * cos(angle to the normal) / |r|^2
// = area * z / |r|^3; its relative error is O((pixel / distance)^2).
#include <array>
#include <cstdint>
#include <vector>

#include "geometry/orientations.hpp"

namespace spire::geometry {

struct Beam {
  double photon_energy_ev = 4600.0;
  double photons_per_pulse = 1e12;
  double radius_m = 0.5e-6;  // radius of the uniformly lit spot

  double wavelength_m() const;    // hc / E, hc = 12398.4198 eV Angstrom
  double fluence_per_m2() const;  // photons / (pi r^2)
};

enum class Polarization { x, y };

class Detector {
 public:
  // The pixel arrays are the representation: positions (pixel centres, lab frame), areas and
  // (row, col) indices, row-major (H, W). Checked: sizes, every centre on z = distance,
  // every area > 0.
  Detector(std::int64_t rows, std::int64_t cols, double distance_m, std::vector<Vec3> positions,
           std::vector<double> areas, std::vector<std::array<std::int32_t, 2>> indices);

  // pixels x pixels square pixels tiling a width_m x width_m square centred on the beam;
  // the centre of (row, col) is ((col - (W-1)/2) p, (row - (H-1)/2) p, distance), p = width/W.
  static Detector square(std::int64_t pixels, double width_m, double distance_m);

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t size() const { return rows_ * cols_; }
  double distance_m() const { return distance_; }
  const std::vector<Vec3>& position_m() const { return position_; }
  const std::vector<double>& area_m2() const { return area_; }
  // skopi's pixel_index_map: (row, col) of each pixel, row-major (H, W, 2).
  const std::vector<std::array<std::int32_t, 2>>& pixel_index_map() const { return index_; }

 private:
  std::int64_t rows_, cols_;
  double distance_;
  std::vector<Vec3> position_;
  std::vector<double> area_;
  std::vector<std::array<std::int32_t, 2>> index_;
};

std::vector<Vec3> reciprocal_positions(const Detector& det, double wavelength_m);  // 1/m
// One point r (m, lab frame, z > 0 downstream): s = (r_hat - z_hat) / lambda in 1/m, what
// reciprocal_positions gives each pixel (the CXI reader places its pixels with it too).
Vec3 reciprocal_position(const Vec3& r, double wavelength_m);
std::vector<double> polarization_factors(const Detector& det,
                                         Polarization polarization = Polarization::x);
std::vector<double> solid_angles(const Detector& det);  // sr

// Resolution d = 1 / |s| in Angstrom. Edge: at the midpoint of the nearest detector edge,
// taken as the in-plane point on the x or y axis at the pixel centres' smallest extent along
// +-x, +-y (the outermost pixel centre of a square detector). Corner: the largest |s| of
// any pixel (the corner pixel centre), the highest resolution the detector records.
double resolution_edge_angstrom(const Detector& det, double wavelength_m);
double resolution_corner_angstrom(const Detector& det, double wavelength_m);

}  // namespace spire::geometry
