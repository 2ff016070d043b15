#pragma once
// Merging on the GPU: merging::Merger's problem and answer (see merging/merging.hpp) with the
// data on the device. One type-1 GPU NUFFT (sign -1) of c_j = D_j (1 + i b_j) gives both the
// Toeplitz kernel K and Re(A*Db); the normal equations are solved by merging/cg.hpp's
// conjugate gradients over device vectors, the Toeplitz convolution done by cuFFT on the
// same L^3 grid (merging::toeplitz_fft_size).
//
// Contract:
//  - Settings are checked as on the CPU (merging::check_options).
//  - Arrays passed in are DEVICE memory unless a std::span/vector (host). Work is queued on
//    the stream; accumulate() synchronises (it sorts), as do kernel(), rhs() and solve().
//  - accumulate: points in [-pi, pi] (float), finite values, weights finite and >= 0
//    (nullptr: all 1). A violation is reported (spire::Error) at the next kernel(), rhs()
//    or solve(), and the sums are then unusable until reset().
//  - solve: CG in settings.cg_precision (double by default) from x0 (host, n^3; empty:
//    zeros), dot products accumulated in double, the support and lambda = rho K(0) as on
//    the CPU; returns the same merging::Solution.
//  - DeviceToeplitz<S>::apply(x, y) = the CPU Toeplitz<S>::apply on device arrays.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cuda/device.hpp"
#include "merging/merging.hpp"

namespace spire::cuda {

template <typename S>
class DeviceToeplitz {
 public:
  DeviceToeplitz(int n, int fft_size, stream_t stream = nullptr);
  ~DeviceToeplitz();
  DeviceToeplitz(DeviceToeplitz&&) noexcept;
  DeviceToeplitz& operator=(DeviceToeplitz&&) noexcept;

  void set_kernel(const double* kernel);  // device, (2n-1)^3 in mode order
  void apply(const S* x, S* y);           // device, n^3 each; may alias

  int n() const;
  int fft_size() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class DeviceMerger {
 public:
  DeviceMerger(const merging::Options& settings, stream_t stream = nullptr);
  ~DeviceMerger();
  DeviceMerger(DeviceMerger&&) noexcept;
  DeviceMerger& operator=(DeviceMerger&&) noexcept;

  void reset();
  void accumulate(std::int64_t m, const float* px, const float* py, const float* pz, const float* values,
                  const float* weights = nullptr);
  std::vector<double> kernel();  // downloads K, (2n-1)^3
  std::vector<double> rhs();     // downloads Re(A*Db), n^3
  merging::Solution solve(std::span<const double> x0 = {});

  const merging::Options& options() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace spire::cuda
