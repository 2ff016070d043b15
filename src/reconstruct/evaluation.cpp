#include <algorithm>
#include <cstddef>
#include <numbers>
#include <vector>

#include "reconstruct/reconstruct.hpp"

namespace spire::reconstruct {

double median_orientation_error(const std::vector<geometry::Quaternion>& found,
                                const std::vector<geometry::Quaternion>& truth) {
  if (found.size() != truth.size() || found.empty()) return -1;
  // The reconstruction's frame is the model's turned by some Q: found_i = truth_i Q. Take as
  // Q the relative rotation truth_i^-1 found_i that most images agree with (within 10 deg).
  const std::size_t n = found.size(), candidates = std::min<std::size_t>(n, 64);
  std::vector<geometry::Quaternion> rel(n);
  for (std::size_t i = 0; i < n; ++i) rel[i] = geometry::product(geometry::conjugate(truth[i]), found[i]);
  const double agree = 10 * std::numbers::pi / 180;
  std::size_t best = 0, best_count = 0;
  for (std::size_t c = 0; c < candidates; ++c) {
    const std::size_t j = c * n / candidates;
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) count += geometry::angle_between(rel[i], rel[j]) < agree;
    if (count > best_count) best = j, best_count = count;
  }
  const geometry::Quaternion Q = rel[best], turn{0, 0, 0, 1};
  std::vector<double> e;
  for (std::size_t i = 0; i < n; ++i) {
    const auto expected = geometry::product(truth[i], Q);
    e.push_back(std::min(geometry::angle_between(found[i], expected),
                         geometry::angle_between(found[i], geometry::product(turn, expected))));
  }
  std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(n / 2), e.end());
  return e[n / 2] * 180 / std::numbers::pi;
}

}  // namespace spire::reconstruct
