#include "reconstruct/reconstruct.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <optional>

#include <omp.h>

#include "core/error.hpp"
#include "cuda/generation.hpp"
#include "cuda/layout.hpp"
#include "distributed/search.hpp"
#include "matching/matching.hpp"
#include "matching/refine.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "resolution/align.hpp"
#include "slicing/slicing.hpp"

namespace spire::reconstruct {
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

merging::Settings merging_settings(const Settings& st, int threads) {
  merging::Settings ms;
  ms.n = static_cast<int>(st.grid.n);
  ms.rho = st.merging.regularisation;
  ms.support_radius = static_cast<double>(st.grid.n / 2);  // the autocorrelation fills at most the ball
  ms.max_iterations = static_cast<int>(st.merging.cg_iterations);
  ms.tolerance = st.merging.cg_tolerance;
  ms.cg_precision = st.merging.precision == "float" ? merging::CgPrecision::float32 : merging::CgPrecision::float64;
  ms.nufft_tolerance = std::max(st.merging.tolerance, 1e-7);  // float points
  ms.nufft.threads = threads;
  ms.nufft.planning = parse_planning(st.runtime.fft_planning);
  return ms;
}

phasing::Schedule phasing_schedule(const Settings& st) {
  phasing::Schedule schedule;
  schedule.loops = static_cast<int>(st.phasing.loops);
  schedule.hio_iterations = static_cast<int>(st.phasing.hio_iterations);
  schedule.er_iterations = static_cast<int>(st.phasing.er_iterations);
  schedule.beta = st.phasing.beta;
  schedule.shrinkwrap_fraction = st.phasing.shrinkwrap_fraction;
  return schedule;
}

// The autocorrelation that explains this rank's images i with keep(i) at their orientations,
// summed over every rank's, solved on the lead from x0 and broadcast (n^3 on every rank).
merging::Solution merge_images(merging::Merger<float>& merger, const Data& data, double s_ext,
                               std::span<const geometry::Quaternion> orientations,
                               const std::function<bool(std::int64_t)>& keep, std::span<const double> x0,
                               const distributed::Team& team, std::size_t n3) {
  constexpr std::int64_t kChunk = 256;  // images per merging NUFFT: bounds the point buffers
  const std::int64_t N = data.n_images, P = data.n_pixels;
  std::vector<float> x, y, z, images;
  merger.reset();
  for (std::int64_t first = 0; first < N; first += kChunk) {
    x.clear();
    y.clear();
    z.clear();
    images.clear();
    for (std::int64_t i = first; i < std::min(first + kChunk, N); ++i) {
      if (!keep(i)) continue;
      slicing::rotated_points<float>(orientations[i], data.pixels, s_ext, x, y, z);
      images.insert(images.end(), data.images.begin() + i * P, data.images.begin() + (i + 1) * P);
    }
    if (!images.empty()) merger.accumulate(x, y, z, images);
  }
  // Every rank's images count: the sums over ranks; one rank solves, all get the result.
  team.sum(merger.kernel());
  team.sum(merger.rhs());
  merging::Solution solution;
  if (team.lead()) solution = merger.solve(x0);
  solution.x.resize(n3);
  team.broadcast(solution.x);
  solution.cg.iterations = team.broadcast_value(solution.cg.iterations);
  return solution;
}

}  // namespace

double local_tolerance(const Settings& settings, bool counts) {
  // auto (0): photon noise dwarfs a 1e-3 slice error and the local slices are 1.6x cheaper
  // there; noise-free images have no noise to hide it (t1: 2.0 deg at 1e-5, 2.8 at 1e-3).
  if (settings.orientations.local_tolerance > 0) return settings.orientations.local_tolerance;
  return counts ? 1e-3 : settings.slicing.tolerance;
}

std::int64_t slow_generations(std::span<const double> fits, double stop_fit) {
  std::int64_t slow = 0;
  for (std::size_t k = fits.size(); k > 1; --k) {
    if ((fits[k - 2] - fits[k - 1]) / std::abs(fits[k - 2]) >= stop_fit) break;
    ++slow;
  }
  return slow;
}

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

