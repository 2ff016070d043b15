// Maps placed by their headers (resolution/overlay.hpp): resampling, the header-only overlay
// correlation, and spire simulate's model map placed on the PDB's atoms.
#include <gtest/gtest.h>

#include <cmath>

#include "resolution/fsc.hpp"
#include "resolution/overlay.hpp"
#include "simulate/pdb.hpp"
#include "simulate/simulate.hpp"

namespace spire::resolution {
namespace {

// A smooth, asymmetric test map: two Gaussian blobs, on a box of nx x ny x nz.
io::Map blobs(int nx, int ny, int nz, double voxel, std::array<double, 3> origin) {
  io::Map m;
  m.nx = nx, m.ny = ny, m.nz = nz, m.voxel_size = voxel, m.origin = origin;
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x) {
        const double p[3] = {origin[0] + x * voxel, origin[1] + y * voxel, origin[2] + z * voxel};
        const double a = std::pow(p[0] - 3, 2) + std::pow(p[1] + 2, 2) + std::pow(p[2] - 1, 2);
        const double b = std::pow(p[0] + 4, 2) + std::pow(p[1] - 3, 2) + std::pow(p[2] + 2, 2);
        m.data.push_back(static_cast<float>(std::exp(-a / 18) + 0.6 * std::exp(-b / 8)));
      }
  return m;
}

// The built-in molecule moved far from the origin: its centroid at `to`.
std::vector<simulate::Atom> moved_molecule(const std::array<double, 3>& to) {
  auto atoms = simulate::centred(simulate::built_in_molecule());
  for (auto& a : atoms)
    for (int d = 0; d < 3; ++d) a.position_angstrom[std::size_t(d)] += to[std::size_t(d)];
  return atoms;
}

TEST(Overlay, ResamplingOntoItsOwnGridIsTheIdentity) {
  const auto m = blobs(20, 17, 23, 1.5, {-14, -12, -17});
  const auto r = resample_onto(m, m, 1);
  ASSERT_EQ(r.data.size(), m.data.size());
  for (std::size_t i = 0; i < m.data.size(); ++i) EXPECT_FLOAT_EQ(r.data[i], m.data[i]);
  EXPECT_NEAR(overlay_correlation(m, m, 1), 1.0, 1e-12);
}

TEST(Overlay, HeadersPlaceTheMaps) {
  // The same content on another box (shifted by whole and half voxels, another shape):
  // where the headers put it, it overlays; with a wrong origin it does not.
  const auto a = blobs(24, 24, 24, 1.0, {-12, -12, -12});
  const auto b = blobs(30, 26, 28, 1.0, {-16.5, -11, -14.5});
  EXPECT_GT(overlay_correlation(a, b, 1), 0.999);
  auto wrong = b;
  wrong.origin = {-12, -12, -12};
  EXPECT_LT(overlay_correlation(a, wrong, 1), 0.9);
  // A coarser copy (voxel 2) of the same content, in either direction.
  const auto coarse = blobs(14, 14, 14, 2.0, {-13, -13, -13});
  EXPECT_GT(overlay_correlation(a, coarse, 1), 0.99);
  EXPECT_GT(overlay_correlation(coarse, a, 1), 0.99);
}

TEST(Overlay, DensityCentroidAndCubicGrid) {
  const auto m = blobs(24, 24, 24, 1.0, {-12, -12, -12});
  const auto c = density_centroid(m);
  auto moved = m;
  moved.origin = {38, -62, 8};  // the content moved by (50, -50, 20)
  const auto d = density_centroid(moved);
  EXPECT_NEAR(d[0] - c[0], 50, 1e-9);
  EXPECT_NEAR(d[1] - c[1], -50, 1e-9);
  EXPECT_NEAR(d[2] - c[2], 20, 1e-9);
  const auto g = cubic_grid(21, 2.0, {1, 2, 3});
  EXPECT_DOUBLE_EQ(g.origin[0], 1 - 20.0);
  EXPECT_DOUBLE_EQ(g.origin[2], 3 - 20.0);
  EXPECT_EQ(g.data.size(), 21u * 21u * 21u);
}

// spire simulate's model map of a molecule far from 0 overlays the atoms: its density's
// centroid (from the header alone) is the atoms', and it agrees with a map computed at the
// atoms' absolute coordinates. The map centred with origin -n/2 voxel (before issue 17) fails both.
TEST(Overlay, ModelMapOverlaysThePdb) {
  const std::array<double, 3> where{31.0, -24.5, 18.2};
  const auto atoms = moved_molecule(where);
  const double voxel = 3.5;
  const auto model = simulate::model_map(atoms, voxel, 25, 1e-5);
  const auto atoms_centroid = simulate::electron_centroid(atoms);
  const auto c = density_centroid(model);
  for (std::size_t d = 0; d < 3; ++d) EXPECT_NEAR(c[d], atoms_centroid[d], voxel) << "axis " << d;

  // Directly at the absolute coordinates: a box about 0 large enough to hold them.
  const auto absolute = simulate::reference_model(atoms, 1 / (2 * voxel), 45, 1e-5).density;
  const double placed = overlay_correlation(absolute, model, 1);
  auto centred = model;
  const double origin = -(model.nx / 2) * voxel;
  centred.origin = {origin, origin, origin};
  const double unplaced = overlay_correlation(absolute, centred, 1);
  RecordProperty("overlay_correlation_placed", std::to_string(placed));
  RecordProperty("overlay_correlation_centred", std::to_string(unplaced));
  EXPECT_GT(placed, 0.9);
  EXPECT_LT(unplaced, 0.3);
}

// A model map of finer voxels and another box, resampled onto the coarse model's grid,
// agrees with it shell by shell: the resampling keeps the band (the finer map's higher
// frequencies are cut first, not aliased).
TEST(Overlay, FinerModelResampledMatchesTheGridModel) {
  const auto atoms = moved_molecule({5, -3, 2});
  const double voxel = 3.0;
  const auto coarse = simulate::model_map(atoms, voxel, 25, 1e-5);
  const auto fine = simulate::model_map(atoms, voxel / 2, 61, 1e-5);
  const auto r = resample_onto(fine, coarse, 1);
  const std::vector<double> a(coarse.data.begin(), coarse.data.end()), b(r.data.begin(), r.data.end());
  const auto curve = fsc<double>(25, b, a, 1);
  const double last = curve.fsc.back();
  RecordProperty("fsc_last_shell", std::to_string(last));
  EXPECT_GT(overlay_correlation(coarse, fine, 1), 0.97);
  for (std::size_t k = 0; k < 3 * curve.fsc.size() / 4; ++k) EXPECT_GT(curve.fsc[k], 0.9) << "shell " << k;
}

}  // namespace
}  // namespace spire::resolution
