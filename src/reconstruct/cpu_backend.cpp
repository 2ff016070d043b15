// The CPU back end, on one process or on the ranks of a Team (backend.hpp).
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/error.hpp"
#include "matching/search.hpp"
#include "reconstruct/backend.hpp"
#include "slicing/slicing.hpp"

namespace spire::reconstruct {
namespace {

// Removes an image's bad pixels (ascending indices into its last P entries) from the ends
// of the point arrays: weight 0, exactly.
void drop_bad_pixels(std::int64_t P, std::span<const std::int32_t> bad, std::initializer_list<std::vector<float>*> arrays) {
  if (bad.empty()) return;
  for (std::vector<float>* a : arrays) {
    const std::size_t start = a->size() - static_cast<std::size_t>(P);
    std::size_t write = start, next = 0;
    for (std::int64_t p = 0; p < P; ++p) {
      if (next < bad.size() && bad[next] == p) {
        ++next;
        continue;
      }
      (*a)[write++] = (*a)[start + static_cast<std::size_t>(p)];
    }
    a->resize(write);
  }
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Data& data, const Settings& settings, const distributed::Team& team)
      : data_(data),
        team_(team),
        n_(settings.grid.n),
        references_(geometry::reference_orientations(static_cast<std::size_t>(settings.orientations.references))),
        options_(stage_options(settings, data, references_.size())),
        merger_(options_.merging),
        phaser_(static_cast<int>(n_), options_.threads, options_.planning) {
    // The data reach |s| = extent, the grid's frequency n/2 along an axis: beyond that
    // sphere merging only extrapolates, so phasing leaves it free.
    phaser_.set_measured_radius(static_cast<double>(n_) / 2);
    // Slicing and matching: on one rank a batch is sliced and matched at once; on several,
    // each rank slices its share into MPI windows and matches its images against all.
    if (!settings.orientations.oracle) make_search(settings);
  }

  const std::vector<geometry::Quaternion>& references() const override { return references_; }

  Matches slice_and_match(std::span<const double> model) override {
    model_.assign(model.begin(), model.end());
    if (local_) {
      local_->run(model_, progress());
      return {local_->indices(), local_->scores(), local_->reference_sums(), local_->slicing_s(), local_->matching_s()};
    }
    if (!ranks_) fail("reconstruct: no reference slices in an oracle run");
    ranks_->run(model_);
    combine_reference_sums(ranks_->reference_sums());
    return {ranks_->indices(), ranks_->scores(), reference_sums_, ranks_->stats().slicing_s,
            ranks_->stats().matching_s};
  }

  void refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
              std::span<geometry::Quaternion> orientations, std::span<double> scores) override {
    model_.assign(model.begin(), model.end());
    auto refine = options_.refine;
    refine.progress = &progress();
    matching::refine_orientations<float>(model_, n_, data_.pixels, data_.extent, image_set(data_), starts, per_image,
                                         options_.matching, refine, orientations, scores);
  }

  merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                          const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) override;

  Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) override {
    Phased phased;
    if (team_.lead()) {  // one rank phases, every rank gets its density
      phaser_.set_autocorrelation(autocorrelation);
      auto result = phaser_.run(schedule);
      phased.density = std::move(result.density);
      phased.fourier_error = result.fourier_error.empty() ? 0 : result.fourier_error.back();
    }
    phased.fourier_error = team_.broadcast_value(phased.fourier_error);
    phased.density.resize(n3());
    team_.broadcast(phased.density);
    return phased;
  }

  std::vector<double> autocorrelation_of(std::span<const double> density) override {
    std::vector<double> out;
    if (team_.lead()) out = phaser_.autocorrelation_of(density);
    out.resize(n3());
    team_.broadcast(out);
    return out;
  }

  void sum(std::span<double> values) const override { team_.sum(values); }
  std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> mine) const override {
    return team_.gather(mine);
  }
  std::vector<double> gather(std::span<const double> mine) const override { return team_.gather(mine); }
  bool lead() const override { return team_.lead(); }

 private:
  // One process slices a batch and matches it at once; several ranks share the slices
  // through MPI windows (distributed/search.hpp), whose plan's errors name quantities: here
  // they become the settings that set them.
  void make_search(const Settings& settings) {
    if (team_.size() == 1) {
      local_.emplace(references_, 0, data_.pixels, data_.extent, n_, image_set(data_), options_.slicing,
                     options_.matching);
      return;
    }
    try {
      ranks_.emplace(team_, references_, data_.pixels, data_.extent, n_, image_set(data_),
                     options_.search);
    } catch (const Error& e) {
      fail(fmt::format("settings distribution.strategy = {}, split_size = {}, n_streams = {} on {} ranks: {}",
                       name_of(distributed::kStrategyNames, settings.distribution.strategy),
                       settings.distribution.split_size, settings.distribution.n_streams, team_.size(), e.what()));
    }
  }

  std::size_t n3() const { return static_cast<std::size_t>(n_ * n_ * n_); }

  // Each reference's slice sum from the ranks that matched against it (their values agree).
  void combine_reference_sums(const std::vector<double>& mine) {
    const std::size_t M = references_.size();
    reference_sums_.assign(M, 0);
    std::vector<double> seen(M, 0);
    for (std::size_t j = 0; j < std::min(M, mine.size()); ++j)
      if (!std::isnan(mine[j])) reference_sums_[j] = mine[j], seen[j] = 1;
    team_.sum(reference_sums_);
    team_.sum(seen);
    for (std::size_t j = 0; j < M; ++j) reference_sums_[j] = seen[j] > 0 ? reference_sums_[j] / seen[j] : 0;
  }

  const Data& data_;
  const distributed::Team& team_;
  std::int64_t n_;
  std::vector<geometry::Quaternion> references_;
  StageOptions options_;
  merging::Merger<float> merger_;
  phasing::Phaser<double> phaser_;
  std::optional<matching::SliceSearch> local_;           // one process
  std::optional<distributed::OrientationSearch> ranks_;  // several ranks
  std::vector<float> model_;  // the slicing input in the slicer's precision
  std::vector<double> reference_sums_;  // several ranks: combined over them
};

// This rank's images i with keep(i), in chunks that bound the point buffers, summed over
// every rank's; one rank solves from x0, every rank gets the result.
merging::Solution CpuBackend::merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                    const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) {
  constexpr std::int64_t kChunk = 256;  // images per merging NUFFT
  const std::int64_t N = data_.n_images, P = data_.n_pixels;
  std::vector<float> x, y, z, images, weights;
  merger_.reset();
  progress().begin("merging (images)", N);
  for (std::int64_t first = 0; first < N; first += kChunk) {
    x.clear(), y.clear(), z.clear(), images.clear(), weights.clear();
    for (std::int64_t i = first; i < std::min(first + kChunk, N); ++i) {
      const double a = scales.empty() ? 1.0 : scales[static_cast<std::size_t>(i)];
      if ((keep && !keep(i)) || !(a > 0)) continue;
      slicing::rotated_points<float>(orientations[static_cast<std::size_t>(i)], data_.pixels, data_.extent, x, y, z);
      images.resize(images.size() + static_cast<std::size_t>(P));
      float* image = images.data() + images.size() - P;
      image_set(data_).row(i, image);
      if (!scales.empty()) {  // a_i I = b_i: values b / a, weights a (counts) or a^2 (fluence.hpp)
        for (std::int64_t p = 0; p < P; ++p) image[p] = static_cast<float>(image[p] / a);
        weights.resize(images.size(), static_cast<float>(data_.counts ? a : a * a));
      }
      drop_bad_pixels(P, bad_pixels_of(data_).of(i), {&x, &y, &z, &images});
      if (!scales.empty()) weights.resize(images.size());
    }
    if (!images.empty()) merger_.accumulate(x, y, z, images, weights);
    progress().add(std::min(kChunk, N - first));
  }
  progress().end();
  team_.sum(merger_.kernel());
  team_.sum(merger_.rhs());
  merging::Solution solution;
  if (team_.lead()) solution = merger_.solve(x0);
  solution.x.resize(n3());
  team_.broadcast(solution.x);
  solution.cg.iterations = team_.broadcast_value(solution.cg.iterations);
  return solution;
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Data& data, const Settings& settings, const distributed::Team& team) {
  return std::make_unique<CpuBackend>(data, settings, team);
}

}  // namespace spire::reconstruct
