#include "matching/fit.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace spire::matching {

Fit::Fit(const ImageSet<float>& images, Metric metric, bool counts, int threads)
    : norm_(static_cast<std::size_t>(images.n_images)), floor_(static_cast<std::size_t>(images.n_images)) {
  const bool poisson = metric == Metric::poisson;
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (std::int64_t i = 0; i < images.n_images; ++i) {
    double norm = 0, floor = 0;  // zeros add nothing to either: sparse rows skip them
    images.for_each_value(i, [&](float value) {
      const double v = value;
      if (poisson) {
        norm += v;
        floor += v > 0 ? v - v * std::log(v) : 0;
      } else {
        norm += v * v;
        floor += v;
      }
    });
    norm_[static_cast<std::size_t>(i)] = std::max(norm, 1e-30);
    floor_[static_cast<std::size_t>(i)] = counts || poisson ? floor : 0;
  }
}

bool integer_valued(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return v == std::round(v); });
}

}  // namespace spire::matching
