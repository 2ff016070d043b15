#include "reconstruct/fluence.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace spire::reconstruct {

bool fluence_scaling(const Settings& settings, const Data& data) {
  switch (settings.merging.fluence_scaling) {
    case AutoChoice::on: return true;
    case AutoChoice::off: return false;
    case AutoChoice::automatic: break;
  }
  return data.photons_per_image > 0 && data.photons_spread > kAutoSpread * data.photons_per_image;
}

FluenceScales::FluenceScales(const Data& data, matching::Metric metric) : metric_(metric) {
  const auto N = static_cast<std::size_t>(data.n_images);
  const auto images = image_set(data);
  sums_.assign(N, 0);
  squares_.assign(N, 0);
  for (std::size_t i = 0; i < N; ++i)
    images.for_each_value(static_cast<std::int64_t>(i), [&](float v) { sums_[i] += v, squares_[i] += double(v) * v; });
}

std::vector<double> FluenceScales::from_match(const Matches& matches, const Backend& backend) const {
  std::vector<double> a(sums_.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto j = static_cast<std::size_t>(matches.reference[i]);
    const double slice = j < matches.reference_sums.size() ? matches.reference_sums[j] : 0.0;
    if (!(slice > 0)) fail("reconstruct: no slice sum for image " + std::to_string(i) + "'s reference");
    a[i] = metric_ == matching::Metric::poisson
               ? std::max(sums_[i], 0.0) / slice
               : std::sqrt(std::max(0.0, squares_[i] - static_cast<double>(matches.score[i])) / slice);
  }
  return normalised(std::move(a), backend);
}

std::vector<double> FluenceScales::from_photons(const Backend& backend) const {
  std::vector<double> a(sums_.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::max(sums_[i], 0.0);
  return normalised(std::move(a), backend);
}

std::vector<double> FluenceScales::normalised(std::vector<double> a, const Backend& backend) const {
  double totals[2] = {0, static_cast<double>(a.size())};
  for (const double v : a) totals[0] += v;
  backend.sum(totals);
  const double mean = totals[1] > 0 ? totals[0] / totals[1] : 0;
  if (!(mean > 0)) fail("reconstruct: every image's fluence scale is 0 (no photon in any image)");
  for (double& v : a) v /= mean;
  return a;
}

}  // namespace spire::reconstruct
