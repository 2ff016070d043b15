#pragma once
// Noise-free images of the built-in molecule for the loop's tests: `n_images` at random
// orientations (their truth kept) on a square detector of `side` x `side` pixels (0.08 m at
// 0.2 m), 1e14 photons on a 0.1 um spot, prepared (reconstruct::prepare).
#include <cstdint>
#include <random>

#include "geometry/detector.hpp"
#include "reconstruct/data.hpp"
#include "simulate/simulate.hpp"

namespace spire::reconstruct::test {

inline geometry::Beam simulated_beam() {
  geometry::Beam beam;
  beam.photons_per_pulse = 1e14;
  beam.radius_m = 0.1e-6;
  return beam;
}

inline Data simulated_images(std::int64_t n_images, std::int64_t side, std::uint64_t seed) {
  const auto atoms = simulate::centred(simulate::built_in_molecule());
  const auto det = geometry::Detector::square(side, 0.08, 0.2);
  const auto beam = simulated_beam();
  Data d;
  d.n_images = n_images;
  d.n_pixels = det.size();
  d.truth = geometry::random_orientations(static_cast<std::size_t>(n_images), seed);
  d.images.resize(static_cast<std::size_t>(n_images * det.size()));
  simulate::PatternSimulator(atoms, det, beam, 1e-5, 0).patterns(d.truth, d.images.data());
  d.pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
  prepare(d);
  return d;
}

// Poisson counts of prepared noise-free images (unit mean pixel), about `photons` per image,
// prepared; the truth and pixels kept.
inline Data counted(const Data& intensities, double photons, unsigned seed) {
  Data d;
  d.n_images = intensities.n_images, d.n_pixels = intensities.n_pixels;
  d.pixels = intensities.pixels, d.truth = intensities.truth;
  d.images.resize(intensities.images.size());
  std::mt19937 rng(seed);
  const double per_pixel = photons / static_cast<double>(d.n_pixels);
  for (std::size_t k = 0; k < d.images.size(); ++k)
    d.images[k] = static_cast<float>(std::poisson_distribution<int>(per_pixel * intensities.images[k])(rng));
  prepare(d);
  return d;
}

}  // namespace spire::reconstruct::test
