#include "geometry/detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace spire::geometry {

namespace {

constexpr double hc_ev_angstrom = 12398.4198;
constexpr double angstrom_per_m = 1e10;

double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

// (r_hat - z_hat) / lambda. The z part r_hat_z - 1 = -rho^2 / (|r| (|r| + z)) avoids the
// cancellation near the beam.
Vec3 reciprocal(const Vec3& r, double wavelength_m) {
  const double len = norm(r);
  const double rho2 = r[0] * r[0] + r[1] * r[1];
  return {r[0] / (len * wavelength_m), r[1] / (len * wavelength_m),
          -rho2 / (len * (len + r[2]) * wavelength_m)};
}

void check_wavelength(double wavelength_m) {
  if (!(wavelength_m > 0.0) || !std::isfinite(wavelength_m))
    fail("wavelength must be positive, got " + std::to_string(wavelength_m) + " m");
}

}  // namespace

double Beam::wavelength_m() const {
  if (!(photon_energy_ev > 0.0)) fail("photon energy must be positive");
  return hc_ev_angstrom / photon_energy_ev / angstrom_per_m;
}

double Beam::fluence_per_m2() const {
  if (!(radius_m > 0.0)) fail("beam radius must be positive");
  return photons_per_pulse / (std::numbers::pi * radius_m * radius_m);
}

Detector::Detector(std::int64_t rows, std::int64_t cols, double distance_m,
                   std::vector<Vec3> positions, std::vector<double> areas,
                   std::vector<std::array<std::int32_t, 2>> indices)
    : rows_(rows), cols_(cols), distance_(distance_m), position_(std::move(positions)),
      area_(std::move(areas)), index_(std::move(indices)) {
  if (rows_ <= 0 || cols_ <= 0 || rows_ > std::numeric_limits<std::int32_t>::max() ||
      cols_ > std::numeric_limits<std::int32_t>::max())
    fail("detector shape " + std::to_string(rows_) + " x " + std::to_string(cols_) +
         " is not valid");
  if (!(distance_ > 0.0) || !std::isfinite(distance_))
    fail("detector distance must be positive, got " + std::to_string(distance_) + " m");
  const auto n = static_cast<std::size_t>(rows_ * cols_);
  if (position_.size() != n || area_.size() != n || index_.size() != n)
    fail("detector " + std::to_string(rows_) + " x " + std::to_string(cols_) + " needs " +
         std::to_string(n) + " pixels, got " + std::to_string(position_.size()) +
         " positions, " + std::to_string(area_.size()) + " areas, " +
         std::to_string(index_.size()) + " indices");
  for (std::size_t p = 0; p < n; ++p) {
    if (std::fabs(position_[p][2] - distance_) > 1e-9 * distance_ ||
        !std::isfinite(position_[p][0]) || !std::isfinite(position_[p][1]))
      fail("detector pixel " + std::to_string(p) + " is not on the plane z = " +
           std::to_string(distance_) + " m");
    if (!(area_[p] > 0.0)) fail("detector pixel " + std::to_string(p) + " has no area");
    if (index_[p][0] < 0 || index_[p][0] >= rows_ || index_[p][1] < 0 || index_[p][1] >= cols_)
      fail("detector pixel " + std::to_string(p) + " has index outside the detector");
  }
}

Detector Detector::square(std::int64_t pixels, double width_m, double distance_m) {
  if (pixels <= 0 || pixels > 1 << 16) fail("square detector: bad pixel count");
  if (!(width_m > 0.0)) fail("square detector: width must be positive");
  const double pitch = width_m / static_cast<double>(pixels);
  const double centre = 0.5 * static_cast<double>(pixels - 1);
  const auto n = static_cast<std::size_t>(pixels * pixels);
  std::vector<Vec3> positions(n);
  std::vector<std::array<std::int32_t, 2>> indices(n);
  for (std::int64_t r = 0; r < pixels; ++r)
    for (std::int64_t c = 0; c < pixels; ++c) {
      const auto p = static_cast<std::size_t>(r * pixels + c);
      positions[p] = {(static_cast<double>(c) - centre) * pitch,
                      (static_cast<double>(r) - centre) * pitch, distance_m};
      indices[p] = {static_cast<std::int32_t>(r), static_cast<std::int32_t>(c)};
    }
  return Detector(pixels, pixels, distance_m, std::move(positions),
                  std::vector<double>(n, pitch * pitch), std::move(indices));
}

Vec3 reciprocal_position(const Vec3& r, double wavelength_m) {
  check_wavelength(wavelength_m);
  return reciprocal(r, wavelength_m);
}

std::vector<Vec3> reciprocal_positions(const Detector& det, double wavelength_m) {
  check_wavelength(wavelength_m);
  const auto& pos = det.position_m();
  std::vector<Vec3> s(pos.size());
  for (std::size_t p = 0; p < pos.size(); ++p) s[p] = reciprocal(pos[p], wavelength_m);
  return s;
}

std::vector<double> polarization_factors(const Detector& det, Polarization polarization) {
  const int axis = polarization == Polarization::x ? 0 : 1;
  const auto& pos = det.position_m();
  std::vector<double> f(pos.size());
  for (std::size_t p = 0; p < pos.size(); ++p) {
    const double c = pos[p][axis] / norm(pos[p]);
    f[p] = 1.0 - c * c;
  }
  return f;
}

std::vector<double> solid_angles(const Detector& det) {
  const auto& pos = det.position_m();
  const auto& area = det.area_m2();
  std::vector<double> omega(pos.size());
  for (std::size_t p = 0; p < pos.size(); ++p) {
    const double len = norm(pos[p]);
    omega[p] = area[p] * pos[p][2] / (len * len * len);
  }
  return omega;
}

double resolution_edge_angstrom(const Detector& det, double wavelength_m) {
  check_wavelength(wavelength_m);
  double extent = std::numeric_limits<double>::infinity();
  for (int axis = 0; axis < 2; ++axis) {
    double lo = 0.0, hi = 0.0;
    for (const Vec3& r : det.position_m()) {
      lo = std::min(lo, r[axis]);
      hi = std::max(hi, r[axis]);
    }
    extent = std::min({extent, -lo, hi});
  }
  if (!(extent > 0.0)) fail("resolution at the edge: the detector does not surround the beam");
  const Vec3 s = reciprocal({extent, 0.0, det.distance_m()}, wavelength_m);
  return angstrom_per_m / norm(s);
}

double resolution_corner_angstrom(const Detector& det, double wavelength_m) {
  check_wavelength(wavelength_m);
  double s_max = 0.0;
  for (const Vec3& r : det.position_m()) s_max = std::max(s_max, norm(reciprocal(r, wavelength_m)));
  return angstrom_per_m / s_max;
}

}  // namespace spire::geometry
