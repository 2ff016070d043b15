#include "reconstruct/data.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "matching/fit.hpp"

namespace spire::reconstruct {
namespace {

// The standard deviation of the images' sums about data.photons_per_image, over every rank's.
double spread_of_sums(const Data& data, const distributed::Team& team) {
  const auto P = static_cast<std::size_t>(data.n_pixels);
  double squares = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(data.n_images); ++i) {
    double sum = 0;
    for (std::size_t p = 0; p < P; ++p) sum += data.images[i * P + p];
    squares += (sum - data.photons_per_image) * (sum - data.photons_per_image);
  }
  return std::sqrt(team.sum(squares) / static_cast<double>(std::max<std::int64_t>(data.total, 1)));
}

}  // namespace

void prepare(Data& data, const distributed::Team& team) {
  const auto [first, total] = team.offset(data.n_images);
  data.first = first;
  data.total = total;
  data.extent = 0;
  for (const auto& p : data.pixels) data.extent = std::max(data.extent, std::hypot(p[0], p[1], p[2]));
  data.counts = team.sum(matching::integer_valued(data.images) ? 0.0 : 1.0) == 0;
  double photons = 0;
  for (float v : data.images) photons += v;
  data.photons_per_image = team.sum(photons) / static_cast<double>(std::max<std::int64_t>(total, 1));
  data.photons_spread = spread_of_sums(data, team);
  data.scale = 1;
  if (data.counts) return;
  const double mean = data.photons_per_image / static_cast<double>(std::max<std::int64_t>(data.n_pixels, 1));
  if (!(mean > 0) || !std::isfinite(mean))
    fail(fmt::format("the images' mean value is {}: nothing to reconstruct from (all zero, or negative on average)", mean));
  data.scale = mean;
  for (float& v : data.images) v = static_cast<float>(static_cast<double>(v) / mean);
}

std::vector<double> in_data_units(std::span<const double> map, const Data& data, double power) {
  const double unit = power == 1 ? data.scale : std::pow(data.scale, power);
  std::vector<double> out(map.begin(), map.end());
  for (double& v : out) v *= unit;
  return out;
}

namespace {

// The images used of a file holding `in_file`; errors name the file.
std::int64_t images_used(const std::string& path, std::int64_t in_file, const Settings::Data& range,
                         const distributed::Team& team) {
  if (range.first >= in_file)
    fail_in(path, fmt::format("data.first = {} but the file holds {} images (0 to {})", range.first, in_file, in_file - 1));
  std::int64_t used = in_file - range.first;
  if (range.images > 0) {
    if (range.images > used)
      fail_in(path, fmt::format("data.first = {} and data.images = {} but the file holds {} images", range.first,
                                range.images, in_file));
    used = range.images;
  }
  if (used < team.size())
    fail_in(path, fmt::format("{} images for {} MPI ranks: every rank needs at least one", used, team.size()));
  return used;
}

}  // namespace

DataShape data_shape(const std::string& path, const Settings::Data& range, const distributed::Team& team) {
  io::DatasetReader reader(path);
  const auto& info = reader.info();
  return {images_used(path, static_cast<std::int64_t>(info.n_images), range, team),
          static_cast<std::int64_t>(info.pixels())};
}

Data load_data(const std::string& path, const Settings::Data& range, const distributed::Team& team) {
  io::DatasetReader reader(path);
  const auto& info = reader.info();
  const std::int64_t used = images_used(path, static_cast<std::int64_t>(info.n_images), range, team);
  const auto mine = team.images(used);
  Data data;
  data.n_images = mine.count;
  data.n_pixels = static_cast<std::int64_t>(info.pixels());
  data.images.resize(static_cast<std::size_t>(data.n_images * data.n_pixels));
  const std::int64_t first = range.first + mine.first;  // this rank's first image in the file
  reader.read_images(static_cast<std::size_t>(first), static_cast<std::size_t>(data.n_images), data.images.data());
  const auto& s = info.pixel_position_reciprocal;
  for (std::int64_t p = 0; p < data.n_pixels; ++p) data.pixels.push_back({s[3 * p], s[3 * p + 1], s[3 * p + 2]});
  if (reader.has_orientations()) {
    const auto q = reader.read_orientations();
    for (std::int64_t i = first; i < first + data.n_images; ++i)
      data.truth.push_back({q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]});
  }
  try {
    prepare(data, team);
  } catch (const Error& e) {
    fail_in(path, e.what());
  }
  return data;
}

std::string sparse_warning(bool counts, double photons_per_image, const Settings& st) {
  if (!counts || photons_per_image >= st.orientations.min_photons || st.orientations.oracle) return {};
  return fmt::format("WARNING: {:.1f} photons per image on average, below orientations.min_photons = {:g}: too few "
                     "to orient the images (README, \"Signal and convergence\"); expect a featureless map, not the "
                     "molecule. More fluence (smaller spot) or more photons per image are needed.",
                     photons_per_image, st.orientations.min_photons);
}

}  // namespace spire::reconstruct
