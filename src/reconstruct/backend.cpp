#include "reconstruct/backend.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "core/error.hpp"
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
  switch (settings.runtime.device) {
    case Device::cuda: return make_cuda_backend(data, settings);
    case Device::cpu: break;
  }
  return make_cpu_backend(data, settings, team);
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

}  // namespace spire::reconstruct
