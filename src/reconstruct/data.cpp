#include "reconstruct/data.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.hpp"
#include "matching/fit.hpp"

namespace spire::reconstruct {
namespace {

// The standard deviation of the images' sums about data.photons_per_image, over every rank's.
double spread_of_sums(const Data& data, const distributed::Team& team) {
  const auto images = image_set(data);
  double squares = 0;
  for (std::int64_t i = 0; i < data.n_images; ++i) {
    double sum = 0;
    images.for_each_value(i, [&sum](float v) { sum += v; });
    squares += (sum - data.photons_per_image) * (sum - data.photons_per_image);
  }
  return std::sqrt(team.sum(squares) / static_cast<double>(std::max<std::int64_t>(data.total, 1)));
}

// The bins' means, linear between the bins with values over those without (counts[b] = 0),
// flat before the first and after the last.
std::vector<double> filled(const std::vector<double>& sums, const std::vector<double>& counts) {
  std::vector<double> out(sums.size(), 0.0);
  std::vector<std::size_t> have;  // the bins with values, ascending
  for (std::size_t b = 0; b < sums.size(); ++b)
    if (counts[b] != 0) out[b] = sums[b] / counts[b], have.push_back(b);
  if (have.empty()) return out;
  for (std::size_t g = 0; g < have.front(); ++g) out[g] = out[have.front()];
  for (std::size_t g = have.back() + 1; g < out.size(); ++g) out[g] = out[have.back()];
  for (std::size_t k = 1; k < have.size(); ++k) {
    const std::size_t a = have[k - 1], b = have[k];
    for (std::size_t g = a + 1; g < b; ++g)
      out[g] = out[a] + (out[b] - out[a]) * static_cast<double>(g - a) / static_cast<double>(b - a);
  }
  return out;
}

// Data::profile over every rank's images.
std::vector<double> radial_profile(const Data& data, const distributed::Team& team) {
  const auto P = static_cast<std::size_t>(data.n_pixels), bins = static_cast<std::size_t>(Data::kProfileBins);
  std::vector<std::size_t> bin_of(P);
  std::vector<double> good(P, static_cast<double>(data.n_images));  // values per pixel: images less bad
  for (std::size_t p = 0; p < P; ++p) {
    const auto& s = data.pixels[p];
    const double u = data.extent > 0 ? std::hypot(s[0], s[1], s[2]) / (2 * data.extent) : 0;
    bin_of[p] = std::min(static_cast<std::size_t>(u / Data::profile_du), bins - 1);
  }
  for (const auto p : data.bad_pixels) good[static_cast<std::size_t>(p)] -= 1;
  std::vector<double> sums(2 * bins, 0.0);  // the values' sums, then their counts
  for (std::size_t p = 0; p < P; ++p) sums[bins + bin_of[p]] += good[p];
  if (data.sparse_offsets.empty()) {
    for (std::size_t k = 0; k < data.images.size(); ++k) sums[bin_of[k % P]] += data.images[k];
  } else {
    for (std::size_t k = 0; k < data.sparse_values.size(); ++k)
      sums[bin_of[static_cast<std::size_t>(data.sparse_pixels[k])]] += data.sparse_values[k];
  }
  team.sum(sums);
  return filled({sums.begin(), sums.begin() + static_cast<std::ptrdiff_t>(bins)},
                {sums.begin() + static_cast<std::ptrdiff_t>(bins), sums.end()});
}

// Non-count images in units of their mean value (Data::scale).
void divide_by_mean(Data& data) {
  // The mean over the values there are: bad pixels (0 in the images) are not values.
  const auto total = static_cast<double>(data.total);
  const double values = total * static_cast<double>(data.n_pixels) - static_cast<double>(data.bad_total);
  const double mean = data.photons_per_image * total / std::max(values, 1.0);
  if (!(mean > 0) || !std::isfinite(mean))
    fail(fmt::format("the images' mean value is {}: nothing to reconstruct from (all zero, or negative on average)", mean));
  data.scale = mean;
  for (float& v : held_values(data)) v = static_cast<float>(static_cast<double>(v) / mean);
}

}  // namespace

void prepare(Data& data, const distributed::Team& team) {
  const auto [first, total] = team.offset(data.n_images);
  data.first = first;
  data.total = total;
  data.extent = 0;
  for (const auto& p : data.pixels) data.extent = std::max(data.extent, std::hypot(p[0], p[1], p[2]));
  data.bad_total = static_cast<std::int64_t>(team.sum(static_cast<double>(data.bad_pixels.size())));
  data.negative_total = static_cast<std::int64_t>(team.sum(static_cast<double>(data.negative_values)));
  const bool counts_here = data.negative_values == 0 && matching::integer_valued(held_values(data));
  data.counts = team.sum(counts_here ? 0.0 : 1.0) == 0;
  double photons = 0;
  for (float v : held_values(data)) photons += v;
  data.photons_per_image = team.sum(photons) / static_cast<double>(std::max<std::int64_t>(total, 1));
  data.photons_spread = spread_of_sums(data, team);
  data.scale = 1;
  if (!data.counts) divide_by_mean(data);
  data.profile = radial_profile(data, team);
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

io::OpenOptions open_options(const Settings::Data& data) {
  return {.detector = data.detector, .photon_energy = data.photon_energy, .mask = data.mask};
}

std::vector<std::int64_t> kept_pixels(const std::string& path, const io::DatasetInfo& info, const Settings::Data& data) {
  // |s| in 1/m against the limits in Angstrom: d = 1/|s|, s_max = 1e10 / d_high.
  const double s_min = data.resolution_low > 0 ? 1e10 / data.resolution_low : 0;
  const double s_max = data.resolution_high > 0 ? 1e10 / data.resolution_high : std::numeric_limits<double>::infinity();
  std::vector<std::int64_t> kept;
  const auto& q = info.pixel_position_reciprocal;
  for (std::size_t p = 0; p < info.pixels(); ++p) {
    if (!info.mask.empty() && !info.mask[p]) continue;
    const double s = std::hypot(double(q[3 * p]), double(q[3 * p + 1]), double(q[3 * p + 2]));
    if (s >= s_min && s <= s_max) kept.push_back(static_cast<std::int64_t>(p));
  }
  if (kept.empty())
    fail_in(path, fmt::format("no usable pixel: {} of {} pixels masked, the rest outside data.resolution_low = {} A "
                              "and data.resolution_high = {} A",
                              info.pixels() - info.usable_pixels(), info.pixels(), data.resolution_low,
                              data.resolution_high));
  return kept;
}

namespace {

// Sparse rows cost 8 bytes per nonzero value against 4 per pixel, and matching costs the
// nonzeros: photon counts are held sparse when under this fraction of their values is nonzero.
constexpr double kSparseFraction = 0.25;

// Rows of kept pixels into Data, dense or sparse; non-finite values become bad pixels (0).
class RowSink {
 public:
  RowSink(Data& data, bool sparse) : data_(data), sparse_(sparse) {
    data_.bad_offsets.assign(1, 0);
    if (sparse_) data_.sparse_offsets.assign(1, 0);
    else data_.images.reserve(static_cast<std::size_t>(data_.n_images * data_.n_pixels));
  }

  void add(const float* row) {
    const std::int64_t K = data_.n_pixels;
    if (sparse_ && !counts(row, K)) make_dense();  // not photon counts after all
    for (std::int64_t k = 0; k < K; ++k) {
      float v = row[k];
      if (!std::isfinite(v)) data_.bad_pixels.push_back(static_cast<std::int32_t>(k)), v = 0;
      data_.negative_values += v < 0;
      if (!sparse_) data_.images.push_back(v);
      else if (v != 0) data_.sparse_pixels.push_back(static_cast<std::int32_t>(k)), data_.sparse_values.push_back(v);
    }
    if (sparse_) data_.sparse_offsets.push_back(static_cast<std::int64_t>(data_.sparse_values.size()));
    data_.bad_offsets.push_back(static_cast<std::int64_t>(data_.bad_pixels.size()));
  }

  void finish() {
    if (data_.bad_pixels.empty()) data_.bad_offsets.clear();
  }

 private:
  static bool counts(const float* row, std::int64_t K) {
    for (std::int64_t k = 0; k < K; ++k)
      if (std::isfinite(row[k]) && (row[k] < 0 || row[k] != std::round(row[k]))) return false;
    return true;
  }

  // The rows added so far as dense rows, and dense from now on.
  void make_dense() {
    const auto done = static_cast<std::int64_t>(data_.sparse_offsets.size()) - 1;
    data_.images.reserve(static_cast<std::size_t>(data_.n_images * data_.n_pixels));
    data_.images.assign(static_cast<std::size_t>(done * data_.n_pixels), 0.0f);
    for (std::int64_t i = 0; i < done; ++i)
      for (auto k = data_.sparse_offsets[i]; k < data_.sparse_offsets[i + 1]; ++k)
        data_.images[static_cast<std::size_t>(i * data_.n_pixels + data_.sparse_pixels[k])] = data_.sparse_values[k];
    data_.sparse_offsets = {}, data_.sparse_pixels = {}, data_.sparse_values = {};
    sparse_ = false;
  }

  Data& data_;
  bool sparse_;
};

// Whether a block of rows (count x P, kept pixels `kept`) looks like sparse photon counts.
bool sparse_counts(const std::vector<float>& block, std::int64_t count, std::int64_t P,
                   const std::vector<std::int64_t>& kept) {
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < count; ++i)
    for (const std::int64_t p : kept) {
      const float v = block[static_cast<std::size_t>(i * P + p)];
      if (!std::isfinite(v)) continue;
      if (v < 0 || v != std::round(v)) return false;
      nonzero += v != 0;
    }
  return static_cast<double>(nonzero) < kSparseFraction * static_cast<double>(count * static_cast<std::int64_t>(kept.size()));
}

// Images [first, first + count) of the file into data, kept pixels only, in blocks of
// block_values values; sparse when the first block is sparse photon counts.
void read_kept(const io::ImageFile& file, std::int64_t first, const std::vector<std::int64_t>& kept, Data& data,
               std::int64_t block_values) {
  const auto P = static_cast<std::int64_t>(file.info().pixels()), K = data.n_pixels;
  const std::int64_t block = std::max<std::int64_t>(1, block_values / P);
  std::vector<float> buffer, row(static_cast<std::size_t>(K));
  std::optional<RowSink> sink;
  for (std::int64_t i0 = 0; i0 < data.n_images; i0 += block) {
    const std::int64_t count = std::min(block, data.n_images - i0);
    buffer.resize(static_cast<std::size_t>(count * P));
    file.read_images(static_cast<std::size_t>(first + i0), static_cast<std::size_t>(count), buffer.data());
    if (!sink) sink.emplace(data, sparse_counts(buffer, count, P, kept));
    for (std::int64_t i = 0; i < count; ++i) {
      for (std::int64_t k = 0; k < K; ++k) row[static_cast<std::size_t>(k)] = buffer[static_cast<std::size_t>(i * P + kept[static_cast<std::size_t>(k)])];
      sink->add(row.data());
    }
  }
  sink->finish();
}

}  // namespace

DataShape data_shape(const std::string& path, const Settings::Data& data, const distributed::Team& team) {
  const auto file = io::open_images(path, open_options(data));
  const auto& info = file->info();
  DataShape shape{images_used(path, static_cast<std::int64_t>(info.n_images), data, team), 0, 0};
  const auto kept = kept_pixels(path, info, data);
  shape.pixels = static_cast<std::int64_t>(kept.size());
  // The first images, as load_data judges them: sparse counts, and their nonzero values.
  const auto P = static_cast<std::int64_t>(info.pixels());
  const std::int64_t count = std::min<std::int64_t>(100, shape.images);
  std::vector<float> block(static_cast<std::size_t>(count * P));
  file->read_images(static_cast<std::size_t>(data.first), static_cast<std::size_t>(count), block.data());
  if (!sparse_counts(block, count, P, kept)) return shape;
  double nonzero = 0;
  for (std::int64_t i = 0; i < count; ++i)
    for (const std::int64_t p : kept) nonzero += block[static_cast<std::size_t>(i * P + p)] != 0;
  shape.sparse_values = std::max(1.0, nonzero / static_cast<double>(count));
  return shape;
}

Data load_data(const std::string& path, const Settings::Data& range, const distributed::Team& team,
               std::int64_t block_values) {
  const auto file = io::open_images(path, open_options(range));
  const auto& info = file->info();
  const std::int64_t used = images_used(path, static_cast<std::int64_t>(info.n_images), range, team);
  const auto kept = kept_pixels(path, info, range);
  const auto mine = team.images(used);
  Data data;
  data.n_images = mine.count;
  data.n_pixels = static_cast<std::int64_t>(kept.size());
  data.detector_pixels = static_cast<std::int64_t>(info.pixels());
  const std::int64_t first = range.first + mine.first;  // this rank's first image in the file
  read_kept(*file, first, kept, data, block_values);
  const auto& s = info.pixel_position_reciprocal;
  for (const std::int64_t p : kept) data.pixels.push_back({s[3 * p], s[3 * p + 1], s[3 * p + 2]});
  if (file->has_orientations()) {
    const auto q = file->read_orientations();
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

double photons_needed(double images) {
  // Measured (docs/sparse.md): the fewest photons per image whose random start converged for
  // these image counts (of 3,200, 1,600, 800, 400 and 200), so that every larger count
  // converged too (at 200 photons soft assignment converged with 10,000 images but not with
  // 20,000: 400 stands there). Fewer than 2,000 images: not measured, 2,000's value.
  constexpr std::array<std::array<double, 2>, 5> kFrontier{{{2000, 800}, {5000, 400}, {10000, 400},
                                                            {20000, 400}, {50000, 200}}};
  if (!(images > kFrontier.front()[0])) return kFrontier.front()[1];
  for (std::size_t k = 1; k < kFrontier.size(); ++k)
    if (images == kFrontier[k][0]) {
      return kFrontier[k][1];
    } else if (images < kFrontier[k][0]) {
      const double t = std::log(images / kFrontier[k - 1][0]) / std::log(kFrontier[k][0] / kFrontier[k - 1][0]);
      return std::exp((1 - t) * std::log(kFrontier[k - 1][1]) + t * std::log(kFrontier[k][1]));
    }
  return kFrontier.back()[1];
}

std::string sparse_warning(bool counts, double photons_per_image, std::int64_t images, const Settings& st) {
  const double set = st.orientations.min_photons;
  const double needed = set > 0 ? set : photons_needed(static_cast<double>(images));
  if (!counts || photons_per_image >= needed || st.orientations.oracle) return {};
  const std::string rule =
      set > 0 ? fmt::format("orientations.min_photons = {:g}", set)
              : fmt::format("the {:.0f} that random starts were measured to need with {} images", needed, images);
  return fmt::format("WARNING: {:.1f} photons per image on average, below {}: too few to orient the images (README, "
                     "\"Signal and convergence\"); expect a featureless map, not the molecule. More fluence (smaller "
                     "spot), more photons per image or more images are needed.",
                     photons_per_image, rule);
}

}  // namespace spire::reconstruct