AveragedPhasing phase_averaged(const Settings& st, std::span<const double> autocorrelation, std::uint64_t seed) {
  const int n = static_cast<int>(st.grid.n), threads = static_cast<int>(st.runtime.threads);
  phasing::Phaser<double> phaser(n, threads, parse_planning(st.runtime.fft_planning));
  phaser.set_measured_radius(static_cast<double>(n) / 2);
  phaser.set_autocorrelation(autocorrelation);
  auto schedule = phasing_schedule(st);
  std::vector<std::pair<double, std::vector<double>>> runs;
  for (std::int64_t k = 0; k < st.phasing.final_average; ++k) {
    schedule.seed = seed + static_cast<std::uint64_t>(k);
    auto r = phaser.run(schedule);
    runs.emplace_back(r.fourier_error.empty() ? 0.0 : r.fourier_error.back(), std::move(r.density));
  }
  std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  AveragedPhasing out;
  out.density = runs[0].second;
  out.fourier_errors.push_back(runs[0].first);
  for (std::size_t k = 1; k < runs.size(); ++k) {
    const auto aligned = resolution::align<double>(n, runs[k].second, runs[0].second, true, threads);
    for (std::size_t i = 0; i < out.density.size(); ++i) out.density[i] += aligned.map[i];
    out.fourier_errors.push_back(runs[k].first);
  }
  for (auto& v : out.density) v /= static_cast<double>(runs.size());
  return out;
}

HalfMaps half_maps(const Data& data, const Settings& st, std::span<const geometry::Quaternion> orientations,
                   std::uint64_t seed, const distributed::Team& team) {
  const std::int64_t n = st.grid.n;
  const auto n3 = static_cast<std::size_t>(n * n * n);
  if (static_cast<std::int64_t>(orientations.size()) != data.n_images)
    fail("half_maps: one orientation per image is needed");
  double s_ext = 0;
  for (const auto& p : data.pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  const int threads = static_cast<int>(st.runtime.threads);
  merging::Merger<float> merger(merging_settings(st, threads));
  const std::int64_t first_image = team.offset(data.n_images).first;
  HalfMaps halves;
  for (int h = 0; h < 2; ++h) {
    const auto merged = merge_images(
        merger, data, s_ext, orientations, [&](std::int64_t i) { return (first_image + i) % 2 == h; }, {}, team, n3);
    auto& density = halves.density[static_cast<std::size_t>(h)];
    const auto half_seed = seed + static_cast<std::uint64_t>((h + 1) * st.phasing.final_average);
    if (team.lead()) density = phase_averaged(st, merged.x, half_seed).density;
    density.resize(n3);
    team.broadcast(density);
  }
  return halves;
}

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::start: return "start";
    case Stage::search: return "search";
    case Stage::refine: return "refine";
    case Stage::oracle: return "oracle";
    case Stage::local: return "local";
  }
  return "?";
}

