#include "matching/matching.hpp"

#include <cblas.h>
#include <omp.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "matching/blas_threads.hpp"

namespace spire::matching {

namespace {

// BLAS takes its sizes as blasint (int in the LP64 build).
blasint blas_size(std::int64_t n, const char* what) {
  if (n > std::numeric_limits<blasint>::max())
    fail(std::string("matching: ") + what + " = " + std::to_string(n) + " is too large for BLAS");
  return static_cast<blasint>(n);
}

// c := alpha a b^T, a: m x k, b: n x k, c: m x n, all row-major and contiguous.
void gemm_abt(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
              const float* b, float* c) {
  const blasint bm = blas_size(m, "n_images"), bn = blas_size(n, "count"),
                bk = blas_size(k, "n_pixels");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bm, bn, bk, alpha, a, bk, b, bk, 0.0f, c, bn);
}
void gemm_abt(std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
              const double* b, double* c) {
  const blasint bm = blas_size(m, "n_images"), bn = blas_size(n, "count"),
                bk = blas_size(k, "n_pixels");
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bm, bn, bk, alpha, a, bk, b, bk, 0.0, c, bn);
}

// Below these sizes a team costs more than it saves (and on a machine shared with other
// processes a spinning team can cost a scheduler quantum): values summed, products in a GEMM.
constexpr std::int64_t min_parallel_values = std::int64_t{1} << 20;
constexpr std::int64_t min_parallel_products = std::int64_t{1} << 24;
// The sparse product (sparse_cross_terms): panels of kPanel slices, blocks of kImageBlock
// images, each pixel's panel row loaded once into registers for every image of the block
// that has a photon there, the row kAhead values on prefetched. bench/matching, poisson, 350
// photons per image, against the dense GEMM on the same images in the same run: 20,000 x
// 2,000 x 16,384: panel x block 64 x 256 9.3x (7.9x when each value loaded its row), 64 x
// 512 10.2-10.4x with the prefetch (9.2x without), 64 x 1024 10.2x, 48 x 512 10.2x, 64 x 128
// 7.5x, 32 x 512 8.6x; 50,000 x 2,000: 11.2x at 64 x 512 (8.6x before). Wider panels read
// each value's image and pixel less often; the block's accumulators (kPanel floats per
// image, 128 KB) stay in L2, and larger blocks reuse each row more.
constexpr std::int64_t kPanel = 64;
constexpr std::int64_t kImageBlock = 512;
constexpr std::int64_t kAhead = 16;
// Sparse rows take the sparse product below this fraction of nonzero values, else the GEMM on
// blocks of kDenseBlock rows made dense (bench/matching, 10,000 images x 2,000 references x
// 16,384 pixels, poisson, the sparse product against the GEMM on dense rows: 2.9x at 1,500
// photons per image (8.7% nonzero), 1.5x at 3,200 (18%), 1.1x at 4,500 (24%), 0.89x at 6,000
// (31%)).
constexpr double kSparseProductFraction = 0.25;
constexpr std::int64_t kDenseBlock = 1024;

// (score, index) order; an empty slot (index -1) is worse than anything.
template <typename T>
bool better(T s, std::int64_t i, T s_other, std::int64_t i_other) {
  return i_other < 0 || s < s_other || (s == s_other && i < i_other);
}

// Insert (s, id) into a row of k kept best-first, dropping the worst.
template <typename T>
void consider(T* row_scores, std::int64_t* row_indices, std::int64_t k, T s, std::int64_t id) {
  if (!better(s, id, row_scores[k - 1], row_indices[k - 1])) return;
  std::int64_t r = k - 1;
  for (; r > 0 && better(s, id, row_scores[r - 1], row_indices[r - 1]); --r) {
    row_scores[r] = row_scores[r - 1];
    row_indices[r] = row_indices[r - 1];
  }
  row_scores[r] = s;
  row_indices[r] = id;
}

// Reports the lowest failing row found in a parallel loop, after it.
struct FirstBad {
  std::int64_t row = std::numeric_limits<std::int64_t>::max();
  void mark(std::int64_t r) {
#pragma omp critical(spire_matching_first_bad)
    row = std::min(row, r);
  }
  bool any() const { return row != std::numeric_limits<std::int64_t>::max(); }
};

