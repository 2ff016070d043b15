// Orientation matching on the GPU (see matching.hpp).
#include "cuda/matching.hpp"

#include <cublas_v2.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "cuda/check.hpp"
#include "cuda/launch.cuh"

namespace spire::cuda {
namespace {

void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(st));
}

template <typename T>
__device__ inline T block_sum(T v, T* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = v;
  __syncthreads();
  T total = 0;
  if (threadIdx.x == 0)
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) total += shared[w];
  __syncthreads();
  return total;  // valid in thread 0
}

// Per image (one block each): |x|^2, photon count, smallest value; flags the first bad row.
__global__ void image_terms(std::int64_t n_pixels, const float* images, bool poisson, float* norm, float* count,
                            unsigned long long* non_finite, unsigned long long* negative) {
  __shared__ double sh[32];
  const std::int64_t i = blockIdx.x;
  const float* x = images + i * n_pixels;
  double sum = 0, sum_sq = 0;
  int neg = 0;
  for (std::int64_t p = threadIdx.x; p < n_pixels; p += blockDim.x) {
    const double v = x[p];
    sum += v;
    sum_sq += v * v;
    neg |= x[p] < 0;
  }
  sum = block_sum(sum, sh);
  sum_sq = block_sum(sum_sq, sh);
  neg = __syncthreads_or(neg);
  if (threadIdx.x != 0) return;
  if (!isfinite(sum_sq)) atomicMin(non_finite, static_cast<unsigned long long>(i));
  if (poisson && neg) atomicMin(negative, static_cast<unsigned long long>(i));
  norm[i] = static_cast<float>(sum_sq);
  count[i] = 0;
  if (poisson) {
    count[i] = static_cast<float>(sum);
    norm[i] = sum > 0 ? static_cast<float>(sum * (1.0 - log(sum))) : 0.0f;
  }
}

// Per slice (one block each): the slice term and scale of NearestSlices; poisson: log W.
__global__ void slice_terms(std::int64_t n_pixels, const float* slices, bool poisson, bool scaled, float floor_w,
                            float* log_slices, float* term, float* scale, std::int64_t first,
                            unsigned long long* non_finite) {
  __shared__ double sh[32];
  const std::int64_t j = blockIdx.x;
  const float* y = slices + j * n_pixels;
  double check = 0, sum = 0;
  for (std::int64_t p = threadIdx.x; p < n_pixels; p += blockDim.x) {
    if (poisson) {
      const float w = fmaxf(y[p], floor_w);
      check += y[p];
      sum += w;
      log_slices[j * n_pixels + p] = logf(w);
    } else {
      sum += static_cast<double>(y[p]) * y[p];
    }
  }
  sum = block_sum(sum, sh);
  check = poisson ? block_sum(check, sh) : sum;
  if (threadIdx.x != 0) return;
  if (!isfinite(check)) atomicMin(non_finite, static_cast<unsigned long long>(first + j));
  term[j] = poisson ? static_cast<float>(scaled ? log(sum) : sum) : static_cast<float>(sum);
  scale[j] = !poisson && sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
}

// x = big + small with big rounded to TF32's 10-bit mantissa.
__global__ void split_tf32(std::int64_t n, const float* x, float* big, float* small) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  unsigned u = __float_as_uint(v);
  if (isfinite(v)) u = (u + 0x1000u) & 0xffffe000u;
  const float b = __uint_as_float(u);
  big[i] = b;
  small[i] = isfinite(v) ? v - b : 0.0f;
}

enum class Score { euclid, euclid_scaled, poisson, poisson_scaled };

__device__ inline bool better(float s, std::int64_t i, float so, std::int64_t io) {
  return io < 0 || s < so || (s == so && i < io);
}

// One block per image: the batch's best (score, index) by the tie rule, folded into the
// running best.
__global__ void fold_best(std::int64_t count, std::int64_t first, const float* cross, Score kind, const float* xn,
                          const float* kn, const float* yt, const float* ys, float* best_score,
                          std::int64_t* best_index) {
  __shared__ float sh_s[kBlock / 32];
  __shared__ std::int64_t sh_i[kBlock / 32];
  const std::int64_t i = blockIdx.x;
  const float* c = cross + i * count;
  float bs = FLT_MAX;
  std::int64_t bi = -1;
  for (std::int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const float v = c[j];
    float s;
    switch (kind) {
      case Score::euclid: s = xn[i] + yt[j] + v; break;
      case Score::euclid_scaled: s = v > 0 ? xn[i] - v * v * ys[j] : xn[i]; break;
      case Score::poisson: s = yt[j] + v; break;
      default: s = v + kn[i] * yt[j] + xn[i]; break;
    }
    if (better(s, j, bs, bi)) bs = s, bi = j;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float s = __shfl_down_sync(0xffffffffu, bs, o);
    const std::int64_t id = __shfl_down_sync(0xffffffffu, bi, o);
    if (id >= 0 && better(s, id, bs, bi)) bs = s, bi = id;
  }
  if ((threadIdx.x & 31) == 0) sh_s[threadIdx.x >> 5] = bs, sh_i[threadIdx.x >> 5] = bi;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w)
    if (sh_i[w] >= 0 && better(sh_s[w], sh_i[w], bs, bi)) bs = sh_s[w], bi = sh_i[w];
  if (bi < 0) return;
  if (better(bs, first + bi, best_score[i], best_index[i])) {
    best_score[i] = bs;
    best_index[i] = first + bi;
  }
}

