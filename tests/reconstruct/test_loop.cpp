// The loop end to end on a small noise-free dataset: in oracle mode (true orientations) two
// generations reproduce the model's density.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "geometry/detector.hpp"
#include "reconstruct/reconstruct.hpp"
#include "resolution/align.hpp"
#include "simulate/simulate.hpp"

using namespace spire;

namespace {

struct Small {
  reconstruct::Data data;
  std::vector<double> model;
};

Small small_dataset(std::int64_t n_images, int n) {
  const auto atoms = simulate::centred(simulate::built_in_molecule());
  const auto det = geometry::Detector::square(32, 0.08, 0.2);
  geometry::Beam beam;
  beam.photons_per_pulse = 1e14;
  beam.radius_m = 0.1e-6;
  Small s;
  s.data.n_images = n_images;
  s.data.n_pixels = det.size();
  s.data.truth = geometry::random_orientations(static_cast<std::size_t>(n_images), 9);
  s.data.images.resize(static_cast<std::size_t>(n_images * det.size()));
  simulate::PatternSimulator(atoms, det, beam, 1e-5, 0).patterns(s.data.truth, s.data.images.data());
  s.data.pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
  reconstruct::describe(s.data);
  const auto model = simulate::reference_model(atoms, det, beam.wavelength_m(), n, 1e-5);
  s.model.assign(model.density.data.begin(), model.density.data.end());
  return s;
}

}  // namespace

TEST(Loop, LocalToleranceAutoFollowsTheNoise) {
  reconstruct::Settings st;
  st.slicing.tolerance = 1e-5;
  EXPECT_EQ(reconstruct::local_tolerance(st, true), 1e-3);   // photon counts
  EXPECT_EQ(reconstruct::local_tolerance(st, false), 1e-5);  // noise-free: slicing's
  st.orientations.local_tolerance = 1e-4;
  EXPECT_EQ(reconstruct::local_tolerance(st, true), 1e-4);   // set: as set
  EXPECT_EQ(reconstruct::local_tolerance(st, false), 1e-4);
}

TEST(Loop, OracleModeReproducesTheModel) {
  const int n = 25;
  const auto s = small_dataset(400, n);
  auto st = reconstruct::load_settings("", {"grid.n=25", "orientations.oracle=true", "generations.max=2", "runtime.fft_planning=estimate",
                                            "merging.regularisation=1e-4"});
  const auto r = reconstruct::run(s.data, st);
  const auto aligned = resolution::align<double>(n, r.density, s.model);
  std::cout << "oracle loop: correlation " << aligned.correlation << "\n";
  EXPECT_GT(aligned.correlation, 0.95);
  EXPECT_LT(r.generations.back().median_error_deg, 1e-6);
}

// The orientation error ignores the reconstruction's global rotation and the turn by pi
// about the beam, and nothing else.
TEST(Loop, OrientationErrorUpToTheGlobalRotation) {
  const auto truth = geometry::random_orientations(300, 1);
  const auto Q = geometry::random_orientations(1, 2)[0];
  const geometry::Quaternion turn{0, 0, 0, 1};
  std::vector<geometry::Quaternion> found;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto q = geometry::product(truth[i], Q);
    found.push_back(i % 3 ? q : geometry::product(turn, q));
  }
  EXPECT_LT(reconstruct::median_orientation_error(found, truth), 1e-5);
  EXPECT_GT(reconstruct::median_orientation_error(geometry::random_orientations(300, 3), truth), 40);
}

// A normal run never starts from the truth, not even when the data were simulated with the
// same seed as the run's (small_dataset draws its orientations with seed 9).
TEST(Loop, RandomStartIsNotTheSimulationsOrientations) {
  const auto s = small_dataset(200, 15);
  for (const char* seed : {"runtime.seed=9", "runtime.seed=1"}) {
    const auto st = reconstruct::load_settings("", {"grid.n=15", "generations.max=1", "orientations.references=100", "runtime.fft_planning=estimate", seed});
    const auto r = reconstruct::run(s.data, st);
    EXPECT_GT(r.generations[0].median_error_deg, 40) << seed;
  }
}