void check_bad_pixels(const BadPixels& bad, std::int64_t n_images, std::int64_t n_pixels) {
  if (bad.offsets.empty()) return;
  if (static_cast<std::int64_t>(bad.offsets.size()) != n_images + 1 || bad.offsets.front() != 0 ||
      bad.offsets.back() != static_cast<std::int64_t>(bad.pixels.size()))
    fail("matching: bad_pixels.offsets must hold n_images + 1 = " + std::to_string(n_images + 1) +
         " entries from 0 to the number of bad pixels");
  for (std::int64_t i = 0; i < n_images; ++i) {
    if (bad.offsets[i + 1] < bad.offsets[i]) fail("matching: bad_pixels.offsets must not decrease");
    for (const std::int32_t p : bad.of(i))
      if (p < 0 || p >= n_pixels)
        fail("matching: bad pixel " + std::to_string(p) + " of image " + std::to_string(i) + " is outside 0.." +
             std::to_string(n_pixels - 1));
  }
}

// A slice's share of |y|^2 (euclidean) or sum W (poisson, W clamped to the floor) at pixels.
template <typename T>
double share_at(const T* y, std::span<const std::int32_t> pixels, bool poisson, T floor) {
  double sum = 0;
  for (const std::int32_t p : pixels) {
    const double v = poisson ? static_cast<double>(std::max(y[p], floor)) : static_cast<double>(y[p]);
    sum += poisson ? v : v * v;
  }
  return sum;
}

// The score of an image with bad pixels: `c` from the GEMM (the bad pixels hold 0 in the
// image, so it is already over the good ones) and the slice's sum over its good pixels.
template <typename T>
T score_over_good(Metric metric, Scale scale, T x_norm, T x_count, T c, double good_sum) {
  const bool scaled = scale == Scale::per_slice;
  if (metric == Metric::euclidean) {
    if (!scaled) return static_cast<T>(x_norm + good_sum + c);
    return c > T(0) && good_sum > 0 ? static_cast<T>(x_norm - c * c / good_sum) : x_norm;
  }
  const double w = std::max(good_sum, 1e-300);
  return static_cast<T>(scaled ? c + x_count * std::log(w) + x_norm : w + c);
}

// GCC 12 reports its own AVX-512 intrinsics (_mm512_undefined operands inside xsimd::log)
// as maybe-uninitialized where they are inlined: a false positive, silenced for this function.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// out = log(max(y, floor)), P values; float vectorized (xsimd's log: within 2 ulp of
// std::log), double (tests, references) with std::log.
template <typename T>
void log_of_floored(const T* y, std::int64_t P, T floor, T* out) {
  std::int64_t p = 0;
  if constexpr (std::is_same_v<T, float>) {
    using V = xsimd::batch<float>;
    constexpr auto lanes = static_cast<std::int64_t>(V::size);
    for (; p + lanes <= P; p += lanes)
      xsimd::log(xsimd::max(V::load_unaligned(y + p), V(floor))).store_unaligned(out + p);
  }
  for (; p < P; ++p) out[p] = std::log(std::max(y[p], floor));
}
#pragma GCC diagnostic pop

// The layout of an image set (sizes, and a sparse set's rows); spire::Error when wrong.
template <typename T>
void check_images(const ImageSet<T>& im) {
  if (im.n_pixels < 1) fail("matching: n_pixels must be at least 1, not " + std::to_string(im.n_pixels));
  if (im.n_images < 0) fail("matching: n_images must not be negative (" + std::to_string(im.n_images) + ")");
  if (!im.sparse()) {
    if (static_cast<std::int64_t>(im.dense.size()) != im.n_images * im.n_pixels)
      fail("matching: " + std::to_string(im.dense.size()) + " image values given, expected n_images x " +
           "n_pixels = " + std::to_string(im.n_images) + " x " + std::to_string(im.n_pixels));
    return;
  }
  if (static_cast<std::int64_t>(im.offsets.size()) != im.n_images + 1 || im.offsets.front() != 0 ||
      im.offsets.back() != static_cast<std::int64_t>(im.values.size()) || im.values.size() != im.pixels.size())
    fail("matching: sparse images need n_images + 1 offsets from 0 to the number of values, one pixel per value");
  for (std::int64_t i = 0; i < im.n_images; ++i)
    for (auto k = im.offsets[i]; k < im.offsets[i + 1]; ++k)
      if (im.pixels[k] < 0 || im.pixels[k] >= im.n_pixels || (k > im.offsets[i] && im.pixels[k] <= im.pixels[k - 1]))
        fail("matching: sparse image " + std::to_string(i) + ": pixels must ascend within 0.." +
             std::to_string(im.n_pixels - 1));
}

}  // namespace

