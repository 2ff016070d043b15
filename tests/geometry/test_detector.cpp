#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numbers>
#include <vector>

#include "core/error.hpp"
#include "geometry/detector.hpp"

using namespace spire::geometry;

namespace {

// SpiniFEL's 3IYF geometry (SPEC): 4600 eV, 128 x 128 pixels, 0.08 m wide, 0.2 m away.
const Beam beam{4600.0, 1e12, 0.5e-6};
constexpr double width = 0.08, distance = 0.2;

double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

// d = lambda / (2 sin theta) with 2 theta = atan(r / D), in Angstrom.
double resolution_at_radius(double r, double wavelength_m) {
  return wavelength_m / (2.0 * std::sin(0.5 * std::atan(r / distance))) * 1e10;
}

}  // namespace

TEST(Detector, Beam) {
  EXPECT_NEAR(beam.wavelength_m(), 12398.4198 / 4600.0 * 1e-10, 1e-24);
  EXPECT_NEAR(beam.wavelength_m() * 1e10, 2.695309, 1e-6);
  EXPECT_NEAR(beam.fluence_per_m2(), 1e12 / (std::numbers::pi * 0.25e-12), 1e12);
  EXPECT_NEAR(beam.fluence_per_m2() / 1.2732395e24, 1.0, 1e-7);
}

TEST(Detector, SquareLayoutAndIndexMap) {
  const Detector det = Detector::square(4, 0.04, distance);
  ASSERT_EQ(det.size(), 16);
  EXPECT_EQ(det.rows(), 4);
  EXPECT_EQ(det.cols(), 4);
  const auto& pos = det.position_m();
  const auto& idx = det.pixel_index_map();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      const auto p = static_cast<std::size_t>(4 * r + c);
      EXPECT_EQ(idx[p][0], r);
      EXPECT_EQ(idx[p][1], c);
      EXPECT_NEAR(pos[p][0], (c - 1.5) * 0.01, 1e-15);  // x along columns
      EXPECT_NEAR(pos[p][1], (r - 1.5) * 0.01, 1e-15);  // y along rows
      EXPECT_EQ(pos[p][2], distance);
      EXPECT_NEAR(det.area_m2()[p], 1e-4, 1e-19);
    }
}

TEST(Detector, RejectsInconsistentPixelArrays) {
  const Detector det = Detector::square(2, 0.01, distance);
  auto pos = det.position_m();
  auto area = det.area_m2();
  auto idx = det.pixel_index_map();
  EXPECT_NO_THROW(Detector(2, 2, distance, pos, area, idx));
  EXPECT_THROW(Detector(2, 3, distance, pos, area, idx), spire::Error);
  EXPECT_THROW(Detector(2, 2, 0.0, pos, area, idx), spire::Error);
  auto off_plane = pos;
  off_plane[1][2] += 1e-3;
  EXPECT_THROW(Detector(2, 2, distance, off_plane, area, idx), spire::Error);
  auto no_area = area;
  no_area[3] = 0.0;
  EXPECT_THROW(Detector(2, 2, distance, pos, no_area, idx), spire::Error);
  auto bad_idx = idx;
  bad_idx[0][1] = 2;
  EXPECT_THROW(Detector(2, 2, distance, pos, area, bad_idx), spire::Error);
  EXPECT_THROW(Detector::square(0, 0.01, distance), spire::Error);
  EXPECT_THROW(reciprocal_positions(det, 0.0), spire::Error);
}

TEST(Detector, ResolutionAtEdgeAndCorner) {
  const Detector det = Detector::square(128, width, distance);
  const double lambda = beam.wavelength_m();
  const double edge = resolution_edge_angstrom(det, lambda);
  const double corner = resolution_corner_angstrom(det, lambda);
  // The outermost pixel centres sit half a pixel inside the edge.
  const double r_edge = 0.5 * width - 0.5 * width / 128;
  std::cout << "128 px, 0.08 m at 0.2 m, 4600 eV: resolution " << edge << " A at the edge, "
            << corner << " A at the corner\n";
  testing::Test::RecordProperty("edge_angstrom", std::to_string(edge));
  testing::Test::RecordProperty("corner_angstrom", std::to_string(corner));
  EXPECT_NEAR(edge, resolution_at_radius(r_edge, lambda), 1e-10);
  EXPECT_NEAR(corner, resolution_at_radius(r_edge * std::numbers::sqrt2, lambda), 1e-10);
  EXPECT_NEAR(edge, 13.8, 0.05);
  EXPECT_NEAR(corner, 9.9, 0.05);
}

