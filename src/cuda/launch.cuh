#pragma once
// Internal to the .cu files of src/cuda: the launch shape every elementwise kernel uses, the
// block sum of the reductions and the cuFFT status check (CUDA and cuBLAS statuses are
// checked in check.hpp, which .cpp files also include; this header needs cufft.h and nvcc).
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

// *out += the sum of v over this block (warp shuffles, then the kBlock / 32 warp sums in
// order on thread 0, one atomicAdd). Every thread of the block must call it.
__device__ inline void block_add(double v, double* out) {
  __shared__ double sh[kBlock / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0;
    for (int w = 0; w < kBlock / 32; ++w) t += sh[w];
    atomicAdd(out, t);
  }
}

}  // namespace spire::cuda

// The global index of this thread in a one-dimensional launch of blocks(n) x kBlock.
#define SPIRE_INDEX const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x
