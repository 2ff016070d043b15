#pragma once
// Orientation matching (M-TIP step 2): for every data image, the reference orientation whose
// model slice fits it best, found batch by batch with a running argmin, so that memory is
// O(batch x n_images) whatever the number of references M.
//
// Layout: images are n_images x n_pixels and slices count x n_pixels, row-major. Scores are
// costs, LOWER IS BETTER, for every metric:
//   euclidean, scale none:       |x - y|^2 = |x|^2 + |y|^2 - 2 <x,y>
//   euclidean, scale per_slice:  min over a >= 0 of |x - a y|^2 = |x|^2 - <x,y>_+^2 / |y|^2,
//                                a = max(<x,y>, 0) / |y|^2 (least squares; |y| = 0 gives |x|^2)
//   poisson,   scale none:       -log-likelihood without log k! = sum_p W_p - sum_p k_p log W_p
//   poisson,   scale per_slice:  the same at the maximum-likelihood scale a = sum k / sum W,
//                                i.e. the slice scaled to the image's photon count
// with x = k the image, y = W the slice; for poisson W is first clamped to poisson_floor
// (both in the log and in the sum) and images must be non-negative.
// Every cross term <x,y> (or k . log W) of a batch is ONE GEMM; norms, sums and the argmin
// are O(n_images x count) and O(count x n_pixels) next to it. Scores carry the GEMM's
// rounding, of order eps (|x|^2 + |y|^2), so a euclidean score can be slightly negative.
//
// Ties: candidates are ordered by (score, reference index); at equal scores the LOWEST index
// wins, within a batch and across batches, whatever order the batches come in. Each image
// keeps its top_k best, best first; fewer than top_k references seen leaves the rest at
// index -1 and score +infinity. Each reference index should be added once.
//
// Threads: one OpenMP team does everything; each thread runs a single-threaded GEMM on its
// share of the images (OpenBLAS is held at 1 thread during add_batch, blas_threads.hpp), so
// OpenBLAS's own pool never competes with OpenMP's for the cores.
//
// Bad pixels (Options::bad_pixels): pixels of single images with no value (NaN/Inf in the
// file), held as 0 in the images. Every score of such an image is over its good pixels only,
// exactly: the slice terms (|y|^2, sum W) lose the bad pixels' share, so a bad pixel has no
// influence on any score. Cost: the GEMM as before plus O(bad pixels x count) per batch.
//
// The images are NOT copied: they must stay alive and unchanged while the object is used.
// Non-finite values in images or slices are an error (spire::Error), as are bad sizes.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/names.hpp"

namespace spire::matching {

enum class Metric { euclidean, poisson };
inline constexpr NameTable<Metric, 2> kMetricNames{{{Metric::euclidean, "euclidean"}, {Metric::poisson, "poisson"}}};
enum class Scale { none, per_slice };
inline constexpr NameTable<Scale, 2> kScaleNames{{{Scale::none, "none"}, {Scale::per_slice, "per_slice"}}};

// Precision of the matching GEMM where a back end offers a choice (the GPU's tensor cores).
// fp32: plain SGEMM. tf32: one TF32 GEMM (10-bit mantissas). tf32x3: 3xTF32, big*big +
// big*small + small*big with x = big + small split at TF32, about FP32's accuracy.
enum class GemmPrecision { fp32, tf32, tf32x3 };
inline constexpr NameTable<GemmPrecision, 3> kGemmPrecisionNames{
    {{GemmPrecision::fp32, "fp32"}, {GemmPrecision::tf32, "tf32"}, {GemmPrecision::tf32x3, "3xtf32"}}};

// The images matching takes: dense rows (n_images x n_pixels, row-major), or sparse rows
// for photon counts (compressed: image i's nonzero values are values[offsets[i] ..
// offsets[i+1]) at pixels[...], ascending, each below n_pixels), which cost their photons,
// not their pixels (NearestSlices' sparse product below). A view: the arrays belong to the
// caller (reconstruct::Data) and must outlive every use.
template <typename T>
struct ImageSet {
  std::int64_t n_images = 0, n_pixels = 0;
  std::span<const T> dense;              // empty when sparse
  std::span<const std::int64_t> offsets;  // sparse: n_images + 1 entries
  std::span<const std::int32_t> pixels;
  std::span<const T> values;
  // Per pixel: how many detector pixels it stands for (the loop's cells of photon counts,
  // reconstruct/cells.hpp), each value the sum of theirs; empty: 1 each. Whoever slices for
  // these images multiplies each slice value by it (slicing::Slicer::set_pixel_weights), so
  // that a slice is the expected count of the whole cell and every score below is the
  // cell's likelihood; matching itself takes the slices as they come.
  std::span<const T> pixel_weights = {};

