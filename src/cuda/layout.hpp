#pragma once
// Host-side decisions of the CUDA back end, plain C++ so they are tested on any machine:
// the GPU NUFFT's layout (kernel, fine grid, bins, shared-memory subgrids, deconvolution
// factors), the split of crowded bins into subproblems, the stream schedule of the
// slicing -> matching pipeline.
//
// Contract:
//  - make_nufft_layout takes the CPU NUFFT's decisions (nufft::choose_kernel,
//    nufft::fine_grid_size, nufft::kernel_fourier_series), so the GPU transform has the same
//    kernel, fine grid and correction as src/nufft and agrees with it to the tolerance.
//  - Bins are bin_size fine-grid points per axis (the last bin of an axis may be smaller),
//    numbered x fastest. Type 1 spreads each bin's points into a shared-memory subgrid of
//    (bin_size + w + 1) points per axis when that fits in shared_limit bytes
//    (layout.shared_spread), else straight into the fine grid with global atomics.
//  - split_bins cuts every bin into subproblems of at most max_points consecutive sorted
//    points (one thread block each), so a crowded bin (the Ewald spheres all pass through
//    the origin) does not serialise on one block. Every point is in exactly one subproblem.
//  - pipeline_schedule: batch b is sliced into buffer b % buffers on the slicing stream and
//    matched from it on the matching stream; slicing b waits for the matching of
//    b - buffers (the buffer's previous user), matching b for the slicing of b.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "matching/matching.hpp"
#include "nufft/kernel.hpp"

namespace spire::cuda {

inline constexpr std::size_t kSharedLimit = 48 * 1024;  // without the opt-in attribute

struct NufftLayout {
  int type = 1, sign = 1;
  std::array<std::int64_t, 3> modes{}, nf{};
  nufft::KernelParams kernel;
  std::array<int, 3> bin_size{}, bin_count{};
  std::array<int, 3> subgrid{};     // shared subgrid points per axis: bin_size + w + 1
  bool shared_spread = false;       // type 1 through shared-memory subgrids
  std::size_t shared_bytes = 0;     // of one subgrid (complex float), when shared_spread
  std::array<std::vector<float>, 3> correction;  // per mode index: 1 / psihat(k)

  std::int64_t n_bins() const { return std::int64_t{bin_count[0]} * bin_count[1] * bin_count[2]; }
  std::int64_t n_modes() const { return modes[0] * modes[1] * modes[2]; }
  std::int64_t grid_size() const { return nf[0] * nf[1] * nf[2]; }
};

NufftLayout make_nufft_layout(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
                              double upsampling = 2.0, std::size_t shared_limit = kSharedLimit);

struct Subproblem {
  std::int32_t bin = 0, first = 0, count = 0;  // first: index into the sorted points
};
// counts: points per bin (sorted order is bin order, so bin b starts at the sum before it).
std::vector<Subproblem> split_bins(std::span<const std::int32_t> counts, int max_points);

struct PipelineStep {
  std::int64_t batch = 0;
  int buffer = 0;
  std::int64_t slice_waits_for = -1;  // the batch whose matching must finish first (-1: none)
};
std::vector<PipelineStep> pipeline_schedule(std::int64_t n_batches, int buffers);

// Precision of the matching GEMM (matching.hpp); the TF32 modes only where tests/cuda shows
// the argmin unchanged.
using GemmPrecision = matching::GemmPrecision;

}  // namespace spire::cuda
