#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "core/error.hpp"
#include "simulate/form_factors.hpp"
#include "simulate/transform.hpp"

namespace spire::simulate {
namespace {

constexpr double kSMax = 0.1;  // 1/A: about the corner of the reference 128-pixel detector

struct Points {
  std::vector<double> x, y, z;
};

// Points spread over the cube |s_d| <= s_max, half of them in the low-|s| ball where most
// of the signal is.
Points sample_points(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-kSMax, kSMax);
  Points p;
  for (std::size_t i = 0; i < n; ++i) {
    const double shrink = i % 2 ? 1.0 : 0.3;
    p.x.push_back(shrink * u(rng));
    p.y.push_back(shrink * u(rng));
    p.z.push_back(shrink * u(rng));
  }
  return p;
}

struct Case {
  std::vector<Atom> atoms;
  Points points;
  std::vector<std::complex<double>> reference;
};

// Direct sums are the slow part: one per molecule, shared by the float and double tests.
const Case* reference_case(const std::string& molecule) {
  static std::map<std::string, Case> cache;
  auto it = cache.find(molecule);
  if (it != cache.end()) return &it->second;
  Case c;
  if (molecule == "built-in") {
    c.atoms = built_in_molecule();
  } else {
    const std::string path = SPIRE_SHARED_DATA "/2cex.pdb";
    if (!std::filesystem::exists(path)) return nullptr;
    c.atoms = read_pdb(path);
  }
  c.points = sample_points(20000, 7);
  c.reference.resize(c.points.x.size());
  molecular_transform_direct(c.atoms, static_cast<std::int64_t>(c.reference.size()),
                             c.points.x.data(), c.points.y.data(), c.points.z.data(),
                             c.reference.data());
  return &cache.emplace(molecule, std::move(c)).first->second;
}

template <typename T>
double fast_error(const Case& c, double tolerance) {
  MolecularTransform<T> transform(c.atoms, kSMax, tolerance);
  const std::vector<T> x(c.points.x.begin(), c.points.x.end()),
      y(c.points.y.begin(), c.points.y.end()), z(c.points.z.begin(), c.points.z.end());
  std::vector<std::complex<T>> F(x.size());
  transform.evaluate(static_cast<std::int64_t>(x.size()), x.data(), y.data(), z.data(),
                     F.data());
  double err = 0, norm = 0;
  for (std::size_t i = 0; i < F.size(); ++i) {
    // Float points are the double ones rounded (~6e-9 1/A): a phase error of 2 pi 6e-9 |r|,
    // below 1e-5 for atoms within 100 A of the origin, so one reference serves both.
    err += std::norm(std::complex<double>(F[i]) - c.reference[i]);
    norm += std::norm(c.reference[i]);
  }
  return std::sqrt(err / norm);
}

template <typename T>
class Transform : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Transform, Precisions);

template <typename T>
double tolerance() { return sizeof(T) == 4 ? 1e-5 : 1e-9; }
template <typename T>
double bound() { return sizeof(T) == 4 ? 1e-4 : 1e-7; }

TYPED_TEST(Transform, FastMatchesDirectOnBuiltInMolecule) {
  const Case* c = reference_case("built-in");
  const double err = fast_error<TypeParam>(*c, tolerance<TypeParam>());
  std::printf("built-in molecule, %s: relative l2 error %.3g\n",
              sizeof(TypeParam) == 4 ? "float" : "double", err);
  EXPECT_LT(err, bound<TypeParam>());
}

TYPED_TEST(Transform, FastMatchesDirectOn2cex) {
  const Case* c = reference_case("2cex");
  if (!c) GTEST_SKIP() << "2cex.pdb is absent";
  const double err = fast_error<TypeParam>(*c, tolerance<TypeParam>());
  std::printf("2cex, %s: relative l2 error %.3g\n", sizeof(TypeParam) == 4 ? "float" : "double",
              err);
  EXPECT_LT(err, bound<TypeParam>());
}