template <typename T>
NearestSlices<T>::NearestSlices(const ImageSet<T>& images, const Options& options)
    : n_images_(images.n_images), n_pixels_(images.n_pixels), images_(images), options_(options) {
  check_images(images);
  if (options.top_k < 1) fail("matching: top_k must be at least 1, not " + std::to_string(options.top_k));
  if (!(options.poisson_floor > 0.0) || !std::isfinite(options.poisson_floor) ||
      static_cast<T>(options.poisson_floor) <= T(0))
    fail("matching: poisson_floor must be positive and finite in this precision, not " +
         std::to_string(options.poisson_floor));
  if (options.threads < 0) fail("matching: threads must not be negative");
  blas_size(n_images_, "n_images");
  blas_size(n_pixels_, "n_pixels");
  check_bad_pixels(options.bad_pixels, n_images_, n_pixels_);

  const bool poisson = options.metric == Metric::poisson;
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  image_norm_.assign(n_images_, T(0));
  image_count_.assign(n_images_, T(0));
  FirstBad non_finite, negative;
#pragma omp parallel for schedule(static) num_threads(threads) if (n_images_ * n_pixels_ >= min_parallel_values)
  for (std::int64_t i = 0; i < n_images_; ++i) {
    double sum = 0.0, sum_sq = 0.0;
    T lowest = T(0);
    images.for_each_value(i, [&](T v) {
      sum += static_cast<double>(v);
      sum_sq += static_cast<double>(v) * static_cast<double>(v);
      lowest = std::min(lowest, v);
    });
    // A NaN or infinity anywhere makes the sum of squares NaN or infinite.
    if (!std::isfinite(sum_sq)) non_finite.mark(i);
    if (poisson && lowest < T(0)) negative.mark(i);
    image_norm_[i] = static_cast<T>(sum_sq);
    if (poisson) {
      image_count_[i] = static_cast<T>(sum);
      // -(K log K) + K: the constant of the per-slice-scaled Poisson score (0 for K = 0).
      image_norm_[i] = sum > 0.0 ? static_cast<T>(sum * (1.0 - std::log(sum))) : T(0);
    }
  }
  if (non_finite.any()) fail("matching: image " + std::to_string(non_finite.row) + " has a non-finite value");
  sparse_product_ = images.sparse() && static_cast<double>(images.values.size()) <
                                           kSparseProductFraction * static_cast<double>(n_images_ * n_pixels_);
  if (negative.any())
    fail("matching: image " + std::to_string(negative.row) +
         " has a negative value; the poisson metric needs photon counts >= 0");
  if (sparse_product_) sort_by_pixel();
  reset();
}

// The sparse product's layout: per block of kImageBlock images, the stored values ordered
// by pixel (a counting sort), then image; each image's own values stay in pixel order, so
// its sums are added in the order of its row.
template <typename T>
void NearestSlices<T>::sort_by_pixel() {
  const auto values = images_.values.size();
  by_pixel_pixel_.resize(values), by_pixel_image_.resize(values), by_pixel_value_.resize(values);
  by_pixel_offsets_.assign(1, 0);
  std::vector<std::int64_t> start(static_cast<std::size_t>(n_pixels_) + 1);
  for (std::int64_t i0 = 0; i0 < n_images_; i0 += kImageBlock) {
    const std::int64_t i1 = std::min(n_images_, i0 + kImageBlock), base = images_.offsets[i0];
    std::fill(start.begin(), start.end(), 0);
    for (auto k = base; k < images_.offsets[i1]; ++k) ++start[static_cast<std::size_t>(images_.pixels[k]) + 1];
    for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
    for (std::int64_t i = i0; i < i1; ++i)
      for (auto k = images_.offsets[i]; k < images_.offsets[i + 1]; ++k) {
        const auto at = static_cast<std::size_t>(base + start[static_cast<std::size_t>(images_.pixels[k])]++);
        by_pixel_pixel_[at] = images_.pixels[k];
        by_pixel_image_[at] = static_cast<std::int32_t>(i - i0);
        by_pixel_value_[at] = images_.values[k];
      }
    by_pixel_offsets_.push_back(images_.offsets[i1]);
  }
}