TEST(Detector, ReciprocalPositionsLieOnTheEwaldSphere) {
  const Detector det = Detector::square(128, width, distance);
  const double lambda = beam.wavelength_m();
  const auto s = reciprocal_positions(det, lambda);
  ASSERT_EQ(s.size(), 128u * 128u);
  const double k = 1.0 / lambda;
  double worst_ewald = 0.0, worst_bragg = 0.0;
  for (std::size_t p = 0; p < s.size(); ++p) {
    const Vec3& r = det.position_m()[p];
    const double two_theta = std::atan2(std::hypot(r[0], r[1]), r[2]);
    worst_bragg = std::max(worst_bragg,
                           std::fabs(norm(s[p]) / (2 * std::sin(two_theta / 2) / lambda) - 1));
    worst_ewald = std::max(worst_ewald, std::fabs(norm({s[p][0], s[p][1], s[p][2] + k}) / k - 1));
    // Along the pixel's direction in the detector plane, and towards the source.
    EXPECT_NEAR(s[p][0] * r[1], s[p][1] * r[0], 1e-12 * k * norm(r));
    EXPECT_LT(s[p][2], 0.0);
  }
  EXPECT_LT(worst_bragg, 1e-13);
  EXPECT_LT(worst_ewald, 1e-14);
}

TEST(Detector, SolidAnglesSumToTheDetectorsSolidAngle) {
  const Detector det = Detector::square(128, width, distance);
  const auto omega = solid_angles(det);
  double sum = 0.0;
  for (double o : omega) sum += o;
  // Exact solid angle of a 2a x 2b rectangle centred on the axis at distance D.
  const double a = 0.5 * width, b = 0.5 * width, d2 = distance * distance;
  const double exact = 4.0 * std::asin(a * b / std::sqrt((a * a + d2) * (b * b + d2)));
  std::cout << "solid angle: pixels sum " << sum << " sr, exact " << exact
            << " sr, relative error " << sum / exact - 1 << "\n";
  EXPECT_NEAR(sum / exact, 1.0, 1e-4);
  // The centre pixels see almost exactly area / D^2.
  EXPECT_NEAR(omega[64 * 128 + 64] / (width * width / (128.0 * 128.0) / d2), 1.0, 1e-4);
}

TEST(Detector, Polarization) {
  // Odd size so that a column lies on x = 0 and a row on y = 0.
  const Detector det = Detector::square(129, width, distance);
  const auto px = polarization_factors(det, Polarization::x);
  const auto py = polarization_factors(det, Polarization::y);
  for (std::size_t p = 0; p < px.size(); ++p) {
    EXPECT_GE(px[p], 0.0);
    EXPECT_LE(px[p], 1.0);
    EXPECT_GE(py[p], 0.0);
    EXPECT_LE(py[p], 1.0);
  }
  for (std::size_t i = 0; i < 129; ++i) {
    const std::size_t on_y = i * 129 + 64, on_x = 64 * 129 + i;
    const Vec3& ry = det.position_m()[on_y];
    const Vec3& rx = det.position_m()[on_x];
    const double c_y = std::cos(std::atan(std::fabs(ry[1]) / distance));  // cos 2 theta
    const double c_x = std::cos(std::atan(std::fabs(rx[0]) / distance));
    EXPECT_NEAR(px[on_y], 1.0, 1e-15);          // perpendicular to x-polarization
    EXPECT_NEAR(px[on_x], c_x * c_x, 1e-14);    // in the polarization plane: cos^2 2 theta
    EXPECT_NEAR(py[on_x], 1.0, 1e-15);
    EXPECT_NEAR(py[on_y], c_y * c_y, 1e-14);
  }
}