  bool sparse() const { return !offsets.empty(); }
  // Image i as n_pixels dense values.
  void row(std::int64_t i, T* out) const {
    if (!sparse()) {
      std::copy_n(dense.data() + i * n_pixels, n_pixels, out);
      return;
    }
    std::fill_n(out, n_pixels, T(0));
    for (auto k = offsets[static_cast<std::size_t>(i)]; k < offsets[static_cast<std::size_t>(i) + 1]; ++k)
      out[pixels[static_cast<std::size_t>(k)]] = values[static_cast<std::size_t>(k)];
  }
  // f(value) for every stored value of image i (zeros of sparse rows skipped).
  template <typename F>
  void for_each_value(std::int64_t i, F f) const {
    if (!sparse()) {
      for (std::int64_t p = 0; p < n_pixels; ++p) f(dense[static_cast<std::size_t>(i * n_pixels + p)]);
      return;
    }
    for (auto k = offsets[static_cast<std::size_t>(i)]; k < offsets[static_cast<std::size_t>(i) + 1]; ++k)
      f(values[static_cast<std::size_t>(k)]);
  }
};

// Per-image bad pixels in compressed rows: image i's are pixels[offsets[i] .. offsets[i+1]),
// ascending; offsets has n_images + 1 entries, or none (no bad pixel anywhere). A view: the
// arrays belong to the caller (reconstruct::Data) and must outlive every use.
struct BadPixels {
  std::span<const std::int64_t> offsets;
  std::span<const std::int32_t> pixels;

  bool any() const { return !offsets.empty() && offsets.back() > 0; }
  std::span<const std::int32_t> of(std::int64_t image) const {
    if (offsets.empty()) return {};
    const auto i = static_cast<std::size_t>(image);
    return pixels.subspan(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(offsets[i + 1] - offsets[i]));
  }
};

struct Options {
  Metric metric = Metric::euclidean;
  Scale scale = Scale::none;
  std::int64_t top_k = 1;       // >= 1; more than one for soft / top-k assignment
  double poisson_floor = 1e-8;  // model intensities below it count as it (slice units)
  int threads = 0;              // OpenMP threads, the GEMM's included; 0: OpenMP's default
  BadPixels bad_pixels;         // of the images matched (none by default)
};

template <typename T>
class NearestSlices {
 public:
  // Computes the per-image norms (or photon counts) once. Sparse images with under 25% of
  // their values nonzero: the cross terms of a batch are the sparse rows times the batch's
  // slices (transposed once per batch), O(nonzeros x count) instead of the GEMM's
  // O(n_images x n_pixels x count); denser sparse rows are made dense 1,024 at a time for the
  // GEMM (faster there; matching.cpp has the measurements).
  NearestSlices(const ImageSet<T>& images, const Options& options = {});
  // Dense images: n_images x n_pixels values.
  NearestSlices(std::int64_t n_images, std::int64_t n_pixels, std::span<const T> images, const Options& options = {})
      : NearestSlices(ImageSet<T>{n_images, n_pixels, images, {}, {}, {}}, options) {}

