#pragma once
// One M-TIP generation on the GPU, for reconstruct::run with runtime.device = cuda: the
// loop's schedule stays in reconstruct.cpp and calls these four steps instead of the CPU
// stages. Everything large stays on the device from construction to the end of the run:
// the images, the pixels, every reference batch's sorted slicing points, the NUFFT grids and
// cuFFT plans, the matching GEMM's buffers; per generation only n^3 maps and the per-image
// orientations cross the bus (through pinned buffers).
//
// Streams: slicing and matching run on two streams with two slice buffers
// (cuda::pipeline_schedule): batch b+1 is sliced while batch b is matched. Merging and
// phasing run on the slicing stream.
//
// Built without the CUDA back end, or on a machine without a device, the constructor throws
// the spire::Error of cuda::require_device() (the loop never starts).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cuda/layout.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "slicing/slicing.hpp"

namespace spire::cuda {

struct GenerationTimes {
  double slicing_s = 0, matching_s = 0;  // device time of each stream's work (they overlap)
};

class GenerationRunner {
 public:
  // images: n_images x pixels.size() floats (host; copied to the device once). The
  // references are sliced only when `slicing` is true (not in oracle runs).
  GenerationRunner(std::int64_t n_images, std::span<const float> images,
                   std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                   std::span<const geometry::Quaternion> references, bool slicing,
                   const slicing::Options& slicing_options, const matching::Options& matching_options,
                   GemmPrecision gemm, const merging::Options& merging_options);
  ~GenerationRunner();
  GenerationRunner(const GenerationRunner&) = delete;
  GenerationRunner& operator=(const GenerationRunner&) = delete;

  // 1-2: slices of the autocorrelation (n^3, centred) at every reference, each image's best
  // reference index and score (matching::NearestSlices's, top_k = 1).
  GenerationTimes slice_and_match(std::span<const double> autocorrelation, std::vector<std::int64_t>& indices,
                                  std::vector<float>& scores);
  // 3: merged autocorrelation at these orientations (one per image), CG from x0 (empty: 0).
  merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0);
  // 4: phasing with the schedule, Fourier constraint measured within |k| <= n/2.
  phasing::Result<double> phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule);
  std::vector<double> autocorrelation_of(std::span<const double> density);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace spire::cuda
