// spire's side of bench/simulate/run: expected-photon patterns of a PDB model on the
// reference geometry (128 x 128 pixels, 0.08 m at 0.2 m, 4600 eV), the grid path on N images
// and the NUFFT path on fewer in the same run; set-up and pattern time separately; accuracy
// of both against the direct sum on sampled pixels of random orientations. Prints one JSON
// object.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../timing.hpp"
#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "simulate/simulate.hpp"
#include "simulate/tabulated_transform.hpp"
#include "simulate/transform.hpp"

namespace {

using namespace spire;
using bench::clock_type;
using bench::since;
using bench::cpu_seconds;

constexpr std::int64_t kBatch = 250;  // images per patterns() call, as simulate_dataset

struct Timing {
  double setup_s = 0, patterns_s = 0, patterns_cpu_s = 0;
};

// Set-up and pattern time of n images; keeps the images of `keep` (their indices) for the
// accuracy check.
Timing time_path(const std::vector<simulate::Atom>& atoms, const geometry::Detector& det,
                 const geometry::Beam& beam, double tolerance, simulate::PatternMethod method,
                 const std::vector<geometry::Quaternion>& orientations, std::int64_t n,
                 std::vector<float>& first_batch) {
  Timing t;
  auto t0 = clock_type::now();
  simulate::PatternSimulator sim(atoms, det, beam, tolerance, 0, method);
  t.setup_s = since(t0);
  const std::int64_t P = sim.pixels();
  std::vector<float> images(static_cast<std::size_t>(kBatch * P));
  t0 = clock_type::now();
  const double c0 = cpu_seconds();
  for (std::int64_t first = 0; first < n; first += kBatch) {
    const std::int64_t count = std::min(kBatch, n - first);
    const std::vector<geometry::Quaternion> batch(orientations.begin() + first,
                                                  orientations.begin() + first + count);
    sim.patterns(batch, images.data());
    if (first == 0) first_batch.assign(images.begin(), images.begin() + count * P);
  }
  t.patterns_s = since(t0);
  t.patterns_cpu_s = cpu_seconds() - c0;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n_grid = argc > 1 ? std::atoll(argv[1]) : 10000;
  const std::int64_t n_nufft = argc > 2 ? std::atoll(argv[2]) : 500;
  const std::string pdb = argc > 3 ? argv[3] : SPIRE_SHARED_DATA "/2cex.pdb";
  const double tolerance = 1e-5;
  constexpr double kElectronRadius = 2.8179403262e-15;  // m

  const auto atoms = simulate::centred(simulate::read_pdb(pdb));
  const auto det = geometry::Detector::square(128, 0.08, 0.2);
  const geometry::Beam beam;
  const auto orientations = geometry::random_orientations(static_cast<std::size_t>(std::max(n_grid, n_nufft)), 11);

  std::vector<float> grid_images, nufft_images;
  const Timing grid = time_path(atoms, det, beam, tolerance, simulate::PatternMethod::grid,
                                orientations, n_grid, grid_images);
  const Timing nufft = time_path(atoms, det, beam, tolerance, simulate::PatternMethod::nufft,
                                 orientations, n_nufft, nufft_images);

  // Accuracy on sampled pixels of the first batch's images, against the direct sum in
  // double: I (both paths) and F (the tabulated transform alone, same points).
  const auto recip = geometry::reciprocal_positions(det, beam.wavelength_m());
  const auto pol = geometry::polarization_factors(det);
  const auto omega = geometry::solid_angles(det);
  const std::int64_t P = det.size(), images = std::min({kBatch, n_grid, n_nufft});
  const int per_image = 40;
  std::mt19937_64 rng(5);
  std::vector<double> x, y, z, prefactor;
  std::vector<std::int64_t> index;
  for (std::int64_t i = 0; i < images; ++i) {
    const auto R = geometry::rotation_matrix(orientations[i]);
    for (int k = 0; k < per_image; ++k) {
      const auto p = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(P));
      const double a = recip[p][0] * 1e-10, b = recip[p][1] * 1e-10, c = recip[p][2] * 1e-10;
      x.push_back(R[0] * a + R[3] * b + R[6] * c);
      y.push_back(R[1] * a + R[4] * b + R[7] * c);
      z.push_back(R[2] * a + R[5] * b + R[8] * c);
      prefactor.push_back(beam.fluence_per_m2() * kElectronRadius * kElectronRadius * omega[p] * pol[p]);
      index.push_back(i * P + p);
    }
  }
  const auto m = static_cast<std::int64_t>(x.size());
  std::vector<std::complex<double>> F(static_cast<std::size_t>(m));
  simulate::molecular_transform_direct(atoms, m, x.data(), y.data(), z.data(), F.data());
  double e_grid = 0, e_nufft = 0, norm_i = 0, e_f = 0, norm_f = 0;
  const simulate::TabulatedTransform table(atoms, 0.102, tolerance);
  const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end()), zf(z.begin(), z.end());
  std::vector<std::complex<float>> Ft(static_cast<std::size_t>(m));
  table.evaluate(m, xf.data(), yf.data(), zf.data(), Ft.data());
  for (std::int64_t k = 0; k < m; ++k) {
    const double I = prefactor[k] * std::norm(F[k]);
    e_grid += std::pow(grid_images[index[k]] - I, 2);
    e_nufft += std::pow(nufft_images[index[k]] - I, 2);
    norm_i += I * I;
    e_f += std::norm(std::complex<double>(Ft[k]) - F[k]);
    norm_f += std::norm(F[k]);
  }

  fmt::print(
      "{{\"benchmark\": \"simulate\", \"pdb\": \"{}\", \"atoms\": {}, \"pixels\": {}, \"tolerance\": {}, "
      "\"grid\": {{\"images\": {}, \"setup_s\": {:.3f}, \"patterns_s\": {:.3f}, \"patterns_per_s\": {:.1f}, "
      "\"patterns_per_cpu_s\": {:.1f}, \"nodes_per_dim\": {}, \"spacing_per_A\": {:.4g}, \"radius_A\": {:.2f}, \"bytes\": {}, "
      "\"rel_error_I\": {:.3g}, \"rel_error_F\": {:.3g}}}, "
      "\"nufft\": {{\"images\": {}, \"setup_s\": {:.3f}, \"patterns_s\": {:.3f}, \"patterns_per_s\": {:.1f}, "
      "\"patterns_per_cpu_s\": {:.1f}, \"rel_error_I\": {:.3g}}}, \"speedup\": {:.1f}, \"sampled_pixels\": {}}}\n",
      pdb, atoms.size(), P, tolerance, n_grid, grid.setup_s, grid.patterns_s,
      static_cast<double>(n_grid) / grid.patterns_s,
      static_cast<double>(n_grid) / grid.patterns_cpu_s, table.size(), table.spacing(), table.radius(),
      table.bytes(), std::sqrt(e_grid / norm_i), std::sqrt(e_f / norm_f), n_nufft, nufft.setup_s,
      nufft.patterns_s, static_cast<double>(n_nufft) / nufft.patterns_s,
      static_cast<double>(n_nufft) / nufft.patterns_cpu_s, std::sqrt(e_nufft / norm_i),
      (static_cast<double>(n_grid) / grid.patterns_s) / (static_cast<double>(n_nufft) / nufft.patterns_s), m);
}