// cross_ rows [begin, end) = alpha X Y^T for the batch's y (count x P): one GEMM for dense
// images; for sparse ones each stored value adds its pixel's row of Y^T (transposed_, in
// panels of kPanel slices; sparse_cross_terms).
template <typename T>
void NearestSlices<T>::cross_terms(std::int64_t begin, std::int64_t end, std::int64_t count, T alpha, const T* y) {
  if (end <= begin) return;
  if (!images_.sparse()) {
    gemm_abt(end - begin, count, n_pixels_, alpha, images_.dense.data() + begin * n_pixels_, y,
             cross_.data() + begin * count);
    return;
  }
  if (!sparse_product_) {  // dense enough that the GEMM wins: rows made dense a block at a time
    std::vector<T> rows(static_cast<std::size_t>(std::min(kDenseBlock, end - begin) * n_pixels_));
    for (std::int64_t b0 = begin; b0 < end; b0 += kDenseBlock) {
      const std::int64_t b1 = std::min(end, b0 + kDenseBlock);
      for (std::int64_t i = b0; i < b1; ++i) images_.row(i, rows.data() + (i - b0) * n_pixels_);
      gemm_abt(b1 - b0, count, n_pixels_, alpha, rows.data(), y, cross_.data() + b0 * count);
    }
    return;
  }
  sparse_cross_terms(begin, end, count, alpha);
}

// The sparse product for images [begin, end), whole blocks of kImageBlock (add_batch splits
// the images between threads there): per panel of kPanel slices and block, the block's
// values in pixel order, each adding its pixel's panel row (kPanel values, contiguous)
// times the value to its image's accumulators.
template <typename T>
void NearestSlices<T>::sparse_cross_terms(std::int64_t begin, std::int64_t end, std::int64_t count, T alpha) {
  using V = xsimd::batch<T>;
  constexpr std::int64_t lanes = static_cast<std::int64_t>(V::size), vectors = kPanel / lanes;
  static_assert(kPanel % V::size == 0);
  std::vector<T, xsimd::aligned_allocator<T>> acc_store(static_cast<std::size_t>(kImageBlock * kPanel));
  T* const acc = acc_store.data();
  const std::int32_t* const pixel_of = by_pixel_pixel_.data();
  const std::int32_t* const image_of = by_pixel_image_.data();
  const T* const value_of = by_pixel_value_.data();
  for (std::int64_t j0 = 0; j0 < count; j0 += kPanel) {
    const std::int64_t width = std::min(kPanel, count - j0);
    const T* const panel = transposed_.data() + j0 * n_pixels_;
    for (std::int64_t b = begin / kImageBlock; b * kImageBlock < end; ++b) {
      const std::int64_t i0 = b * kImageBlock, lo = std::max(begin, i0), hi = std::min(end, i0 + kImageBlock);
      std::fill(acc_store.begin(), acc_store.end(), T(0));
      const std::int64_t last = by_pixel_offsets_[static_cast<std::size_t>(b) + 1];
      // Runs of one pixel: its panel row held in registers for every image that has it.
      for (std::int64_t e = by_pixel_offsets_[static_cast<std::size_t>(b)]; e < last;) {
        const std::int32_t pixel = pixel_of[e];
        const T* row = panel + static_cast<std::int64_t>(pixel) * kPanel;
        if (e + kAhead < last) {
          const char* ahead = reinterpret_cast<const char*>(panel + static_cast<std::int64_t>(pixel_of[e + kAhead]) * kPanel);
          for (std::size_t line = 0; line < kPanel * sizeof(T); line += 64) __builtin_prefetch(ahead + line);
        }
        V r[vectors];
        for (std::int64_t q = 0; q < vectors; ++q) r[q] = V::load_unaligned(row + q * lanes);
        for (; e < last && pixel_of[e] == pixel; ++e) {
          const V v(value_of[e]);
          T* a = acc + static_cast<std::int64_t>(image_of[e]) * kPanel;
          for (std::int64_t q = 0; q < vectors; ++q)
            xsimd::fma(v, r[q], V::load_aligned(a + q * lanes)).store_aligned(a + q * lanes);
        }
      }
      for (std::int64_t i = lo; i < hi; ++i) {
        const T* a = acc + (i - i0) * kPanel;
        for (std::int64_t q = 0; q < width; ++q) cross_[static_cast<std::size_t>(i * count + j0 + q)] = a[q] * alpha;
      }
    }
  }
}

