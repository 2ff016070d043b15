// `scripts/bench simulate`: patterns per second of 128x128 images of 2cex (4600 eV, 0.08 m
// detector at 0.2 m), the default spline path and the NUFFT path side by side, with each
// path's accuracy against the direct sum on sampled pixels. Last line: one JSON object.
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "simulate/simulate.hpp"
#include "simulate/transform.hpp"

using namespace spire;
using clock_type = std::chrono::steady_clock;

namespace {

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct Figures {
  double setup_s, patterns_per_s, rel_error;
};

Figures measure(simulate::PatternSimulator::Method method, const std::vector<simulate::Atom>& atoms,
                const geometry::Detector& det, const geometry::Beam& beam, std::int64_t n_images) {
  auto t0 = clock_type::now();
  simulate::PatternSimulator sim(atoms, det, beam, 1e-5, 0, method);
  const double setup = since(t0);
  const std::int64_t batch = 250, P = det.size();
  std::vector<float> images(static_cast<std::size_t>(batch * P));
  const auto q = geometry::random_orientations(static_cast<std::size_t>(n_images), 11);
  t0 = clock_type::now();
  for (std::int64_t first = 0; first < n_images; first += batch) {
    const std::vector<geometry::Quaternion> part(q.begin() + first, q.begin() + std::min(n_images, first + batch));
    sim.patterns(part, images.data());
  }
  const double rate = static_cast<double>(n_images) / since(t0);

  // Accuracy: 20 orientations x 400 sampled pixels against the direct sum (I, relative l2).
  const auto recip = geometry::reciprocal_positions(det, beam.wavelength_m());
  const auto pol = geometry::polarization_factors(det);
  const auto omega = geometry::solid_angles(det);
  const double pre = beam.fluence_per_m2() * 2.8179403262e-15 * 2.8179403262e-15;
  const auto probe = geometry::random_orientations(20, 3);
  std::vector<float> got(static_cast<std::size_t>(20 * P));
  sim.patterns(probe, got.data());
  std::mt19937_64 rng(5);
  double num = 0, den = 0;
  for (int i = 0; i < 20; ++i)
    for (int k = 0; k < 400; ++k) {
      const auto p = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(P));
      const auto s = geometry::rotate_inverse(probe[i], recip[p]);
      const double sx = s[0] * 1e-10, sy = s[1] * 1e-10, sz = s[2] * 1e-10;
      std::complex<double> F;
      simulate::molecular_transform_direct(atoms, 1, &sx, &sy, &sz, &F);
      const double want = pre * omega[p] * pol[p] * std::norm(F);
      num += std::pow(got[i * P + p] - want, 2);
      den += want * want;
    }
  return {setup, rate, std::sqrt(num / den)};
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n_images = argc > 1 ? std::atol(argv[1]) : 10000;
  const std::int64_t n_nufft = argc > 2 ? std::atol(argv[2]) : 500;
  const std::string pdb = argc > 3 ? argv[3] : SPIRE_SHARED_DATA "/2cex.pdb";
  const bool have_pdb = std::filesystem::exists(pdb);
  const auto atoms = simulate::centred(have_pdb ? simulate::read_pdb(pdb) : simulate::built_in_molecule());
  const auto det = geometry::Detector::square(128, 0.08, 0.2);
  geometry::Beam beam;
  beam.photons_per_pulse = 1e13;
  fmt::print("simulate: {} ({} atoms), 128x128, 4600 eV; spline path {} images, NUFFT path {} images\n",
             have_pdb ? pdb : "built-in molecule (2cex not found)", atoms.size(), n_images, n_nufft);
  const auto spline = measure(simulate::PatternSimulator::Method::spline, atoms, det, beam, n_images);
  fmt::print("  spline: set-up {:.2f} s, {:.0f} patterns/s, rel. error of I {:.2e}\n", spline.setup_s,
             spline.patterns_per_s, spline.rel_error);
  const auto nufft = measure(simulate::PatternSimulator::Method::nufft, atoms, det, beam, n_nufft);
  fmt::print("  nufft:  set-up {:.2f} s, {:.0f} patterns/s, rel. error of I {:.2e}\n", nufft.setup_s,
             nufft.patterns_per_s, nufft.rel_error);
  fmt::print("  speed-up of the spline path: {:.1f}x\n", spline.patterns_per_s / nufft.patterns_per_s);
  fmt::print(
      "{{\"benchmark\": \"simulate\", \"model\": \"{}\", \"atoms\": {}, \"pixels\": 16384, \"images\": {}, "
      "\"spline_setup_s\": {:.3f}, \"spline_patterns_per_s\": {:.1f}, \"spline_rel_error\": {:.3e}, "
      "\"nufft_images\": {}, \"nufft_setup_s\": {:.3f}, \"nufft_patterns_per_s\": {:.1f}, \"nufft_rel_error\": {:.3e}, "
      "\"speedup\": {:.2f}}}\n",
      have_pdb ? "2cex" : "built-in", atoms.size(), n_images, spline.setup_s, spline.patterns_per_s,
      spline.rel_error, n_nufft, nufft.setup_s, nufft.patterns_per_s, nufft.rel_error,
      spline.patterns_per_s / nufft.patterns_per_s);
}
