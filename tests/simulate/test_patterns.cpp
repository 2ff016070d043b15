#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "simulate/simulate.hpp"
#include "simulate/tabulated_transform.hpp"
#include "simulate/transform.hpp"

namespace spire::simulate {
namespace {

constexpr double kTolerance = 1e-5;
constexpr double kElectronRadius = 2.8179403262e-15;  // m

// The reference geometry: 128 x 128 pixels, 0.08 m at 0.2 m, 4600 eV (|s| up to 0.101).
const geometry::Detector& detector() {
  static const auto det = geometry::Detector::square(128, 0.08, 0.2);
  return det;
}

std::vector<Atom> molecule(const std::string& name) {
  if (name == "built-in") return centred(built_in_molecule());
  const std::string path = SPIRE_SHARED_DATA "/2cex.pdb";
  if (!std::filesystem::exists(path)) return {};
  return centred(read_pdb(path));
}

// Sampled pixels of random orientations: their rotated positions R^T s (1/Angstrom), the
// expected-photon prefactor, and where they lie in the patterns.
struct Samples {
  std::vector<geometry::Quaternion> orientations;
  std::vector<double> x, y, z, prefactor;
  std::vector<std::int64_t> index;  // image * pixels + pixel
};

Samples sample_pixels(int images, int per_image, const geometry::Beam& beam) {
  const auto& det = detector();
  const auto recip = geometry::reciprocal_positions(det, beam.wavelength_m());
  const auto pol = geometry::polarization_factors(det);
  const auto omega = geometry::solid_angles(det);
  Samples s;
  s.orientations = geometry::random_orientations(static_cast<std::size_t>(images), 3);
  std::mt19937_64 rng(9);
  for (int i = 0; i < images; ++i) {
    const auto R = geometry::rotation_matrix(s.orientations[i]);
    for (int k = 0; k < per_image; ++k) {
      const auto p = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(det.size()));
      const double a = recip[p][0] * 1e-10, b = recip[p][1] * 1e-10, c = recip[p][2] * 1e-10;
      s.x.push_back(R[0] * a + R[3] * b + R[6] * c);
      s.y.push_back(R[1] * a + R[4] * b + R[7] * c);
      s.z.push_back(R[2] * a + R[5] * b + R[8] * c);
      s.prefactor.push_back(beam.fluence_per_m2() * kElectronRadius * kElectronRadius * omega[p] * pol[p]);
      s.index.push_back(i * det.size() + p);
    }
  }
  return s;
}

double rel_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0, n = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    e += (got[k] - want[k]) * (got[k] - want[k]);
    n += want[k] * want[k];
  }
  return std::sqrt(e / n);
}

class SimulateAccuracy : public ::testing::TestWithParam<std::string> {};

// F of the tabulated transform and I of both pattern paths against the direct sum, on 400
// pixels of 200 random orientations.
TEST_P(SimulateAccuracy, GridAndNufftMatchTheDirectSum) {
  const auto atoms = molecule(GetParam());
  if (atoms.empty()) GTEST_SKIP() << "2cex.pdb not in " SPIRE_SHARED_DATA;
  const geometry::Beam beam;
  const Samples s = sample_pixels(200, 2, beam);
  const auto m = static_cast<std::int64_t>(s.x.size());
  std::vector<std::complex<double>> F(s.x.size());
  molecular_transform_direct(atoms, m, s.x.data(), s.y.data(), s.z.data(), F.data());

  const TabulatedTransform table(atoms, 0.102, kTolerance);
  const std::vector<float> x(s.x.begin(), s.x.end()), y(s.y.begin(), s.y.end()), z(s.z.begin(), s.z.end());
  std::vector<std::complex<float>> Ft(s.x.size());
  table.evaluate(m, x.data(), y.data(), z.data(), Ft.data());
  double e = 0, n = 0;
  for (std::size_t k = 0; k < F.size(); ++k) {
    e += std::norm(std::complex<double>(Ft[k]) - F[k]);
    n += std::norm(F[k]);
  }
  const double f_error = std::sqrt(e / n);
  // The spacing is chosen for an error about the tolerance.
  EXPECT_LT(f_error, 4 * kTolerance) << table.size() << "^3 nodes";
  EXPECT_GT(table.size(), 10);

  std::vector<double> I(F.size());
  for (std::size_t k = 0; k < F.size(); ++k) I[k] = s.prefactor[k] * std::norm(F[k]);
  for (auto method : {PatternMethod::grid, PatternMethod::nufft}) {
    PatternSimulator sim(atoms, detector(), beam, kTolerance, 0, method);
    std::vector<float> images(static_cast<std::size_t>(200 * sim.pixels()));
    sim.patterns(s.orientations, images.data());
    std::vector<double> got;
    for (auto i : s.index) got.push_back(images[i]);
    EXPECT_LT(rel_error(got, I), 1e-4) << (method == PatternMethod::grid ? "grid" : "nufft");
  }
}