  // Slices of references [first, first + count): count x n_pixels values, row-major.
  void add_batch(std::int64_t first, std::int64_t count, std::span<const T> slices);

  // Forget every batch (a new generation against the same images).
  void reset();

  // n_images x top_k, row-major, each row best first (ascending score, then index).
  const std::vector<std::int64_t>& indices() const { return indices_; }
  const std::vector<T>& scores() const { return scores_; }
  // Per reference index seen since reset(): its slice's |y|^2 (euclidean) or sum W (poisson,
  // W at least poisson_floor) over every pixel, in double; NaN for an index not seen. With
  // an image's best score it gives the image's scale (reconstruct: fluence_scales).
  const std::vector<double>& reference_sums() const { return reference_sums_; }

  std::int64_t n_images() const { return n_images_; }
  std::int64_t n_pixels() const { return n_pixels_; }
  std::int64_t top_k() const { return options_.top_k; }
  const Options& options() const { return options_; }

 private:
  void slice_terms(std::int64_t first, std::int64_t count, std::span<const T> slices);
  void transpose_batch(std::int64_t count, const T* y);
  void bad_pixel_rows(std::int64_t count, const T* y);
  void cross_terms(std::int64_t begin, std::int64_t end, std::int64_t count, T alpha, const T* y);
  void sparse_cross_terms(std::int64_t begin, std::int64_t end, std::int64_t count, T alpha);
  void sort_by_pixel();

  std::int64_t n_images_, n_pixels_;
  ImageSet<T> images_;
  bool sparse_product_ = false;  // sparse rows, few enough nonzeros for the sparse product
  std::vector<T> transposed_;    // sparse product: the batch's y, in panels
  // Sparse product: the stored values in blocks of kImageBlock images (matching.cpp), each
  // block's by pixel, then image: block b's are [by_pixel_offsets_[b], ...[b + 1]).
  std::vector<std::int64_t> by_pixel_offsets_;
  std::vector<std::int32_t> by_pixel_pixel_, by_pixel_image_;  // image: within its block
  std::vector<T> by_pixel_value_;
  std::vector<T> bad_rows_;      // images with bad pixels: the batch's slices pixel-major (P x count; W floored for poisson)
  Options options_;
  // Per image: euclidean |x|^2; poisson with per_slice: photon count and its constant term.
  std::vector<T> image_norm_, image_count_;
  std::vector<T> slice_term_, slice_scale_;  // per slice of the current batch
  std::vector<double> slice_sum_;            // per slice: |y|^2 (euclidean) or sum W (poisson)
  std::vector<double> reference_sums_;       // slice_sum_ by reference index
  std::vector<T> log_slices_;                // poisson: log W of the current batch
  std::vector<T> cross_;                     // n_images x count: the GEMM's result
  std::vector<std::int64_t> indices_;
  std::vector<T> scores_;
};

extern template class NearestSlices<float>;
extern template class NearestSlices<double>;

// The score of one image x against one slice y (P values each), by the formulas above,
// summed in double: what NearestSlices computes through its GEMM, without the GEMM's float
// rounding (local refinement compares candidates of one image with it). bad: the image's bad
// pixels (x is 0 there), left out of the sums.
template <typename T>
double score_one(const T* x, const T* y, std::int64_t P, const Options& options,
                 std::span<const std::int32_t> bad = {});

// Soft assignment from top-k scores (n rows of top_k, as NearestSlices::scores()): per row
// w_j = exp(-beta (s_j - s_min)) / sum, a softmax with inverse temperature beta >= 0. For the
// poisson metric beta = 1 is the posterior over the row's references (uniform prior).
// Entries with score +infinity (no reference) get weight 0; a row without any gets all 0.
template <typename T>
std::vector<T> soft_weights(std::span<const T> scores, std::int64_t top_k, double beta);

}  // namespace spire::matching