State run(const Data& data, const Settings& st, const std::function<void(const Generation&, const State&)>& progress,
          const State* resume, const distributed::Team& team) {
  const std::int64_t N = data.n_images, P = data.n_pixels, n = st.grid.n;
  if (N < 1 || P < 1 || static_cast<std::int64_t>(data.images.size()) != N * P)
    fail("reconstruct: the images do not match their count and size");
  if (st.orientations.oracle && static_cast<std::int64_t>(data.truth.size()) != N)
    fail("reconstruct: orientations.oracle needs the true orientations in the data file");
  const auto n3 = static_cast<std::size_t>(n * n * n);
  // A checkpoint holds every image's orientation in one State; ranks hold only theirs.
  if (resume && resume->next_generation > 0 && team.size() > 1)
    fail("reconstruct: resuming from a checkpoint runs on one rank, not under mpirun with several");
  if (resume && resume->next_generation > 0 &&
      (resume->orientations.size() != static_cast<std::size_t>(N) || resume->autocorrelation.size() != n3 ||
       resume->slicing_input.size() != n3 || resume->generations.size() != static_cast<std::size_t>(resume->next_generation)))
    fail("reconstruct: the checkpoint does not match these data and settings (images, grid.n)");
  double s_ext = 0;
  for (const auto& p : data.pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  const int threads = static_cast<int>(st.runtime.threads);
  const auto [first_image, total_images] = team.offset(N);  // this rank's images among all
  cuda::check_device_settings(st);  // runtime.device = cuda without a GPU fails here, before any work
  const bool on_gpu = st.runtime.device == "cuda";
  // The GPU back end runs the whole loop in one process; several ranks share it no way yet.
  if (on_gpu && team.size() > 1)
    fail("reconstruct: runtime.device = cuda runs on one rank; under mpirun use runtime.device = cpu (or run without mpirun)");

  const auto refs = geometry::reference_orientations(static_cast<std::size_t>(st.orientations.references));

  const merging::Settings ms = merging_settings(st, threads);
  std::optional<merging::Merger<float>> merger;
  if (!on_gpu) merger.emplace(ms);

  phasing::Phaser<double> phaser(static_cast<int>(n), threads, parse_planning(st.runtime.fft_planning));
  // The data reach |s| = s_ext, the grid's frequency n/2 along an axis: beyond that sphere
  // merging only extrapolates, so phasing leaves it free.
  phaser.set_measured_radius(static_cast<double>(n) / 2);
  phasing::Schedule schedule = phasing_schedule(st);

  // Photon counts (every value an integer, over every rank's images) or intensities.
  double not_counts = 0;
  for (float v : data.images) not_counts += v != std::round(v);
  const bool counts = team.sum(not_counts) == 0;
  matching::Options mo;
  const bool poisson = st.orientations.metric == "poisson" || (st.orientations.metric == "auto" && counts);
  mo.metric = poisson ? matching::Metric::poisson : matching::Metric::euclidean;
  mo.scale = st.orientations.scale == "per_slice" ? matching::Scale::per_slice : matching::Scale::none;
  mo.threads = threads;
  // Slicing and matching: on one rank a batch is sliced and matched at once; on several,
  // each rank slices its share into MPI windows and matches its images against all.
  distributed::SearchOptions so;
  so.strategy = distributed::parse_strategy(st.distribution.strategy);
  so.split_size = st.distribution.split_size;
  so.n_streams = static_cast<int>(st.distribution.n_streams);
  so.slicing.batch_size = st.orientations.batch_size;
  so.slicing.tolerance = st.slicing.tolerance;
  so.slicing.threads = threads;
  so.slicing.keep_points = st.slicing.keep_points;
  so.matching = mo;
  std::unique_ptr<distributed::OrientationSearch> search;
  if (!st.orientations.oracle && !on_gpu)
    search = std::make_unique<distributed::OrientationSearch>(team, refs, data.pixels, s_ext, n, N, data.images, so);
  // runtime.device = cuda: the stages below run on the GPU, this loop's schedule unchanged.
  std::unique_ptr<cuda::GenerationRunner> gpu;
  if (on_gpu)
    gpu = std::make_unique<cuda::GenerationRunner>(N, data.images, data.pixels, s_ext, n, refs, !st.orientations.oracle,
                                                   so.slicing, mo, cuda::parse_gemm_precision(st.orientations.gemm), ms);
  matching::RefineOptions ro;
  ro.steps = static_cast<int>(st.orientations.local_steps);
  ro.first_step = 0.6 * geometry::covering_radius_lower_bound(refs.size());
  ro.batch_size = st.orientations.batch_size;
  ro.tolerance = local_tolerance(st, counts);
  ro.threads = threads;
  std::vector<geometry::Quaternion> starts;
  std::vector<double> refined_scores;
  std::vector<std::int64_t> gpu_indices;
  std::vector<float> gpu_scores;
  // The fit: per image (score - floor) / norm, averaged. norm: |x|^2 (euclidean) or the
  // photon count (poisson). floor: what noise alone leaves, so that the schedule's relative
  // improvements measure the model and not the shot noise: for photon counts (integers)
  // E|k - lambda|^2 = sum lambda ~ sum k (euclidean), and the saturated model W = k,
  // sum k - sum k log k (poisson); 0 for noise-free intensities. Counts or not: over every
  // rank's images, so that all ranks agree.
  std::vector<double> fit_norm(static_cast<std::size_t>(N)), fit_floor(static_cast<std::size_t>(N));
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (std::int64_t i = 0; i < N; ++i) {
    double norm = 0, floor = 0;
    for (std::int64_t p = 0; p < P; ++p) {
      const double v = data.images[static_cast<std::size_t>(i * P + p)];
      if (mo.metric == matching::Metric::poisson) {
        norm += v;
        floor += v > 0 ? v - v * std::log(v) : 0;
      } else {
        norm += v * v;
        floor += v;
      }
    }
    fit_norm[static_cast<std::size_t>(i)] = std::max(norm, 1e-30);
    fit_floor[static_cast<std::size_t>(i)] = counts || mo.metric == matching::Metric::poisson ? floor : 0;
  }

  State state;
  if (resume) state = *resume;
  if (state.next_generation == 0) {
    // The random start draws from its own stream: the same seed must not reproduce the
    // orientations a simulation with that seed drew (that would hand the loop the truth).
    const std::uint64_t start_seed = st.runtime.seed * 0x9e3779b97f4a7c15ULL + 0x5eed0f5ca1ab1eULL;
    state = State{};
    state.orientations = st.orientations.oracle
                             ? data.truth
                             : geometry::random_orientations(static_cast<std::size_t>(total_images), start_seed);
    if (!st.orientations.oracle)  // this rank's images' share of the one random start
      state.orientations = {state.orientations.begin() + first_image, state.orientations.begin() + first_image + N};
    state.refining = st.generations.search_max == 0;
  }
  std::vector<float> slicing_input;
  while (!state.finished && state.next_generation < st.generations.max) {
    const int g = state.next_generation;
    Generation gen;
    gen.index = g;
    gen.stage = st.orientations.oracle ? Stage::oracle
                : g == 0               ? Stage::start
                : state.local          ? Stage::local
                : state.refining       ? Stage::refine
                                       : Stage::search;
    // 1-2: slicing and matching, from the second generation on.
    if (gen.stage == Stage::search || gen.stage == Stage::refine || gen.stage == Stage::local) {
      if (gpu) {
        const auto times = gpu->slice_and_match(state.slicing_input, gpu_indices, gpu_scores);
        gen.slicing_s = times.slicing_s;
        gen.matching_s = times.matching_s;
      } else {
        slicing_input.assign(state.slicing_input.begin(), state.slicing_input.end());
        search->run(slicing_input);
        gen.slicing_s = search->stats().slicing_s;
        gen.matching_s = search->stats().matching_s;
      }
      const auto& best = gpu ? gpu_indices : search->indices();
      const auto& best_scores = gpu ? gpu_scores : search->scores();
      double sums[2] = {0, 0};  // fit, reassigned: over every rank's images
      if (gen.stage == Stage::local) {
        // Each image from the better of its grid match and where it was, refined below the
        // reference spacing against the slicing input (on the CPU, also with runtime.device
        // = cuda).
        const auto t_local = clock_type::now();
        starts.resize(static_cast<std::size_t>(2 * N));
        for (std::int64_t i = 0; i < N; ++i) starts[2 * i] = refs[best[i]], starts[2 * i + 1] = state.orientations[i];
        const auto previous = state.orientations;
        refined_scores.resize(static_cast<std::size_t>(N));
        slicing_input.assign(state.slicing_input.begin(), state.slicing_input.end());
        matching::refine_orientations<float>(slicing_input, n, data.pixels, s_ext, data.images, starts, 2, mo, ro,
                                             state.orientations, refined_scores);
        for (std::int64_t i = 0; i < N; ++i) {
          sums[1] += geometry::angle_between(previous[i], state.orientations[i]) > 0;
          sums[0] += (refined_scores[i] - fit_floor[i]) / fit_norm[i];
        }
        gen.refining_s = since(t_local);
      } else {
        for (std::int64_t i = 0; i < N; ++i) {
          const auto& q = refs[best[i]];
          sums[1] += !(q.w == state.orientations[i].w && q.x == state.orientations[i].x &&
                       q.y == state.orientations[i].y && q.z == state.orientations[i].z);
          state.orientations[i] = q;
          sums[0] += (best_scores[i] - fit_floor[i]) / fit_norm[i];
        }
      }
      team.sum(sums);
      gen.fit = sums[0] / static_cast<double>(total_images);
      gen.reassigned = sums[1] / static_cast<double>(total_images);
    }
    // 3: merging, regularised toward the previous autocorrelation.
    auto t0 = clock_type::now();
    merging::Solution solution =
        gpu ? gpu->merge(state.orientations, state.autocorrelation)  // one rank (checked above)
            : merge_images(*merger, data, s_ext, state.orientations, [](std::int64_t) { return true; },
                           state.autocorrelation, team, n3);
    gen.cg_iterations = solution.cg.iterations;
    double num = 0, den = 0;
    for (std::size_t i = 0; i < solution.x.size(); ++i) {
      const double prev = state.autocorrelation.empty() ? 0 : state.autocorrelation[i];
      num += (solution.x[i] - prev) * (solution.x[i] - prev);
      den += solution.x[i] * solution.x[i];
    }
    gen.change = den > 0 ? std::sqrt(num / den) : 0;
    state.autocorrelation = std::move(solution.x);
    gen.merging_s = since(t0);
    // 4: phasing, a cold start with this generation's own seed.
    t0 = clock_type::now();
    // Phasing runs once (on the lead) and its density is broadcast.
    schedule.seed = st.runtime.seed + static_cast<std::uint64_t>(g);
    phasing::Result<double> phased;
    if (team.lead()) {
      if (!gpu) phaser.set_autocorrelation(state.autocorrelation);
      phased = gpu ? gpu->phase(state.autocorrelation, schedule) : phaser.run(schedule);
    }
    gen.fourier_error = team.broadcast_value(phased.fourier_error.empty() ? 0 : phased.fourier_error.back());
    phased.density.resize(n3);
    team.broadcast(phased.density);
    state.density = std::move(phased.density);
    gen.phasing_s = since(t0);
    if (!data.truth.empty()) {
      const auto found = team.gather(state.orientations), truth = team.gather(data.truth);
      gen.median_error_deg = team.broadcast_value(team.lead() ? median_orientation_error(found, truth) : 0.0);
    }

    // The schedule: when to leave the search, when to stop.
    // Relative improvement of the fit over the last generation of the same stage (NaN: none).
    int same_stage = 0;
    double previous_fit = std::numeric_limits<double>::quiet_NaN();
    for (const auto& h : state.generations)
      if (h.stage == gen.stage) ++same_stage, previous_fit = h.fit;
    const double improvement = (previous_fit - gen.fit) / std::abs(previous_fit);
    // The fit is noisy: one small step is no proof that the orientations have stopped.
    std::vector<double> fits;
    for (const auto& h : state.generations)
      if (h.stage == gen.stage) fits.push_back(h.fit);
    fits.push_back(gen.fit);
    const bool fit_stalled = slow_generations(fits, st.generations.stop_fit) >= st.generations.fit_patience;
    if (gen.stage == Stage::search &&
        (same_stage + 1 >= st.generations.search_max || (same_stage > 0 && !(improvement >= st.generations.search_improvement))))
      state.refining = true;
    if (gen.stage == Stage::refine &&
        (gen.change < st.generations.stop_change || gen.reassigned < st.generations.stop_reassigned || fit_stalled)) {
      if (st.generations.local_max > 0)
        state.local = true;
      else
        state.finished = state.converged = true;
    }
    if (gen.stage == Stage::local &&
        (same_stage + 1 >= st.generations.local_max || gen.change < st.generations.stop_change || fit_stalled))
      state.finished = state.converged = true;
    if (gen.stage == Stage::oracle && g > 0 && gen.change < st.generations.stop_change) state.finished = state.converged = true;
    if (state.refining) {
      state.slicing_input = state.autocorrelation;
    } else {
      if (team.lead()) state.slicing_input = phaser.autocorrelation_of(state.density);
      state.slicing_input.resize(n3);
      team.broadcast(state.slicing_input);
    }
    state.generations.push_back(gen);
    state.next_generation = g + 1;
    if (state.next_generation >= st.generations.max) state.finished = true;
    if (progress) progress(gen, state);
  }
  return state;
}

}  // namespace spire::reconstruct
