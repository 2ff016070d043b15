#include "matching/search.hpp"

#include <chrono>

namespace spire::matching {
namespace {

using clock_type = std::chrono::steady_clock;
double seconds(clock_type::time_point a, clock_type::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

SliceSearch::SliceSearch(std::span<const geometry::Quaternion> references, std::int64_t first,
                         std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                         const ImageSet<float>& images, const slicing::Options& slicing, const Options& matching)
    : first_(first),
      slicer_(references, pixels, s_ext, n, slicing),
      nearest_(images, matching),
      batch_(static_cast<std::size_t>(slicing.batch_size) * pixels.size()) {
  slicer_.set_pixel_weights(images.pixel_weights);
}

void SliceSearch::run(std::span<const float> autocorrelation, Progress& progress) {
  progress.begin("slicing and matching (reference batches)", slicer_.n_batches());
  nearest_.reset();
  slicing_s_ = matching_s_ = 0;
  slicer_.set_autocorrelation(autocorrelation);
  const auto P = static_cast<std::size_t>(slicer_.n_pixels());
  for (std::int64_t b = 0; b < slicer_.n_batches(); ++b) {
    const auto t0 = clock_type::now();
    const std::int64_t count = slicer_.batch_count(b);
    slicer_.slice_batch(b, batch_.data());
    const auto t1 = clock_type::now();
    slicing_s_ += seconds(t0, t1);
    nearest_.add_batch(first_ + slicer_.batch_first(b), count,
                       std::span<const float>(batch_.data(), static_cast<std::size_t>(count) * P));
    matching_s_ += seconds(t1, clock_type::now());
    progress.add();
  }
  progress.end();
}

}  // namespace spire::matching
