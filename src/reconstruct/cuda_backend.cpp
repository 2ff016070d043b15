// The CUDA back end (backend.hpp): one rank; slicing, matching, merging and phasing on the
// GPU through cuda::GenerationRunner. Local refinement and subset merges (half maps) run on
// the CPU. Built only with the CUDA back end (backend.cpp has the clear error otherwise).
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "cuda/generation.hpp"
#include "reconstruct/backend.hpp"

namespace spire::reconstruct {
namespace {

// Sparse images made dense for the GPU (memory as dense data); empty for dense images.
std::vector<float> dense_images(const Data& data) {
  if (data.sparse_offsets.empty()) return {};
  std::vector<float> out(static_cast<std::size_t>(data.n_images * data.n_pixels));
  for (std::int64_t i = 0; i < data.n_images; ++i) image_set(data).row(i, out.data() + i * data.n_pixels);
  return out;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Data& data, const Settings& settings)
      : data_(data),
        settings_(settings),
        references_(geometry::reference_orientations(static_cast<std::size_t>(settings.orientations.references))),
        options_(stage_options(settings, data, references_.size())),
        dense_(dense_images(data)),
        gpu_(data.n_images, dense_.empty() ? std::span<const float>(data.images) : std::span<const float>(dense_),
             data.pixels, data.extent, settings.grid.n, references_,
             !settings.orientations.oracle, options_.slicing, options_.matching, settings.orientations.gemm,
             options_.merging) {}

  const std::vector<geometry::Quaternion>& references() const override { return references_; }

  Matches slice_and_match(std::span<const double> model) override {
    if (settings_.orientations.oracle) fail("reconstruct: no reference slices in an oracle run");
    const auto times = gpu_.slice_and_match(model, indices_, scores_);
    return {indices_, scores_, {}, times.slicing_s, times.matching_s};
  }

  void refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
              std::span<geometry::Quaternion> orientations, std::span<double> scores) override {
    model_.assign(model.begin(), model.end());
    auto refine = options_.refine;
    refine.progress = &progress();
    const auto stats = matching::refine_orientations<float>(model_, settings_.grid.n, data_.pixels, data_.extent,
                                                            image_set(data_), starts, per_image, options_.matching,
                                                            refine, orientations, scores);
    if (const auto line = photon_scores_note(stats, static_cast<std::int64_t>(data_.pixels.size())); !line.empty())
      progress().note(line);
  }

  // Subsets and per-image scales are merged on the CPU (the GPU's merger takes neither yet).
  merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                          const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) override {
    if (!keep && scales.empty()) return gpu_.merge(orientations, x0);
    if (!subsets_) subsets_ = make_cpu_backend(data_, settings_with_cpu(), team_);
    subsets_->report_to(progress());
    return subsets_->merge(orientations, x0, keep, scales);
  }

  // The GPU phases the n^3 grid; smaller boxes (phasing.box) phase on the CPU, where they
  // take a fraction of a second.
  Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) override {
    const auto n = static_cast<std::size_t>(settings_.grid.n);
    if (autocorrelation.size() != n * n * n) return cpu_phasers_.phase(autocorrelation, schedule);
    auto result = gpu_.phase(autocorrelation, schedule);
    return {std::move(result.density), result.fourier_error.empty() ? 0 : result.fourier_error.back()};
  }

  std::vector<double> autocorrelation_of(std::span<const double> density) override {
    return gpu_.autocorrelation_of(density);
  }

  void sum(std::span<double>) const override {}  // one rank
  std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> mine) const override {
    return {mine.begin(), mine.end()};
  }
  std::vector<double> gather(std::span<const double> mine) const override { return {mine.begin(), mine.end()}; }
  bool lead() const override { return true; }

 private:
  Settings settings_with_cpu() const {
    Settings s = settings_;
    s.runtime.device = Device::cpu;
    s.orientations.gemm = matching::GemmPrecision::fp32;
    s.orientations.oracle = true;  // the CPU helper merges only: no reference slices
    return s;
  }

  const Data& data_;
  Settings settings_;
  distributed::Team team_;  // one rank
  std::vector<geometry::Quaternion> references_;
  StageOptions options_;
  std::vector<float> dense_;  // the images, dense (the GPU's matching takes dense rows only)
  cuda::GenerationRunner gpu_;
  std::vector<std::int64_t> indices_;
  std::vector<float> scores_;
  std::vector<float> model_;
  std::unique_ptr<Backend> subsets_;  // the CPU, for merges of a subset of the images
  CpuPhasers cpu_phasers_{settings_.phasing.precision, static_cast<int>(settings_.runtime.threads),
                          settings_.runtime.fft_planning};
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Data& data, const Settings& settings) {
  return std::make_unique<CudaBackend>(data, settings);
}

}  // namespace spire::reconstruct
