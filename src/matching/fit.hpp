#pragma once
// The fit of an assignment: how well the best matches explain the images beyond what shot
// noise alone leaves, the quantity the loop's schedule watches (reconstruct/stages.hpp).
//
// Per image i with best score s_i (matching.hpp's cost, lower is better):
//   excess_i = (s_i - floor_i) / norm_i
//   norm:  euclidean |x|^2; poisson the photon count sum k (at least 1e-30).
//   floor: what a perfect model leaves: for photon counts (every value an integer)
//          E|k - lambda|^2 = sum lambda ~ sum k (euclidean), the saturated model W = k,
//          sum (k - k log k) (poisson, for any data); 0 for noise-free euclidean data.
// The fit of a generation is the mean of excess_i over every rank's images (the caller
// sums). Per-image terms are summed in double in pixel order: deterministic.
#include <cstdint>
#include <span>
#include <vector>

#include "matching/matching.hpp"

namespace spire::matching {

class Fit {
 public:
  // counts: the images are photon counts (on every rank).
  Fit(const ImageSet<float>& images, Metric metric, bool counts, int threads = 0);
  // Dense images: n_images x n_pixels.
  Fit(std::span<const float> images, std::int64_t n_images, std::int64_t n_pixels, Metric metric, bool counts,
      int threads = 0)
      : Fit(ImageSet<float>{n_images, n_pixels, images, {}, {}, {}}, metric, counts, threads) {}

  double excess(std::int64_t image, double score) const {
    const auto i = static_cast<std::size_t>(image);
    return (score - floor_[i]) / norm_[i];
  }

 private:
  std::vector<double> norm_, floor_;
};

// Whether every value is an integer (photon counts), over these values only.
bool integer_valued(std::span<const float> values);

}  // namespace spire::matching
