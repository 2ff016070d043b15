// The pattern simulator and the dataset it writes: physics against an independent
// evaluation, photon statistics, determinism, and the file read back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <unistd.h>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "io/dataset.hpp"
#include "io/mrc.hpp"
#include "simulate/form_factors.hpp"
#include "simulate/simulate.hpp"
#include "simulate/transform.hpp"
#include "core/error.hpp"

using namespace spire;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("spire_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST(PhotonCounter, MeanAndVarianceArePoisson) {
  for (double lambda : {0.05, 0.7, 4.0, 29.0, 80.0}) {
    simulate::PhotonCounter counter(12345);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double k = counter.draw(lambda);
      ASSERT_EQ(k, std::floor(k));
      sum += k;
      sum2 += k * k;
    }
    const double mean = sum / n, var = sum2 / n - mean * mean;
    // five standard errors of the mean and of the variance
    EXPECT_NEAR(mean, lambda, 5 * std::sqrt(lambda / n)) << lambda;
    EXPECT_NEAR(var, lambda, 5 * std::sqrt((lambda + 2 * lambda * lambda) / n)) << lambda;
  }
  simulate::PhotonCounter counter(1);
  EXPECT_EQ(counter.draw(0), 0.0f);
}

// SPEC.md: 2cex gives about 14 photons per image at 1e12 photons on a 0.5 um spot.
TEST(PatternSimulator, PhotonCountOf2cexMatchesTheSpec) {
  const std::string path = SPIRE_SHARED_DATA "/2cex.pdb";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  const auto atoms = simulate::centred(simulate::read_pdb(path));
  const auto det = geometry::Detector::square(128, 0.08, 0.2);
  geometry::Beam beam;  // 4600 eV, 1e12 photons, 0.5 um
  simulate::PatternSimulator sim(atoms, det, beam, 1e-4, 0);
  const auto q = geometry::random_orientations(8, 5);
  std::vector<float> img(static_cast<std::size_t>(8 * det.size()));
  sim.patterns(q, img.data());
  const double mean = std::accumulate(img.begin(), img.end(), 0.0) / 8;
  std::cout << "2cex expected photons per image (1e12 photons, 0.5 um): " << mean << "\n";
  EXPECT_GT(mean, 10);
  EXPECT_LT(mean, 20);
}

TEST(SimulateDataset, WritesWhatItSimulatedAndIsDeterministic) {
  simulate::SimulationSettings st;
  st.n_images = 13;
  st.detector_pixels = 20;
  st.volume_size = 15;
  st.seed = 7;
  st.beam.photons_per_pulse = 1e14;
  st.batch_images = 5;
  const std::string a = temp_path("a.h5"), b = temp_path("b.h5"), map = temp_path("a.mrc");
  st.model_map = map;
  const auto sum = simulate::simulate_dataset(st, a, "spire simulate (test)");
  st.batch_images = 13;  // another batching: the same images
  st.model_map.clear();
  simulate::simulate_dataset(st, b, "spire simulate (test)");

  io::DatasetReader ra(a), rb(b);
  EXPECT_EQ(ra.info().n_images, 13u);
  EXPECT_EQ(ra.info().height, 20);
  EXPECT_EQ(ra.info().width, 20);
  EXPECT_EQ(ra.info().command_line, "spire simulate (test)");
  ASSERT_TRUE(ra.has_orientations());
  const auto q = ra.read_orientations();
  const auto want = geometry::random_orientations(13, 7);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(q[4 * i], want[i].w);
  std::vector<float> ia(13 * 400), ib(13 * 400);
  ra.read_images(0, 13, ia.data());
  rb.read_images(0, 13, ib.data());
  EXPECT_EQ(ia, ib);
  double photons = 0;
  for (float v : ia) {
    EXPECT_EQ(v, std::floor(v));  // Poisson counts
    photons += v;
  }
  EXPECT_NEAR(photons / 13, sum.mean_photons, 5 * std::sqrt(sum.mean_photons / 13) + 1);
  ASSERT_TRUE(ra.has_volume());
  EXPECT_EQ(ra.volume_shape()[0], 15u);

  // The density map holds the molecule's electrons: sum rho voxel^3 = F(0).
  const auto m = io::read_mrc(map);
  double electrons = 0;
  for (float v : m.data) electrons += v;
  electrons *= m.voxel_size * m.voxel_size * m.voxel_size;
  EXPECT_NEAR(electrons, sum.electrons, 1e-3 * sum.electrons);
  for (const auto& p : {a, b, map}) std::filesystem::remove(p);
}

TEST(SimulateDataset, RejectsImpossibleSettings) {
  simulate::SimulationSettings st;
  st.n_images = 0;
  EXPECT_THROW(simulate::simulate_dataset(st, temp_path("x.h5"), ""), spire::Error);
  st.n_images = 2;
  st.beam.radius_m = -1;
  EXPECT_THROW(simulate::simulate_dataset(st, temp_path("x.h5"), ""), spire::Error);
  st.beam.radius_m = 1e-7;
  st.pdb = "/nonexistent/model.pdb";
  try {
    simulate::simulate_dataset(st, temp_path("x.h5"), "");
    FAIL();
  } catch (const spire::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.pdb"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(temp_path("x.h5")));
}