template <typename T>
void NearestSlices<T>::reset() {
  indices_.assign(n_images_ * options_.top_k, -1);
  scores_.assign(n_images_ * options_.top_k, std::numeric_limits<T>::infinity());
  std::fill(reference_sums_.begin(), reference_sums_.end(), std::numeric_limits<double>::quiet_NaN());
}

// Per-slice terms of a batch, and for poisson log W; O(count x P), in double where they
// sum. Records the reference sums.
template <typename T>
void NearestSlices<T>::slice_terms(std::int64_t first, std::int64_t count, std::span<const T> slices) {
  const bool poisson = options_.metric == Metric::poisson;
  const bool scaled = options_.scale == Scale::per_slice;
  const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
  const std::int64_t P = n_pixels_;
  const T floor = static_cast<T>(options_.poisson_floor);
  slice_term_.resize(count);
  slice_scale_.resize(count);
  slice_sum_.resize(count);
  if (poisson) log_slices_.resize(count * P);
  FirstBad non_finite;
#pragma omp parallel for schedule(static) num_threads(threads) if (count * P >= min_parallel_values)
  for (std::int64_t j = 0; j < count; ++j) {
    const T* y = slices.data() + j * P;
    double check = 0.0, sum = 0.0;
    if (poisson) {
#pragma omp simd reduction(+ : check, sum)
      for (std::int64_t p = 0; p < P; ++p) {
        check += static_cast<double>(y[p]);
        sum += static_cast<double>(std::max(y[p], floor));
      }
      log_of_floored(y, P, floor, log_slices_.data() + j * P);
    } else {
#pragma omp simd reduction(+ : sum)
      for (std::int64_t p = 0; p < P; ++p) sum += static_cast<double>(y[p]) * static_cast<double>(y[p]);
      check = sum;
    }
    if (!std::isfinite(check)) non_finite.mark(j);
    if (poisson)
      slice_term_[j] = static_cast<T>(scaled ? std::log(sum) : sum);
    else
      slice_term_[j] = static_cast<T>(sum);
    slice_scale_[j] = !poisson && sum > 0.0 ? static_cast<T>(1.0 / sum) : T(0);
    slice_sum_[j] = sum;
  }
  if (non_finite.any())
    fail("matching: slice of reference " + std::to_string(first + non_finite.row) + " has a non-finite value");
  if (reference_sums_.size() < static_cast<std::size_t>(first + count))
    reference_sums_.resize(static_cast<std::size_t>(first + count), std::numeric_limits<double>::quiet_NaN());
  std::copy(slice_sum_.begin(), slice_sum_.end(), reference_sums_.begin() + first);
}

// Y^T in panels of kPanel slices (zero-padded), so that a pixel's values over a panel are
// contiguous (the sparse product reads one such row per photon).
template <typename T>
void NearestSlices<T>::transpose_batch(std::int64_t count, const T* y) {
  const std::int64_t P = n_pixels_, panels = (count + kPanel - 1) / kPanel;
  const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
  transposed_.assign(static_cast<std::size_t>(panels * kPanel * P), T(0));
#pragma omp parallel for schedule(static) num_threads(threads) if (count * P >= min_parallel_values)
  for (std::int64_t j = 0; j < count; ++j) {
    T* panel = transposed_.data() + (j / kPanel) * kPanel * P + j % kPanel;
    const T* slice = y + j * P;
    for (std::int64_t p = 0; p < P; ++p) panel[p * kPanel] = slice[p];
  }
}

// The batch's slices pixel-major, a pixel's values over the batch contiguous (W at least
// poisson_floor for poisson): an image's bad pixels then cost one contiguous row each
// (share_of_bad), not one cache miss per slice and pixel (60 s per generation on 10,000
// images with 160 bad pixels each against 1e4 references, session 11).
template <typename T>
void NearestSlices<T>::bad_pixel_rows(std::int64_t count, const T* y) {
  const std::int64_t P = n_pixels_;
  const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
  const bool poisson = options_.metric == Metric::poisson;
  const T floor = static_cast<T>(options_.poisson_floor);
  bad_rows_.resize(static_cast<std::size_t>(P * count));
#pragma omp parallel for schedule(static) num_threads(threads) if (count * P >= min_parallel_values)
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t j = 0; j < count; ++j) {
      const T v = y[j * P + p];
      bad_rows_[static_cast<std::size_t>(p * count + j)] = poisson ? std::max(v, floor) : v;
    }
}

