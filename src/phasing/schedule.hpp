#pragma once
// The phasing schedule (Schedule, see phasing.hpp) written once over a back end's steps: the
// CPU's Phaser<T> and the GPU's DevicePhaser run it on their own building blocks.
//
// The run: check the schedule; the support (start_support, or the one from the
// autocorrelation); the density (start_density, or the random start on that support);
// clear the Fourier errors; `loops` times HIO, ER, shrinkwrap with sigma falling
// geometrically from sigma_start (first loop) to sigma_end (last loop; sigma_end alone when
// loops = 1); the final ER; the density and support read back, recentred if asked.
//
// Steps must provide (T the density's type, errors appended by hio and er):
//   std::vector<std::uint8_t> support_from_autocorrelation(double fraction, double sigma);
//   void set_support(std::span<const std::uint8_t>);    centred
//   void random_density(std::uint64_t seed);
//   void set_density(std::span<const T>);                centred
//   void hio(int iterations, double beta, bool positivity);
//   void er(int iterations, bool positivity);
//   void shrinkwrap(double sigma, double fraction);
//   std::vector<T> density() const;  std::vector<std::uint8_t> support() const;  centred
//   int n() const;
// `errors` is the back end's record of Fourier errors (what fourier_errors() returns); the
// caller checks that a Fourier constraint is set before calling.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "phasing/phasing.hpp"

namespace spire::phasing {

template <typename T, typename Steps>
Result<T> run_schedule(Steps& steps, std::vector<double>& errors, const Schedule& s,
                       std::span<const T> start_density, std::span<const std::uint8_t> start_support) {
  if (s.loops < 0 || s.hio_iterations < 0 || s.er_iterations < 0 || s.final_er_iterations < 0)
    fail("phasing: iteration counts must be >= 0");
  if (!(s.sigma_start > 0 && s.sigma_end > 0)) fail("phasing: shrinkwrap sigmas must be > 0");
  if (start_support.empty())
    steps.set_support(steps.support_from_autocorrelation(s.support_fraction, s.support_sigma));
  else
    steps.set_support(start_support);
  if (start_density.empty())
    steps.random_density(s.seed);
  else
    steps.set_density(start_density);
  errors.clear();
  for (int loop = 0; loop < s.loops; ++loop) {
    steps.hio(s.hio_iterations, s.beta, s.positivity);
    steps.er(s.er_iterations, s.positivity);
    const double t = s.loops > 1 ? static_cast<double>(loop) / (s.loops - 1) : 1.0;
    steps.shrinkwrap(s.sigma_start * std::pow(s.sigma_end / s.sigma_start, t), s.shrinkwrap_fraction);
  }
  steps.er(s.final_er_iterations, s.positivity);
  Result<T> r{steps.density(), steps.support(), errors};
  if (s.recentre) recentre<T>(steps.n(), r.density, r.support);
  return r;
}

}  // namespace spire::phasing
