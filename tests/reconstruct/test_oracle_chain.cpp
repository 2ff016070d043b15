// The stages joined with the true orientations ("oracle"): simulate -> merge -> phase must
// give back the model's density. This pins down that simulation, slicing/merging (the
// x = pi R^T s / s_ext convention), phasing (centred grids) and the model map (voxel
// 1/(2 s_max)) all agree, before orientation finding is added on top.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"
#include "simulate/simulate.hpp"
#include "slicing/slicing.hpp"

using namespace spire;

TEST(OracleChain, MergingAndPhasingTrueOrientationsRecoverTheModel) {
  const auto atoms = simulate::centred(simulate::built_in_molecule());
  const auto det = geometry::Detector::square(32, 0.08, 0.2);
  geometry::Beam beam;
  beam.photons_per_pulse = 1e14;
  beam.radius_m = 0.1e-6;
  const std::int64_t n_images = 600, P = det.size();
  const auto truth = geometry::random_orientations(static_cast<std::size_t>(n_images), 1);
  simulate::PatternSimulator sim(atoms, det, beam, 1e-5, 0);
  std::vector<float> images(static_cast<std::size_t>(n_images * P));
  sim.patterns(truth, images.data());  // noise-free

  const auto pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
  double s_ext = 0;
  for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  const int n = 25;
  std::vector<float> x, y, z;
  for (const auto& q : truth) slicing::rotated_points<float>(q, pixels, s_ext, x, y, z);

  merging::Settings ms;
  ms.n = n;
  ms.rho = 1e-4;
  ms.support_radius = n / 2;
  ms.max_iterations = 200;
  merging::Merger<float> merger(ms);
  merger.accumulate(x, y, z, images);
  const auto solution = merger.solve();

  phasing::Phaser<double> phaser(n);
  phaser.set_autocorrelation(solution.x);
  const auto phased = phaser.run();

  const auto model = simulate::reference_model(atoms, det, beam.wavelength_m(), n, 1e-5);
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
