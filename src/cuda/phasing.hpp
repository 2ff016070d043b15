#pragma once
// Phasing on the GPU: phasing::Phaser<double>'s contract (see phasing/phasing.hpp), the same
// schedule (phasing/schedule.hpp's run_schedule over these steps), the same random start
// (phasing/common.hpp's, drawn on the host, on the device-made support) and the same
// results, with every iteration on the device (cuFFT Z2Z, fused projection kernels).
//
// Contract:
//  - Host arrays in and out are centred, as the CPU's; internally FFT order on the device.
//  - Fourier errors are summed on the device and brought back once per er()/hio() call,
//    not per iteration; shrinkwrap and the initial support read their threshold from one
//    small download each.
//  - Results agree with the CPU Phaser<double> to rounding for the same inputs and seed;
//    over many HIO iterations rounding differences can grow (HIO is not contractive), so
//    tests compare single steps and the final Fourier error, not the density voxel by voxel
//    after a whole run.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cuda/device.hpp"
#include "phasing/phasing.hpp"

namespace spire::cuda {

class DevicePhaser {
 public:
  explicit DevicePhaser(int n, stream_t stream = nullptr);
  ~DevicePhaser();
  DevicePhaser(DevicePhaser&&) noexcept;
  DevicePhaser& operator=(DevicePhaser&&) noexcept;

  int n() const;
  void set_measured_radius(double radius);
  void set_autocorrelation(std::span<const double> autocorrelation);
  void set_intensity(std::span<const double> intensity);

  phasing::Result<double> run(const phasing::Schedule& schedule = {}, std::span<const double> start_density = {},
                              std::span<const std::uint8_t> start_support = {});

  std::vector<std::uint8_t> support_from_autocorrelation(double fraction, double sigma);
  void set_support(std::span<const std::uint8_t> support);
  void set_density(std::span<const double> density);
  void random_density(std::uint64_t seed);
  void er(int iterations, bool positivity = true);
  void hio(int iterations, double beta, bool positivity = true);
  void shrinkwrap(double sigma, double fraction);
  std::vector<double> density() const;
  std::vector<std::uint8_t> support() const;
  const std::vector<double>& fourier_errors() const;

  std::vector<double> autocorrelation_of(std::span<const double> density);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace spire::cuda
