#pragma once
// Internal to src/cuda: every CUDA, cuBLAS and cuFFT status is checked and turned into a
// spire::Error naming the call. Included by .cu files and device.cpp only.
#include <cuda_runtime_api.h>

#include <string>

#include "core/error.hpp"

namespace spire::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}
// After a kernel launch: launch errors now, execution errors at the next synchronisation.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace spire::cuda
