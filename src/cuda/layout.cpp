#include "cuda/layout.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"
#include "cuda/device.hpp"

namespace spire::cuda {

NufftLayout make_nufft_layout(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
                              double upsampling, std::size_t shared_limit) {
  if (type != 1 && type != 2) fail("GPU NUFFT: type must be 1 or 2, got " + std::to_string(type));
  if (sign != 1 && sign != -1) fail("GPU NUFFT: sign must be +1 or -1, got " + std::to_string(sign));
  for (auto n : modes)
    if (n < 1) fail("GPU NUFFT: mode counts must be positive, got " + std::to_string(n));
  NufftLayout l;
  l.type = type;
  l.sign = sign;
  l.modes = modes;
  l.kernel = nufft::choose_kernel(tolerance, upsampling, true);
  const int w = l.kernel.width;
  for (int d = 0; d < 3; ++d) l.nf[d] = nufft::fine_grid_size(modes[d], upsampling, w);
  // The largest cubic bin, 8 down to 4, whose subgrid fits in shared memory; wider kernels
  // (tolerances float cannot reach anyway) fall back to global atomics with bins of 8.
  int size = 8;
  auto bytes = [w](int b) { return static_cast<std::size_t>(b + w + 1) * (b + w + 1) * (b + w + 1) * 8; };
  while (size > 4 && bytes(size) > shared_limit) --size;
  l.shared_spread = bytes(size) <= shared_limit;
  if (!l.shared_spread) size = 8;
  for (int d = 0; d < 3; ++d) {
    l.bin_size[d] = static_cast<int>(std::min<std::int64_t>(size, l.nf[d]));
    l.bin_count[d] = static_cast<int>((l.nf[d] + l.bin_size[d] - 1) / l.bin_size[d]);
    l.subgrid[d] = l.bin_size[d] + w + 1;
  }
  l.shared_bytes = l.shared_spread ? static_cast<std::size_t>(l.subgrid[0]) * l.subgrid[1] * l.subgrid[2] * 8 : 0;
  for (int d = 0; d < 3; ++d) {
    const auto psihat = nufft::kernel_fourier_series(l.kernel, l.nf[d], modes[d]);
    l.correction[d].resize(static_cast<std::size_t>(modes[d]));
    for (std::int64_t i = 0; i < modes[d]; ++i) {
      const std::int64_t k = i - modes[d] / 2;
      l.correction[d][static_cast<std::size_t>(i)] = static_cast<float>(1.0 / psihat[static_cast<std::size_t>(std::llabs(k))]);
    }
  }
  return l;
}

std::vector<Subproblem> split_bins(std::span<const std::int32_t> counts, int max_points) {
  if (max_points < 1) fail("GPU NUFFT: subproblems need at least one point each");
  std::vector<Subproblem> out;
  std::int64_t start = 0;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    for (std::int32_t off = 0; off < counts[b]; off += max_points) {
      Subproblem s;
      s.bin = static_cast<std::int32_t>(b);
      s.first = static_cast<std::int32_t>(start + off);
      s.count = std::min(max_points, counts[b] - off);
      out.push_back(s);
    }
    start += counts[b];
  }
  return out;
}

std::vector<PipelineStep> pipeline_schedule(std::int64_t n_batches, int buffers) {
  if (buffers < 1) fail("pipeline: at least one buffer");
  std::vector<PipelineStep> steps;
  for (std::int64_t b = 0; b < n_batches; ++b) {
    PipelineStep s;
    s.batch = b;
    s.buffer = static_cast<int>(b % buffers);
    s.slice_waits_for = b >= buffers ? b - buffers : -1;
    steps.push_back(s);
  }
  return steps;
}

}  // namespace spire::cuda
