#include "matching/photon_scores.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "core/error.hpp"
#include "matching/refine.hpp"

namespace spire::matching {

namespace {

// start + the sum of W at least floor over a slice's values (each times its weight, if any),
// added in order.
template <typename T>
double floored_sum(const T* w, std::int64_t count, T floor, const double* weights = nullptr, double start = 0) {
  double sum = start;
  for (std::int64_t j = 0; j < count; ++j) sum += (weights ? weights[j] : 1.0) * static_cast<double>(std::max(w[j], floor));
  return sum;
}

}  // namespace

DetectorCells detector_cells(std::span<const std::array<double, 3>> pixels, double cell) {
  if (!(cell > 0)) fail("detector_cells: the cell size must be positive");
  using Key = std::array<std::int64_t, 3>;
  const auto key_of = [cell](const std::array<double, 3>& s) {
    return Key{static_cast<std::int64_t>(std::floor(s[0] / cell)), static_cast<std::int64_t>(std::floor(s[1] / cell)),
               static_cast<std::int64_t>(std::floor(s[2] / cell))};
  };
  std::map<Key, std::array<double, 5>> cubes;  // sum of s, count, then the cube's index
  for (const auto& s : pixels) {
    auto& c = cubes[key_of(s)];
    for (int d = 0; d < 3; ++d) c[d] += s[d];
    c[3] += 1;
  }
  DetectorCells out;
  for (auto& [key, c] : cubes) {
    c[4] = static_cast<double>(out.weights.size());
    out.centroids.push_back({c[0] / c[3], c[1] / c[3], c[2] / c[3]});
    out.weights.push_back(c[3]);
  }
  out.cell_of.reserve(pixels.size());
  for (const auto& s : pixels) out.cell_of.push_back(static_cast<std::int32_t>(cubes.at(key_of(s))[4]));
  return out;
}

template <typename T>
PhotonScores<T>::PhotonScores(const ImageSet<T>& images, std::span<const std::array<double, 3>> pixels, double s_ext,
                              std::int64_t n, const Options& matching, double cell_voxels)
    : matching_(matching), n_images_(images.n_images), n_pixels_(images.n_pixels) {
  if (matching.metric != Metric::poisson) fail("photon scores: the metric must be poisson");
  if (static_cast<std::int64_t>(pixels.size()) != n_pixels_) fail("photon scores: the pixels do not match the images");
  if (!(cell_voxels > 0) || !(s_ext > 0) || n < 1) fail("photon scores: cell_voxels, s_ext and n must be positive");
  table_.assign(pixels.begin(), pixels.end());
  auto cells = detector_cells(pixels, cell_voxels * 2 * s_ext / static_cast<double>(n));
  cell_weight_ = std::move(cells.weights);
  table_.insert(table_.end(), cells.centroids.begin(), cells.centroids.end());
  if (images.sparse()) {
    offsets_ = images.offsets, photon_pixels_ = images.pixels, counts_ = images.values;
  } else {
    own_offsets_.push_back(0);
    for (std::int64_t i = 0; i < n_images_; ++i) {
      for (std::int64_t p = 0; p < n_pixels_; ++p) {
        const T k = images.dense[static_cast<std::size_t>(i * n_pixels_ + p)];
        if (k != T(0)) own_pixels_.push_back(static_cast<std::int32_t>(p)), own_counts_.push_back(k);
      }
      own_offsets_.push_back(static_cast<std::int64_t>(own_pixels_.size()));
    }
    offsets_ = own_offsets_, photon_pixels_ = own_pixels_, counts_ = own_counts_;
  }
  total_counts_.resize(static_cast<std::size_t>(n_images_));
  for (std::int64_t i = 0; i < n_images_; ++i)
    for (auto j = offsets_[i]; j < offsets_[i + 1]; ++j) total_counts_[i] += static_cast<double>(counts_[j]);
}

template <typename T>
double PhotonScores<T>::mean_positions() const {
  if (n_images_ == 0) return 0;
  const auto bad = matching_.bad_pixels.any() ? matching_.bad_pixels.offsets.back() : 0;
  return static_cast<double>(offsets_[n_images_] - offsets_[0] + bad) / static_cast<double>(n_images_) +
         static_cast<double>(n_cells());
}

// Image i's positions: its photon pixels, its bad pixels, every cell.
template <typename T>
void PhotonScores<T>::append(std::int64_t image, std::vector<std::int32_t>& indices) const {
  for (auto j = offsets_[image]; j < offsets_[image + 1]; ++j) indices.push_back(photon_pixels_[j]);
  for (const auto p : matching_.bad_pixels.of(image)) indices.push_back(p);
  for (std::int64_t c = 0; c < n_cells(); ++c) indices.push_back(static_cast<std::int32_t>(n_pixels_ + c));
}

template <typename T>
double PhotonScores<T>::score_one_candidate(std::int64_t image, const T* values) const {
  const T floor = static_cast<T>(matching_.poisson_floor);
  const std::int64_t photons = photons_of(image);
  double L = 0, S = 0;
  for (std::int64_t j = 0; j < photons; ++j)
    L += static_cast<double>(counts_[offsets_[image] + j]) * std::log(static_cast<double>(std::max(values[j], floor)));
  const auto bad = static_cast<std::int64_t>(matching_.bad_pixels.of(image).size());
  for (std::int64_t j = photons; j < photons + bad; ++j) S -= static_cast<double>(std::max(values[j], floor));
  S = floored_sum(values + photons + bad, n_cells(), floor, cell_weight_.data(), S);
  if (matching_.scale == Scale::none) return S - L;
  const double K = total_counts_[static_cast<std::size_t>(image)];
  return (K > 0 ? K * (1 - std::log(K)) : 0.0) + K * std::log(S) - L;
}

template <typename T>
void PhotonScores<T>::score(slicing::Slicer<T>& slicer, std::span<const geometry::Quaternion> candidates,
                            std::int64_t per_image, std::int64_t points_per_execution, int threads, double* scores,
                            Progress& progress) const {
  const auto count = static_cast<std::int64_t>(candidates.size());
  if (per_image < 1 || count != n_images_ * per_image)
    fail("photon scores: " + std::to_string(count) + " candidates for " + std::to_string(n_images_) + " images");
  std::vector<std::int64_t> offsets;
  std::vector<std::int32_t> indices;
  std::vector<T> values;
  for (std::int64_t first = 0; first < count;) {
    offsets.assign(1, 0);
    indices.clear();
    std::int64_t end = first;
    while (end < count && (end == first || static_cast<std::int64_t>(indices.size()) < points_per_execution)) {
      append(end / per_image, indices);
      offsets.push_back(static_cast<std::int64_t>(indices.size()));
      ++end;
    }
    values.resize(indices.size());
    slicer.slice_subsets(candidates.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(end - first)),
                         offsets, indices, table_, values.data());
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t k = first; k < end; ++k)
      scores[k] = score_one_candidate(k / per_image, values.data() + offsets[static_cast<std::size_t>(k - first)]);
    progress.add(end - first);
    first = end;
  }
}