TYPED_TEST(Transform, ZeroIsTheElectronCountAndFriedelHolds) {
  const auto atoms = built_in_molecule();
  double electrons = 0;
  for (const Atom& a : atoms) electrons += a.occupancy * form_factor(a.element)(0);
  MolecularTransform<TypeParam> transform(atoms, kSMax, tolerance<TypeParam>());
  EXPECT_NEAR(transform.electrons(), electrons, 1e-9 * electrons);

  const Points p = sample_points(200, 3);
  std::vector<TypeParam> x{0}, y{0}, z{0};
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    for (double sign : {1.0, -1.0}) {
      x.push_back(static_cast<TypeParam>(sign * p.x[i]));
      y.push_back(static_cast<TypeParam>(sign * p.y[i]));
      z.push_back(static_cast<TypeParam>(sign * p.z[i]));
    }
  }
  std::vector<std::complex<TypeParam>> F(x.size());
  transform.evaluate(static_cast<std::int64_t>(x.size()), x.data(), y.data(), z.data(), F.data());
  EXPECT_NEAR(F[0].real(), electrons, 10 * bound<TypeParam>() * electrons);
  EXPECT_NEAR(F[0].imag(), 0, 10 * bound<TypeParam>() * electrons);
  // Friedel: F(-s) = conj F(s), to the transform's accuracy relative to F(0).
  for (std::size_t i = 1; i < F.size(); i += 2)
    EXPECT_LT(std::abs(F[i + 1] - std::conj(F[i])), 10 * bound<TypeParam>() * electrons) << i;

  // And the direct sum: F(0) exactly, Friedel to rounding.
  const double dx[3] = {0, 0.031, -0.031}, dy[3] = {0, -0.017, 0.017}, dz[3] = {0, 0.02, -0.02};
  std::complex<double> D[3];
  molecular_transform_direct(atoms, 3, dx, dy, dz, D);
  EXPECT_NEAR(D[0].real(), electrons, 1e-9 * electrons);
  EXPECT_NEAR(std::abs(D[2] - std::conj(D[1])), 0, 1e-9 * electrons);
}

TYPED_TEST(Transform, ChunkingDoesNotChangeTheResult) {
  const auto atoms = built_in_molecule();
  const Points p = sample_points(1000, 5);
  const std::vector<TypeParam> x(p.x.begin(), p.x.end()), y(p.y.begin(), p.y.end()),
      z(p.z.begin(), p.z.end());
  std::vector<std::complex<TypeParam>> whole(x.size()), pieces(x.size());
  MolecularTransform<TypeParam>(atoms, kSMax, tolerance<TypeParam>())
      .evaluate(1000, x.data(), y.data(), z.data(), whole.data());
  TransformOptions options;
  options.chunk_points = 300;
  MolecularTransform<TypeParam>(atoms, kSMax, tolerance<TypeParam>(), options)
      .evaluate(1000, x.data(), y.data(), z.data(), pieces.data());
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_LT(std::abs(whole[i] - pieces[i]), 1e-3 * bound<TypeParam>() * std::abs(whole[0]) + 1e-12)
        << i;
}

TEST(TransformAccuracy, TightDoubleTolerance) {
  // Exercises the tabulated kernel transform and factor basis near double precision.
  const double err = fast_error<double>(*reference_case("built-in"), 1e-12);
  std::printf("built-in molecule, double, tol 1e-12: relative l2 error %.3g\n", err);
  EXPECT_LT(err, 1e-10);
}

TEST(TransformAccuracy, LargerSMaxNeedsMoreComponents) {
  // s up to 0.4 1/A (2.5 A resolution): the factors differ more, the basis grows.
  const auto atoms = built_in_molecule();
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-0.4, 0.4);
  std::vector<double> x(3000), y(3000), z(3000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = u(rng), y[i] = u(rng), z[i] = u(rng);
  std::vector<std::complex<double>> exact(x.size()), fast(x.size());
  molecular_transform_direct(atoms, 3000, x.data(), y.data(), z.data(), exact.data());
  MolecularTransform<double> transform(atoms, 0.4, 1e-7);
  EXPECT_EQ(transform.components(), 4);
  transform.evaluate(3000, x.data(), y.data(), z.data(), fast.data());
  double err = 0, norm = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    err += std::norm(fast[i] - exact[i]);
    norm += std::norm(exact[i]);
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-6);
}

TEST(TransformErrors, PointsBeyondSMaxAndBadPlans) {
  const auto atoms = built_in_molecule();
  MolecularTransform<double> transform(atoms, kSMax, 1e-6);
  const double x[2] = {0.01, 0.2}, y[2] = {0, 0}, z[2] = {0, 0};
  std::complex<double> F[2];
  try {
    transform.evaluate(2, x, y, z, F);
    FAIL() << "no error for a point beyond s_max";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("point 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MolecularTransform<double>(atoms, 0.0, 1e-6), Error);
  EXPECT_THROW(MolecularTransform<double>({}, kSMax, 1e-6), Error);
}

TEST(TransformGrid, SpacingAndSizeFollowSMax) {
  MolecularTransform<float> transform(built_in_molecule(), kSMax, 1e-5);
  EXPECT_DOUBLE_EQ(transform.grid_spacing(), 2.5);
  // About 26 A across at 2.5 A spacing, plus the kernel: a small grid.
  for (auto n : transform.grid_size()) {
    EXPECT_EQ(n % 2, 0);
    EXPECT_LE(n, 32);
  }
  EXPECT_EQ(transform.species().size(), 4u);
  // C, N, O, S factors over |s| <= 0.17 1/A: three components reproduce them to 1e-5.
  EXPECT_EQ(transform.components(), 3);
}

}  // namespace
}  // namespace spire::simulate