__global__ void reset_best(std::int64_t n, float* score, std::int64_t* index) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  score[i] = __int_as_float(0x7f800000);
  index[i] = -1;
}

}  // namespace

struct DeviceNearestSlices::State {
  std::int64_t n_images = 0, n_pixels = 0;
  const float* images = nullptr;
  matching::Options options;
  GemmPrecision precision = GemmPrecision::fp32;
  stream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  DeviceBuffer<float> image_norm, image_count, images_big, images_small;
  DeviceBuffer<float> slice_term, slice_scale, log_slices, slices_big, slices_small, cross;
  DeviceBuffer<float> best_score;
  DeviceBuffer<std::int64_t> best_index;
  DeviceBuffer<unsigned long long> flags;  // [0] first non-finite slice reference

  // cross (count x n_images column-major = n_images x count row-major) = alpha Y X^T.
  void gemm(int count, float alpha, const float* y, const float* y_big, const float* y_small) {
    const int m = count, n = static_cast<int>(n_images), k = static_cast<int>(n_pixels);
    const float zero = 0, one = 1;
    if (precision == GemmPrecision::fp32) {
      check_blas(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, y, k, images, k, &zero, cross.data(), m),
                 "cublasSgemm");
      return;
    }
    auto tf32 = [&](const float* a, const float* b, const float* beta) {
      check_blas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a, CUDA_R_32F, k, b, CUDA_R_32F, k, beta,
                              cross.data(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (TF32)");
    };
    if (precision == GemmPrecision::tf32) {
      tf32(y, images, &zero);
      return;
    }
    // 3xTF32: the small cross terms first, the big product last.
    tf32(y_small, images_big.data(), &zero);
    tf32(y_big, images_small.data(), &one);
    tf32(y_big, images_big.data(), &one);
  }
};