template <typename T>
void PhotonScores<T>::cell_sums(slicing::Slicer<T>& slicer, std::span<const geometry::Quaternion> orientations,
                                double* sums) const {
  const auto K = static_cast<std::int64_t>(orientations.size());
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> indices;
  for (std::int64_t k = 0; k < K; ++k) {
    for (std::int64_t c = 0; c < n_cells(); ++c) indices.push_back(static_cast<std::int32_t>(n_pixels_ + c));
    offsets.push_back(static_cast<std::int64_t>(indices.size()));
  }
  std::vector<T> values(indices.size());
  slicer.slice_subsets(orientations, offsets, indices, table_, values.data());
  const T floor = static_cast<T>(matching_.poisson_floor);
  for (std::int64_t k = 0; k < K; ++k)
    sums[k] = floored_sum(values.data() + k * n_cells(), n_cells(), floor, cell_weight_.data());
}

namespace {

// The candidates of choose_cells: per sampled image its centre and 6 axis neighbours.
std::vector<geometry::Quaternion> axis_stencils(std::span<const geometry::Quaternion> centres,
                                                const std::vector<std::int64_t>& sampled, double h) {
  std::vector<geometry::Quaternion> out;
  for (const auto i : sampled) {
    const auto& c = centres[static_cast<std::size_t>(i)];
    out.push_back(c);
    for (int a = 0; a < 3; ++a)
      for (const double sign : {1.0, -1.0}) {
        std::array<double, 3> v{0, 0, 0};
        v[a] = sign * h;
        out.push_back(turned(c, v));
      }
  }
  return out;
}

}  // namespace

