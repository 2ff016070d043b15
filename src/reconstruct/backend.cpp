#include "reconstruct/backend.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "core/error.hpp"
#include "phasing/box.hpp"
#include "reconstruct/box_backend.hpp"
#include "cuda/device.hpp"

namespace spire::reconstruct {
namespace {

merging::Options merging_options(const Settings& st, int threads, double tolerance) {
  merging::Options ms;
  ms.n = static_cast<int>(st.grid.n);
  ms.rho = st.merging.regularisation;
  ms.support_radius = static_cast<double>(st.grid.n / 2);  // the autocorrelation fills at most the ball
  ms.max_iterations = static_cast<int>(st.merging.cg_iterations);
  ms.tolerance = st.merging.cg_tolerance;
  ms.cg_precision = st.merging.precision;
  ms.preconditioner = st.merging.preconditioner;
  ms.nufft_tolerance = std::max(tolerance, 1e-7);  // float points
  ms.nufft.threads = threads;
  ms.nufft.planning = st.runtime.fft_planning;
  return ms;
}

}  // namespace

phasing::Schedule phasing_schedule(const Settings& st) {
  phasing::Schedule schedule;
  schedule.loops = static_cast<int>(st.phasing.loops);
  schedule.hio_iterations = static_cast<int>(st.phasing.hio_iterations);
  schedule.er_iterations = static_cast<int>(st.phasing.er_iterations);
  schedule.beta = st.phasing.beta;
  schedule.shrinkwrap_fraction = st.phasing.shrinkwrap_fraction;
  schedule.seed = st.runtime.seed;
  return schedule;
}

matching::Metric metric_for(const Settings& settings, bool counts) {
  switch (settings.orientations.metric) {
    case MetricChoice::euclidean: return matching::Metric::euclidean;
    case MetricChoice::poisson: return matching::Metric::poisson;
    case MetricChoice::automatic: break;
  }
  return counts ? matching::Metric::poisson : matching::Metric::euclidean;
}

Assignment assignment_for(const Settings& settings, bool counts) {
  if (settings.orientations.assignment != Assignment::automatic) return settings.orientations.assignment;
  const bool poisson = metric_for(settings, counts) == matching::Metric::poisson;
  return poisson && settings.runtime.device == Device::cpu ? Assignment::soft : Assignment::hard;
}

std::int64_t search_references(const Settings& settings, bool counts) {
  const std::int64_t all = settings.orientations.references;
  if (settings.distribution.strategy == distributed::Strategy::hybrid) return all;
  if (settings.orientations.search_references > 0) return std::min(all, settings.orientations.search_references);
  return counts ? std::max(std::min<std::int64_t>(all, 1000), all / 4) : all;
}

Tolerances tolerances(const Settings& settings, bool counts) {
  auto chosen = [](double set, double auto_value) { return set > 0 ? set : auto_value; };
  Tolerances t;
  t.slicing = chosen(settings.slicing.tolerance, counts ? 1e-3 : 1e-5);
  t.local = chosen(settings.orientations.local_tolerance, counts ? 1e-2 : t.slicing);
  t.merging = chosen(settings.merging.tolerance, counts ? 1e-4 : 1e-6);
  return t;
}

StageOptions stage_options(const Settings& st, const Data& data, std::size_t n_references) {
  StageOptions o;
  const Tolerances tol = tolerances(st, data.counts);
  o.threads = static_cast<int>(st.runtime.threads);
  o.planning = st.runtime.fft_planning;
  o.slicing.batch_size = st.orientations.batch_size;
  o.slicing.tolerance = tol.slicing;
  o.slicing.threads = o.threads;
  o.slicing.keep_points = st.slicing.keep_points;
  o.slicing.planning = o.planning;  // runtime.fft_planning for every FFT of the run
  o.matching.metric = metric_for(st, data.counts);
  o.matching.scale = st.orientations.scale;
  o.matching.threads = o.threads;
  o.matching.bad_pixels = bad_pixels_of(data);
  o.matching.top_k = assignment_for(st, data.counts) == Assignment::soft ? st.orientations.candidates : 1;
  o.refine.steps = static_cast<int>(st.orientations.local_steps);
  o.refine.method = st.orientations.local_method;
  // Sparse-held counts only: their rows are read in place (dense ones would be copied, and
  // hold too many photon pixels for the scores to pay).
  o.refine.photon_scores = st.orientations.photon_scores && !data.sparse_offsets.empty();
  o.refine.first_step = 0.6 * geometry::covering_radius_lower_bound(n_references);
  o.refine.batch_size = st.orientations.batch_size;
  o.refine.tolerance = tol.local;
  o.refine.threads = o.threads;
  o.refine.planning = o.planning;
  o.merging = merging_options(st, o.threads, tol.merging);
  o.phasing = phasing_schedule(st);
  o.search.strategy = st.distribution.strategy;
  o.search.split_size = st.distribution.split_size;
  o.search.n_streams = static_cast<int>(st.distribution.n_streams);
  o.search.slicing = o.slicing;
  o.search.matching = o.matching;
  return o;
}

void check_backend(const Settings& st, int ranks) {
  if (st.runtime.device == Device::cpu && st.orientations.gemm != matching::GemmPrecision::fp32)
    fail(fmt::format("orientations.gemm = {} runs on the GPU's tensor cores only: it needs runtime.device = cuda (the "
                     "CPU's GEMM is fp32)",
                     name_of(matching::kGemmPrecisionNames, st.orientations.gemm)));
  if (st.runtime.device == Device::cuda && st.orientations.assignment == Assignment::soft)
    fail("orientations.assignment = soft is built for the CPU back end; use runtime.device = cpu (or assignment = hard)");
  if (st.runtime.device == Device::cuda && ranks > 1)
    fail("runtime.device = cuda runs on one rank; under mpirun use runtime.device = cpu (or run without mpirun)");
  if (st.runtime.device != Device::cuda) return;
  try {
    cuda::require_device();
  } catch (const Error& e) {
    fail(fmt::format("runtime.device = cuda: {}; use runtime.device = cpu", e.what()));
  }
}

std::unique_ptr<Backend> make_backend(const Data& data, const Settings& settings, const distributed::Team& team) {
  check_backend(settings, team.size());
  if (data.total < 1) fail("reconstruct: the data were not described (reconstruct::describe)");
  const double negative = team.sum(static_cast<double>(data.negative_values));
  if (metric_for(settings, data.counts) == matching::Metric::poisson && negative > 0)
    fail(fmt::format("orientations.metric = poisson needs photon counts, but the images hold {:.0f} negative values: "
                     "use orientations.metric = euclidean (or auto)",
                     negative));
  const double bad = team.sum(static_cast<double>(data.bad_pixels.size()));
  if (settings.runtime.device == Device::cuda && bad > 0)
    fail(fmt::format("runtime.device = cuda: the images have {:.0f} bad pixels (NaN or Inf), which the GPU back end "
                     "cannot leave out yet; use runtime.device = cpu",
                     bad));
  if (settings.runtime.device == Device::cuda && !data.pixel_weights.empty())
    fail("runtime.device = cuda: photon counts on the detector's cells (orientations.cells) are not built for the GPU "
         "back end's slicing and merging; use orientations.cells = off or auto");
  return std::make_unique<BoxBackend>(
      [&data, &team](const Settings& st) {
        return st.runtime.device == Device::cuda ? make_cuda_backend(data, st) : make_cpu_backend(data, st, team);
      },
      settings);
}

HalvesMerge Backend::merge_with_halves(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                       const std::function<int(std::int64_t)>& half, std::span<const double> scales) {
  HalvesMerge out;
  out.full = merge(orientations, x0, {}, scales);
  for (int h = 0; h < 2; ++h)
    out.halves[static_cast<std::size_t>(h)] =
        merge(orientations, {}, [&](std::int64_t i) { return half(i) == h; }, scales);
  return out;
}

merging::Solution Backend::merge_candidates(const Candidates&, std::span<const double>, std::span<const double>) {
  fail("orientations.assignment = soft: this back end merges hard assignments only; use runtime.device = cpu");
}

#ifndef SPIRE_HAVE_CUDA
std::unique_ptr<Backend> make_cuda_backend(const Data&, const Settings& settings) {
  check_backend(settings, 1);  // the build's reason: no CUDA back end
  fail("runtime.device = cuda: this spire was built without the CUDA back end");
}
#endif

std::string photon_scores_note(const matching::RefineStats& stats, std::int64_t pixels) {
  if (stats.cells == 0) return {};
  if (stats.cell_voxels == 0)
    return fmt::format("  local refinement: every pixel scored (detector cells of 1 voxel move the score changes by {:.1f}%, "
                       "above the 3% bound)", 100 * stats.cell_error);
  return fmt::format("  local refinement: photon scores, {} detector cells of {:g} voxels ({:.1f}% of the score changes), "
                     "{:.0f} slice values per candidate instead of {}",
                     stats.cells, stats.cell_voxels, 100 * stats.cell_error, stats.positions_per_candidate, pixels);
}

namespace {

int cube_side(std::size_t values) {
  const auto m = static_cast<int>(std::lround(std::cbrt(static_cast<double>(values))));
  if (m < 1 || m % 2 == 0 || static_cast<std::size_t>(m) * static_cast<std::size_t>(m) * static_cast<std::size_t>(m) != values)
    fail("phasing: " + std::to_string(values) + " values are not an odd cube");
  return m;
}

template <typename T>
Phased run_phaser(phasing::Phaser<T>& phaser, std::span<const double> autocorrelation,
                  const phasing::Schedule& schedule) {
  const std::vector<T> a(autocorrelation.begin(), autocorrelation.end());
  phaser.set_autocorrelation(a);
  auto result = phaser.run(schedule);
  return {std::vector<double>(result.density.begin(), result.density.end()),
          result.fourier_error.empty() ? 0 : result.fourier_error.back()};
}

template <typename T>
std::vector<double> autocorrelation_with(phasing::Phaser<T>& phaser, std::span<const double> density) {
  const std::vector<T> d(density.begin(), density.end());
  const auto a = phaser.autocorrelation_of(d);
  return std::vector<double>(a.begin(), a.end());
}

}  // namespace

template <typename T>
phasing::Phaser<T>& CpuPhasers::phaser(std::vector<std::unique_ptr<phasing::Phaser<T>>>& made, int m) {
  for (auto& p : made)
    if (p->n() == m) return *p;
  made.push_back(std::make_unique<phasing::Phaser<T>>(m, threads_, planning_));
  // The data reach |s| = extent, the grid's frequency n/2 along an axis, the box's m/2:
  // beyond that sphere merging only extrapolates, so phasing leaves it free.
  made.back()->set_measured_radius(static_cast<double>(m) / 2);
  return *made.back();
}

Phased CpuPhasers::phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) {
  const int m = cube_side(autocorrelation.size());
  return precision_ == PhasingPrecision::float32 ? run_phaser(phaser(float_, m), autocorrelation, schedule)
                                                 : run_phaser(phaser(double_, m), autocorrelation, schedule);
}

std::vector<double> CpuPhasers::autocorrelation_of(std::span<const double> density) {
  const int n = cube_side(density.size());
  return precision_ == PhasingPrecision::float32 ? autocorrelation_with(phaser(float_, n), density)
                                                 : autocorrelation_with(phaser(double_, n), density);
}

int phasing_box_for(const Settings& settings, std::span<const double> autocorrelation) {
  const int n = static_cast<int>(settings.grid.n);
  if (settings.phasing.box > 0) return static_cast<int>(std::min<std::int64_t>(settings.phasing.box, n));
  return phasing::phasing_box(phasing::support_radius(autocorrelation, n), n);
}

Phased phase_in_box(Backend& backend, const Settings& settings, std::span<const double> autocorrelation,
                    const phasing::Schedule& schedule) {
  const int n = static_cast<int>(settings.grid.n), m = phasing_box_for(settings, autocorrelation);
  if (m == n) return backend.phase(autocorrelation, schedule);
  Phased phased = backend.phase(phasing::crop_centred(autocorrelation, n, m), schedule);
  phased.density = phasing::pad_centred<double>(phased.density, m, n);
  return phased;
}

}  // namespace spire::reconstruct