// share_at for every slice of the batch at once, from bad_pixel_rows: the same sums of the
// same values in the same order (so the same doubles).
template <typename T>
void share_of_bad(const T* rows, std::int64_t count, std::span<const std::int32_t> bad, bool poisson,
                  std::vector<double>& share) {
  share.assign(static_cast<std::size_t>(count), 0.0);
  for (const std::int32_t p : bad) {
    const T* row = rows + static_cast<std::int64_t>(p) * count;
    if (poisson) {
#pragma omp simd
      for (std::int64_t j = 0; j < count; ++j) share[static_cast<std::size_t>(j)] += static_cast<double>(row[j]);
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < count; ++j)
        share[static_cast<std::size_t>(j)] += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    }
  }
}

template <typename T>
void NearestSlices<T>::add_batch(std::int64_t first, std::int64_t count, std::span<const T> slices) {
  if (first < 0) fail("matching: first reference index must not be negative (" + std::to_string(first) + ")");
  if (count < 0) fail("matching: batch count must not be negative (" + std::to_string(count) + ")");
  if (static_cast<std::int64_t>(slices.size()) != count * n_pixels_)
    fail("matching: " + std::to_string(slices.size()) + " slice values given for a batch of " +
         std::to_string(count) + " references of " + std::to_string(n_pixels_) + " pixels");
  if (count == 0) return;

  const bool poisson = options_.metric == Metric::poisson;
  const bool scaled = options_.scale == Scale::per_slice;
  const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
  const std::int64_t P = n_pixels_;
  slice_terms(first, count, slices);
  if (n_images_ == 0) return;

  // The one GEMM, in row blocks: euclidean -2 X Y^T (X Y^T when scaled), poisson -K (log W)^T;
  // then each thread folds its rows into the running best while they are in cache.
  const T alpha = poisson ? T(-1) : scaled ? T(1) : T(-2);
  const T* y_gemm = poisson ? log_slices_.data() : slices.data();
  cross_.resize(n_images_ * count);
  if (sparse_product_) transpose_batch(count, y_gemm);
  if (options_.bad_pixels.any()) bad_pixel_rows(count, slices.data());
  const std::int64_t k = options_.top_k;
  // One block of rows per thread: each thread's GEMM packs the batch's slices anew, so
  // fewer, larger blocks pack less.
  const auto gemm_and_keep_best = [&](auto score) {
    const OneBlasThread single;
#pragma omp parallel num_threads(threads) if (n_images_ * count * P >= min_parallel_products)
    {
      const std::int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
      // The sparse product's blocks are never shared between threads.
      const std::int64_t unit = sparse_product_ ? kImageBlock : 1, units = (n_images_ + unit - 1) / unit;
      const std::int64_t begin = std::min(n_images_, units * part / parts * unit),
                         end = std::min(n_images_, units * (part + 1) / parts * unit);
      cross_terms(begin, end, count, alpha, y_gemm);
      std::vector<double> share;  // an image's bad pixels' share of each slice's sum
      for (std::int64_t i = begin; i < end; ++i) {
        const T* c = cross_.data() + i * count;
        T* row_scores = scores_.data() + i * k;
        std::int64_t* row_indices = indices_.data() + i * k;
        if (const auto bad = options_.bad_pixels.of(i); !bad.empty()) {
          share_of_bad(bad_rows_.data(), count, bad, poisson, share);
          for (std::int64_t j = 0; j < count; ++j) {
            const double good = slice_sum_[j] - share[static_cast<std::size_t>(j)];
            consider(row_scores, row_indices, k,
                     score_over_good(options_.metric, options_.scale, image_norm_[i], image_count_[i], c[j], good),
                     first + j);
          }
        } else if (k == 1) {
          // Strict < keeps the lowest index of equal scores within the batch.
          T best = score(i, 0, c[0]);
          std::int64_t best_j = 0;
          for (std::int64_t j = 1; j < count; ++j) {
            const T s = score(i, j, c[j]);
            if (s < best) {
              best = s;
              best_j = j;
            }
          }
          consider(row_scores, row_indices, k, best, first + best_j);
        } else {
          for (std::int64_t j = 0; j < count; ++j) consider(row_scores, row_indices, k, score(i, j, c[j]), first + j);
        }
      }
    }
  };
  const T* xn = image_norm_.data();
  const T* kn = image_count_.data();
  const T* yt = slice_term_.data();
  const T* ys = slice_scale_.data();
  if (!poisson && !scaled)
    gemm_and_keep_best([=](std::int64_t i, std::int64_t j, T c) { return xn[i] + yt[j] + c; });
  else if (!poisson)
    gemm_and_keep_best([=](std::int64_t i, std::int64_t j, T c) { return c > T(0) ? xn[i] - c * c * ys[j] : xn[i]; });
  else if (!scaled)
    gemm_and_keep_best([=](std::int64_t, std::int64_t j, T c) { return yt[j] + c; });
  else
    gemm_and_keep_best([=](std::int64_t i, std::int64_t j, T c) { return c + kn[i] * yt[j] + xn[i]; });
}