DeviceNearestSlices::DeviceNearestSlices(std::int64_t n_images, std::int64_t n_pixels, const float* images,
                                         const matching::Options& options, GemmPrecision precision, stream_t stream)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  if (n_pixels < 1) fail("GPU matching: n_pixels must be at least 1");
  if (n_images < 0) fail("GPU matching: n_images must not be negative");
  if (options.top_k != 1) fail("GPU matching keeps the best reference only (top_k = 1), got top_k = " + std::to_string(options.top_k));
  if (!(options.poisson_floor > 0.0) || !std::isfinite(options.poisson_floor) || static_cast<float>(options.poisson_floor) <= 0)
    fail("GPU matching: poisson_floor must be positive and finite in float");
  if (n_images > std::numeric_limits<int>::max() || n_pixels > std::numeric_limits<int>::max())
    fail("GPU matching: n_images and n_pixels must fit cuBLAS's int sizes");
  require_device();
  s.n_images = n_images;
  s.n_pixels = n_pixels;
  s.images = images;
  s.options = options;
  s.precision = precision;
  s.stream = stream;
  check_blas(cublasCreate(&s.blas), "cublasCreate");
  check_blas(cublasSetStream(s.blas, stream), "cublasSetStream");
  // Default math: FP32 for cublasSgemm; the TF32 modes ask for it per call (cublasGemmEx).
  check_blas(cublasSetMathMode(s.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  const auto N = static_cast<std::size_t>(n_images);
  s.image_norm.resize(std::max<std::size_t>(N, 1));
  s.image_count.resize(std::max<std::size_t>(N, 1));
  s.best_score.resize(std::max<std::size_t>(N, 1));
  s.best_index.resize(std::max<std::size_t>(N, 1));
  s.flags.resize(3);
  check(cudaMemsetAsync(s.flags.data(), 0xff, 3 * sizeof(unsigned long long), stream), "memset");
  const bool poisson = options.metric == matching::Metric::poisson;
  if (n_images > 0) {
    image_terms<<<static_cast<unsigned>(n_images), kBlock, 0, stream>>>(n_pixels, images, poisson, s.image_norm.data(),
                                                                       s.image_count.data(), s.flags.data() + 1,
                                                                       s.flags.data() + 2);
    check_launch("image_terms");
  }
  unsigned long long flags[3];
  s.flags.download(flags, 3, stream);
  if (flags[1] != ~0ull) fail("GPU matching: image " + std::to_string(flags[1]) + " has a non-finite value");
  if (flags[2] != ~0ull)
    fail("GPU matching: image " + std::to_string(flags[2]) + " has a negative value; the poisson metric needs photon counts >= 0");
  if (precision == GemmPrecision::tf32x3 && n_images > 0) {
    const std::int64_t total = n_images * n_pixels;
    s.images_big.resize(static_cast<std::size_t>(total));
    s.images_small.resize(static_cast<std::size_t>(total));
    split_tf32<<<blocks(total), kBlock, 0, stream>>>(total, images, s.images_big.data(), s.images_small.data());
    check_launch("split_tf32 (images)");
  }
  reset();
}

DeviceNearestSlices::~DeviceNearestSlices() {
  if (s_ && s_->blas) cublasDestroy(s_->blas);
}
DeviceNearestSlices::DeviceNearestSlices(DeviceNearestSlices&&) noexcept = default;
DeviceNearestSlices& DeviceNearestSlices::operator=(DeviceNearestSlices&&) noexcept = default;

void DeviceNearestSlices::reset() {
  State& s = *s_;
  if (s.n_images == 0) return;
  reset_best<<<blocks(s.n_images), kBlock, 0, s.stream>>>(s.n_images, s.best_score.data(), s.best_index.data());
  check_launch("reset_best");
}

void DeviceNearestSlices::add_batch(std::int64_t first, std::int64_t count, const float* slices) {
  State& s = *s_;
  if (first < 0 || count < 0) fail("GPU matching: negative first reference or batch count");
  if (count > std::numeric_limits<int>::max()) fail("GPU matching: batch too large for cuBLAS");
  if (count == 0) return;
  const bool poisson = s.options.metric == matching::Metric::poisson;
  const bool scaled = s.options.scale == matching::Scale::per_slice;
  const auto uc = static_cast<std::size_t>(count), total = static_cast<std::size_t>(count * s.n_pixels);
  s.slice_term.resize(uc);
  s.slice_scale.resize(uc);
  if (poisson) s.log_slices.resize(total);
  slice_terms<<<static_cast<unsigned>(count), kBlock, 0, s.stream>>>(
      s.n_pixels, slices, poisson, scaled, static_cast<float>(s.options.poisson_floor), s.log_slices.data(),
      s.slice_term.data(), s.slice_scale.data(), first, s.flags.data());
  check_launch("slice_terms");
  if (s.n_images == 0) return;
  const float* y = poisson ? s.log_slices.data() : slices;
  if (s.precision == GemmPrecision::tf32x3) {
    s.slices_big.resize(total);
    s.slices_small.resize(total);
    split_tf32<<<blocks(static_cast<std::int64_t>(total)), kBlock, 0, s.stream>>>(
        static_cast<std::int64_t>(total), y, s.slices_big.data(), s.slices_small.data());
    check_launch("split_tf32 (slices)");
  }
  s.cross.resize(static_cast<std::size_t>(s.n_images) * uc);
  const float alpha = poisson ? -1.0f : scaled ? 1.0f : -2.0f;
  s.gemm(static_cast<int>(count), alpha, y, s.slices_big.data(), s.slices_small.data());
  const Score kind = !poisson ? (scaled ? Score::euclid_scaled : Score::euclid) : (scaled ? Score::poisson_scaled : Score::poisson);
  fold_best<<<static_cast<unsigned>(s.n_images), kBlock, 0, s.stream>>>(
      count, first, s.cross.data(), kind, s.image_norm.data(), s.image_count.data(), s.slice_term.data(),
      s.slice_scale.data(), s.best_score.data(), s.best_index.data());
  check_launch("fold_best");
}

void DeviceNearestSlices::results(std::vector<std::int64_t>& indices, std::vector<float>& scores) const {
  const State& s = *s_;
  unsigned long long bad = 0;
  s.flags.download(&bad, 1, s.stream);
  if (bad != ~0ull) fail("GPU matching: slice of reference " + std::to_string(bad) + " has a non-finite value");
  indices.resize(static_cast<std::size_t>(s.n_images));
  scores.resize(static_cast<std::size_t>(s.n_images));
  s.best_index.download(indices.data(), indices.size(), s.stream);
  s.best_score.download(scores.data(), scores.size(), s.stream);
}

const std::int64_t* DeviceNearestSlices::device_indices() const { return s_->best_index.data(); }
const float* DeviceNearestSlices::device_scores() const { return s_->best_score.data(); }
std::int64_t DeviceNearestSlices::n_images() const { return s_->n_images; }
std::int64_t DeviceNearestSlices::n_pixels() const { return s_->n_pixels; }

}  // namespace spire::cuda