template <typename T>
CellChoice choose_cells(slicing::Slicer<T>& slicer, const ImageSet<T>& images,
                        std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                        const Options& matching, std::span<const geometry::Quaternion> centres, double h,
                        double bound, std::int64_t sample) {
  const std::int64_t N = images.n_images, P = images.n_pixels, m = std::min(sample, N);
  CellChoice choice;
  if (m < 1) return choice;
  std::vector<std::int64_t> sampled;
  for (std::int64_t j = 0; j < m; ++j) sampled.push_back(j * N / m);
  const auto candidates = axis_stencils(centres, sampled, h);
  const auto K = static_cast<std::int64_t>(candidates.size());
  // Every pixel of every candidate: the exact scores and sums.
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(K + 1));
  for (std::int64_t k = 0; k <= K; ++k) offsets[static_cast<std::size_t>(k)] = k * P;
  std::vector<std::int32_t> all(static_cast<std::size_t>(K * P));
  for (std::size_t j = 0; j < all.size(); ++j) all[j] = static_cast<std::int32_t>(j % static_cast<std::size_t>(P));
  std::vector<T> slices(all.size()), row(static_cast<std::size_t>(P));
  slicer.slice_subsets(candidates, offsets, all, pixels, slices.data());
  const T floor = static_cast<T>(matching.poisson_floor);
  std::vector<double> exact(static_cast<std::size_t>(K)), pixel_sum(exact.size()), bad_sum(exact.size()),
      photons(exact.size());
  for (std::int64_t k = 0; k < K; ++k) {
    const std::int64_t i = sampled[static_cast<std::size_t>(k / 7)];
    images.row(i, row.data());
    const T* w = slices.data() + k * P;
    const auto bad = matching.bad_pixels.of(i);
    exact[k] = score_one(row.data(), w, P, matching, bad);
    for (const auto p : bad) bad_sum[k] += static_cast<double>(std::max(w[p], floor));
    pixel_sum[k] = floored_sum(w, P, floor) - bad_sum[k];
    for (const T v : row) photons[k] += static_cast<double>(v);
  }
  // A candidate's score with the sum S replaced (photon_scores.hpp's two forms).
  auto with_sum = [&](std::int64_t k, double S) {
    return matching.scale == Scale::none ? exact[k] - pixel_sum[k] + S
                                         : exact[k] + photons[k] * (std::log(S) - std::log(pixel_sum[k]));
  };
  for (const double voxels : {1.0, 1.5, 2.0, 3.0, 4.0, 6.0}) {
    const auto cells = detector_cells(pixels, voxels * 2 * s_ext / static_cast<double>(n));
    const auto C = static_cast<std::int64_t>(cells.weights.size());
    std::vector<std::int64_t> cell_offsets(static_cast<std::size_t>(K + 1));
    for (std::int64_t k = 0; k <= K; ++k) cell_offsets[static_cast<std::size_t>(k)] = k * C;
    std::vector<std::int32_t> indices(static_cast<std::size_t>(K * C));
    for (std::size_t j = 0; j < indices.size(); ++j) indices[j] = static_cast<std::int32_t>(j % static_cast<std::size_t>(C));
    std::vector<T> values(indices.size());
    slicer.slice_subsets(candidates, cell_offsets, indices, cells.centroids, values.data());
    double err = 0, change = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      if (k % 7 == 0) continue;
      const std::int64_t c = k - k % 7;
      auto approx = [&](std::int64_t j) {
        return with_sum(j, floored_sum(values.data() + j * C, C, floor, cells.weights.data()) - bad_sum[j]);
      };
      const double d = exact[k] - exact[c], e = (approx(k) - approx(c)) - d;
      change += d * d;
      err += e * e;
    }
    const double ratio = change > 0 ? std::sqrt(err / change) : 0.0;
    if (!(ratio <= bound)) {
      if (choice.voxels == 0) choice.error = ratio, choice.cells = C;
      break;
    }
    choice = {voxels, ratio, C};
  }
  return choice;
}

template class PhotonScores<float>;
template class PhotonScores<double>;
template CellChoice choose_cells(slicing::Slicer<float>&, const ImageSet<float>&, std::span<const std::array<double, 3>>,
                                 double, std::int64_t, const Options&, std::span<const geometry::Quaternion>, double,
                                 double, std::int64_t);
template CellChoice choose_cells(slicing::Slicer<double>&, const ImageSet<double>&, std::span<const std::array<double, 3>>,
                                 double, std::int64_t, const Options&, std::span<const geometry::Quaternion>, double,
                                 double, std::int64_t);

}  // namespace spire::matching