INSTANTIATE_TEST_SUITE_P(Molecules, SimulateAccuracy, ::testing::Values("built-in", "2cex"),
                         [](const auto& p) { return p.param == "2cex" ? std::string("pdb2cex") : std::string("builtin"); });

// At the nodes the spline reproduces the transform it was built from (the prefilter is the
// exact inverse of B-spline sampling), up to float rounding.
TEST(SimulateGrid, ExactAtTheNodes) {
  const auto atoms = molecule("built-in");
  const double s_max = 0.1;
  const TabulatedTransform table(atoms, s_max, kTolerance);
  const double ds = table.spacing();
  std::vector<float> x, y, z;
  std::mt19937_64 rng(4);
  const auto k_max = static_cast<std::int64_t>(s_max / ds);
  std::uniform_int_distribution<std::int64_t> k(-k_max, k_max);
  for (int i = 0; i < 300; ++i) {
    x.push_back(static_cast<float>(static_cast<double>(k(rng)) * ds));
    y.push_back(static_cast<float>(static_cast<double>(k(rng)) * ds));
    z.push_back(static_cast<float>(static_cast<double>(k(rng)) * ds));
  }
  MolecularTransform<float> transform(atoms, s_max, kTolerance);
  std::vector<std::complex<float>> want(x.size()), got(x.size());
  transform.evaluate(300, x.data(), y.data(), z.data(), want.data());
  table.evaluate(300, x.data(), y.data(), z.data(), got.data());
  double e = 0, n = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    e += std::norm(std::complex<double>(got[i]) - std::complex<double>(want[i]));
    n += std::norm(std::complex<double>(want[i]));
  }
  EXPECT_LT(std::sqrt(e / n), 2e-6);
}

// Whole patterns: the grid path agrees with the NUFFT path, and q and -q (the same rotation)
// give the same pattern.
TEST(SimulatePatterns, GridAgreesWithNufftAndQuaternionSign) {
  const auto atoms = molecule("built-in");
  const geometry::Beam beam;
  auto q = geometry::random_orientations(6, 21);
  PatternSimulator grid(atoms, detector(), beam, kTolerance, 0, PatternMethod::grid);
  PatternSimulator nufft(atoms, detector(), beam, kTolerance, 0, PatternMethod::nufft);
  const auto P = static_cast<std::size_t>(grid.pixels());
  std::vector<float> a(6 * P), b(6 * P), c(6 * P);
  grid.patterns(q, a.data());
  nufft.patterns(q, b.data());
  EXPECT_LT(rel_error(std::vector<double>(a.begin(), a.end()), std::vector<double>(b.begin(), b.end())), 1e-4);
  EXPECT_NEAR(grid.electrons(), nufft.electrons(), 1e-3 * nufft.electrons());
  for (auto& o : q) o = {-o.w, -o.x, -o.y, -o.z};
  grid.patterns(q, c.data());
  EXPECT_LT(rel_error(std::vector<double>(c.begin(), c.end()), std::vector<double>(a.begin(), a.end())), 1e-6);
}

}  // namespace
}  // namespace spire::simulate
