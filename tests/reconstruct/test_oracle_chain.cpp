// The stages joined with the true orientations ("oracle"): simulate -> merge -> phase must
// give back the model's density. This pins down that simulation, slicing/merging (the
// x = pi R^T s / s_ext convention), phasing (centred grids) and the model map (voxel
// 1/(2 s_max)) all agree, before orientation finding is added on top.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <iostream>
#include <numbers>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"
#include "simulate/simulate.hpp"
#include "slicing/slicing.hpp"

using namespace spire;

namespace {

// The built-in molecule on a coarse 32 x 32 detector, noise-free, at high fluence.
struct Chain {
  static constexpr int n = 25;
  std::vector<simulate::Atom> atoms = simulate::centred(simulate::built_in_molecule());
  geometry::Detector det = geometry::Detector::square(32, 0.08, 0.2);
  geometry::Beam beam = [] {
    geometry::Beam b;
    b.photons_per_pulse = 1e14;
    b.radius_m = 0.1e-6;
    return b;
  }();
  std::vector<std::array<double, 3>> pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
  double s_ext = [this] {
    double m = 0;
    for (const auto& p : pixels) m = std::max(m, std::hypot(p[0], p[1], p[2]));
    return m;
  }();
  simulate::PatternSimulator sim{atoms, det, beam, 1e-5, 0};

  std::int64_t P() const { return det.size(); }
  std::vector<float> images(const std::vector<geometry::Quaternion>& q) {
    std::vector<float> out(q.size() * static_cast<std::size_t>(P()));
    sim.patterns(q, out.data());
    return out;
  }
  // Merging at the given (true) orientations.
  merging::Solution merged(const std::vector<geometry::Quaternion>& q, const std::vector<float>& data,
                           int max_iterations) const {
    std::vector<float> x, y, z;
    for (const auto& o : q) slicing::rotated_points<float>(o, pixels, s_ext, x, y, z);
    merging::Options ms;
    ms.nufft.planning = Planning::estimate;  // tests should not depend on cached FFTW wisdom
    ms.n = n;
    ms.rho = 1e-4;
    ms.support_radius = n / 2;
    ms.max_iterations = max_iterations;
    merging::Merger<float> merger(ms);
    merger.accumulate(x, y, z, data);
    return merger.solve();
  }
};

}  // namespace

TEST(OracleChain, MergingAndPhasingTrueOrientationsRecoverTheModel) {
  Chain c;
  const int n = Chain::n;
  const auto truth = geometry::random_orientations(600, 1);
  const auto solution = c.merged(truth, c.images(truth), 200);

  phasing::Phaser<double> phaser(n, 0, Planning::estimate);
  phaser.set_autocorrelation(solution.x);
  const auto phased = phaser.run();

  const auto model = simulate::reference_model(c.atoms, c.det, c.beam.wavelength_m(), n, 1e-5);
  std::vector<double> reference(model.density.data.begin(), model.density.data.end());
  const auto aligned = resolution::align<double>(n, phased.density, reference);
  const auto curve = resolution::fsc<double>(n, aligned.map, reference);
  const auto at_half = curve.crossing(0.5);
  std::cout << "oracle chain: CG " << solution.cg.iterations << " iterations, residual " << solution.cg.residual
            << "; correlation with the model map " << aligned.correlation << " (inverted " << aligned.inverted
            << "); FSC 0.5 at shell " << (at_half ? *at_half : -1.0) << " of " << n / 2 << "\n";
  EXPECT_GT(aligned.correlation, 0.95);
  EXPECT_TRUE(!at_half || *at_half > 0.8 * (n / 2)) << "FSC falls below 0.5 at shell " << *at_half;
}

// Slicing the model's autocorrelation at the reference orientations and matching the data
// to the slices finds each image's orientation to about the reference set's covering radius.
TEST(OracleChain, MatchingFindsTheTrueOrientations) {
  Chain c;
  const int n = Chain::n;
  const std::int64_t n_images = 200, P = c.P(), M = 4000;
  const auto truth = geometry::random_orientations(static_cast<std::size_t>(n_images), 2);
  const auto images = c.images(truth);
  // The model's autocorrelation, merged from other images at their true orientations.
  const auto many = geometry::random_orientations(800, 3);
  const auto solution = c.merged(many, c.images(many), 100);
  const std::vector<float> autocorrelation(solution.x.begin(), solution.x.end());

  const auto refs = geometry::reference_orientations(M);
  slicing::Options so;
  so.batch_size = 1000;
  slicing::Slicer<float> slicer(refs, c.pixels, c.s_ext, n, so);
  slicer.set_autocorrelation(autocorrelation);
  matching::Options mo;
  mo.scale = matching::Scale::per_slice;
  matching::NearestSlices<float> nearest(n_images, P, images, mo);
  std::vector<float> slices;
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b) {
    slices.resize(static_cast<std::size_t>(slicer.batch_count(b) * P));
    slicer.slice_batch(b, slices.data());
    nearest.add_batch(slicer.batch_first(b), slicer.batch_count(b), slices);
  }
  const double cover = geometry::covering_radius(refs, geometry::random_orientations(20000, 4)).max_angle;
  // A flat-ish detector sees I(s) = I(-s): a turn by pi about the beam gives almost the same
  // pattern, so the error is taken over both (the curvature of the Ewald sphere decides).
  const geometry::Quaternion turn{0, 0, 0, 1};
  int close = 0, flipped = 0;
  std::vector<double> errors;
  for (std::int64_t i = 0; i < n_images; ++i) {
    const auto& found = refs[nearest.indices()[i]];
    const double direct = geometry::angle_between(found, truth[i]);
    const double turned = geometry::angle_between(found, geometry::product(turn, truth[i]));
    errors.push_back(std::min(direct, turned));
    close += errors.back() <= 2 * cover;
    flipped += turned < direct;
  }
  std::nth_element(errors.begin(), errors.begin() + n_images / 2, errors.end());
  std::cout << "matching: median orientation error " << errors[n_images / 2] * 180 / std::numbers::pi
            << " deg, covering radius " << cover * 180 / std::numbers::pi << " deg, " << close << "/" << n_images
            << " within twice it, " << flipped << " turned by pi about the beam\n";
  // Measured: median 9.3 deg against a 13.4 deg covering radius, 80% within twice it (the
  // built-in blob on a coarse 32 x 32 detector leaves some images ambiguous). A wrong
  // rotation convention anywhere gives errors of tens of degrees.
  EXPECT_LT(errors[n_images / 2], cover);  // issue 8 asks for at most twice the covering radius
  EXPECT_GT(close, 0.7 * n_images);
}