template <typename T>
double score_one(const T* x, const T* y, std::int64_t P, const Options& options, std::span<const std::int32_t> bad) {
  const bool scaled = options.scale == Scale::per_slice;
  if (options.metric == Metric::euclidean) {
    double xx = 0, xy = 0, yy = 0;
#pragma omp simd reduction(+ : xx, xy, yy)
    for (std::int64_t p = 0; p < P; ++p) {
      xx += static_cast<double>(x[p]) * x[p];
      xy += static_cast<double>(x[p]) * y[p];
      yy += static_cast<double>(y[p]) * y[p];
    }
    yy -= share_at(y, bad, false, T(0));
    if (!scaled) return xx + yy - 2 * xy;
    return xy > 0 && yy > 0 ? xx - xy * xy / yy : xx;
  }
  // The same float floor as NearestSlices, so both see the same W.
  const T floor = static_cast<T>(options.poisson_floor);
  double k_total = 0, w_total = 0, k_log_w = 0;
  for (std::int64_t p = 0; p < P; ++p) {
    const double w = static_cast<double>(std::max(y[p], floor));
    k_total += static_cast<double>(x[p]);
    w_total += w;
    if (x[p] != T(0)) k_log_w += static_cast<double>(x[p]) * std::log(w);
  }
  w_total -= share_at(y, bad, true, floor);
  if (!scaled) return w_total - k_log_w;
  // At a = K / sum W: sum a W - sum k log(a W) = K - K log K + K log sum W - sum k log W.
  return (k_total > 0 ? k_total * (1 - std::log(k_total)) : 0.0) + k_total * std::log(w_total) - k_log_w;
}

template <typename T>
std::vector<T> soft_weights(std::span<const T> scores, std::int64_t top_k, double beta) {
  if (top_k < 1) fail("soft_weights: top_k must be at least 1, not " + std::to_string(top_k));
  if (scores.size() % static_cast<std::size_t>(top_k) != 0)
    fail("soft_weights: " + std::to_string(scores.size()) + " scores are not rows of top_k = " +
         std::to_string(top_k));
  if (!(beta >= 0.0) || !std::isfinite(beta))
    fail("soft_weights: beta must be finite and >= 0, not " + std::to_string(beta));
  std::vector<T> weights(scores.size(), T(0));
  const std::size_t k = static_cast<std::size_t>(top_k);
  for (std::size_t row = 0; row < scores.size(); row += k) {
    double lowest = std::numeric_limits<double>::infinity();
    for (std::size_t r = row; r < row + k; ++r) lowest = std::min(lowest, static_cast<double>(scores[r]));
    if (!std::isfinite(lowest)) continue;
    // Relative to the row's best score, so the exponentials cannot overflow.
    double total = 0.0;
    for (std::size_t r = row; r < row + k; ++r)
      if (std::isfinite(scores[r])) total += std::exp(-beta * (static_cast<double>(scores[r]) - lowest));
    for (std::size_t r = row; r < row + k; ++r)
      if (std::isfinite(scores[r]))
        weights[r] = static_cast<T>(std::exp(-beta * (static_cast<double>(scores[r]) - lowest)) / total);
  }
  return weights;
}

template class NearestSlices<float>;
template class NearestSlices<double>;
template double score_one(const float*, const float*, std::int64_t, const Options&, std::span<const std::int32_t>);
template double score_one(const double*, const double*, std::int64_t, const Options&, std::span<const std::int32_t>);
template std::vector<float> soft_weights(std::span<const float>, std::int64_t, double);
template std::vector<double> soft_weights(std::span<const double>, std::int64_t, double);

}  // namespace spire::matching
