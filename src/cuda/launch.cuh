#pragma once
// Internal to the .cu files of src/cuda: the launch shape every elementwise kernel uses and
// the cuFFT status check (CUDA and cuBLAS statuses are checked in check.hpp, which .cpp
// files also include; this header needs cufft.h and nvcc).
#include <cufft.h>

#include <cstdint>
#include <string>

#include "core/error.hpp"

namespace spire::cuda {

inline void check_fft(cufftResult r, const char* what) {
  if (r != CUFFT_SUCCESS) fail(std::string("cuFFT: ") + what + " failed (status " + std::to_string(static_cast<int>(r)) + ")");
}

// 256 threads: eight warps, enough to hide latency on every architecture we build for, and
// the size the block reductions (kBlock / 32 partial sums in shared memory) are written for.
constexpr int kBlock = 256;
inline unsigned blocks(std::int64_t n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

}  // namespace spire::cuda

// The global index of this thread in a one-dimensional launch of blocks(n) x kBlock.
#define SPIRE_INDEX const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x
