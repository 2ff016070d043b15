#pragma once
// Orientation matching on the GPU: matching::NearestSlices's scores and tie rule (see
// matching/matching.hpp) with one cuBLAS GEMM per batch and a device kernel that folds the
// batch into every image's running best (score, index).
//
// Contract:
//  - Images and slices are DEVICE arrays, row-major (n_images x n_pixels, count x
//    n_pixels); the images are not copied and must outlive the object. Work is queued on
//    the stream given; add_batch does not synchronise, results() does.
//  - Scores: the four metric/scale combinations of NearestSlices, lower is better, with the
//    image terms computed once here (in double, as the CPU). top_k must be 1 (hard
//    assignment); the CPU class serves top_k > 1.
//  - Ties: (score, reference index) order, the LOWEST index wins within a batch and across
//    batches, as on the CPU. Different rounding of the GEMM (another summation order, or
//    TF32) can still swap near-equal candidates; tests/cuda bounds how near.
//  - GEMM precision: fp32 (cublasSgemm, CUBLAS_DEFAULT_MATH), tf32 (one GEMM with
//    CUBLAS_COMPUTE_32F_FAST_TF32) or tf32x3 (three TF32 GEMMs on x = big + small split;
//    the split images are kept, 2 x images' memory).
//  - Non-finite values (images at construction, slices at results()) and negative images
//    for the poisson metric are a spire::Error naming the first one, as on the CPU.
#include <cstdint>
#include <memory>
#include <vector>

#include "cuda/device.hpp"
#include "cuda/layout.hpp"
#include "matching/matching.hpp"

namespace spire::cuda {

class DeviceNearestSlices {
 public:
  DeviceNearestSlices(std::int64_t n_images, std::int64_t n_pixels, const float* images,
                      const matching::Options& options, GemmPrecision precision = GemmPrecision::fp32,
                      stream_t stream = nullptr);
  ~DeviceNearestSlices();
  DeviceNearestSlices(DeviceNearestSlices&&) noexcept;
  DeviceNearestSlices& operator=(DeviceNearestSlices&&) noexcept;

  void reset();
  void add_batch(std::int64_t first, std::int64_t count, const float* slices);
  // Waits for the stream; indices (-1 where no batch was added) and scores per image.
  void results(std::vector<std::int64_t>& indices, std::vector<float>& scores) const;
  // The device arrays of the running best (n_images each), for callers that stay on the GPU.
  const std::int64_t* device_indices() const;
  const float* device_scores() const;

  std::int64_t n_images() const;
  std::int64_t n_pixels() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace spire::cuda
