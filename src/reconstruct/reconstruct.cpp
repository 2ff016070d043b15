#include "reconstruct/reconstruct.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <optional>

#include "core/error.hpp"
#include "matching/fit.hpp"
#include "phasing/box.hpp"
#include "reconstruct/assignment.hpp"
#include "reconstruct/fluence.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"

namespace spire::reconstruct {
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

void check_inputs(const Data& data, const Settings& st, const State* resume) {
  const std::int64_t N = data.n_images, P = data.n_pixels, n = st.grid.n;
  const bool dense_ok = static_cast<std::int64_t>(data.images.size()) == N * P;
  const bool sparse_ok = data.images.empty() && static_cast<std::int64_t>(data.sparse_offsets.size()) == N + 1;
  if (N < 1 || P < 1 || !(dense_ok || sparse_ok))
    fail("reconstruct: the images do not match their count and size");
  if (st.orientations.oracle && static_cast<std::int64_t>(data.truth.size()) != N)
    fail("reconstruct: orientations.oracle needs the true orientations in the data file");
  if (!resume || resume->next_generation == 0) return;
  // A checkpoint holds every image's orientation in one State; ranks hold only theirs.
  if (data.total != N) fail("reconstruct: resuming from a checkpoint runs on one rank, not under mpirun with several");
  const auto n3 = static_cast<std::size_t>(n * n * n);
  if (resume->orientations.size() != static_cast<std::size_t>(N) || resume->autocorrelation.size() != n3 ||
      resume->slicing_input.size() != n3 ||
      resume->generations.size() != static_cast<std::size_t>(resume->next_generation))
    fail("reconstruct: the checkpoint does not match these data and settings (images, grid.n)");
}

State fresh_state(const Data& data, const Settings& st) {
  State state;
  state.standing = initial_standing(st.generations);
  if (st.orientations.oracle) {
    state.orientations = data.truth;
    return state;
  }
  // The random start draws from its own stream: the same seed must not reproduce the
  // orientations a simulation with that seed drew (that would hand the loop the truth).
  const std::uint64_t start_seed = st.runtime.seed * 0x9e3779b97f4a7c15ULL + 0x5eed0f5ca1ab1eULL;
  const auto all = geometry::random_orientations(static_cast<std::size_t>(data.total), start_seed);
  state.orientations.assign(all.begin() + data.first, all.begin() + data.first + data.n_images);  // this rank's share
  return state;
}

// Steps 1-2: each image takes its best reference; sums of its fit excess and of the images
// whose orientation changed.
// sums: fit, reassigned, moved farther than far_move_deg (over this rank's images).
void match(const Matches& matches, const std::vector<geometry::Quaternion>& references, const matching::Fit& fit,
           State& state, double sums[3]) {
  state.scores.resize(state.orientations.size());
  const double far = far_move_deg(references.size()) * std::numbers::pi / 180;  // radians
  for (std::size_t i = 0; i < state.orientations.size(); ++i) {
    state.scores[i] = matches.score[i];
    const auto& q = references[static_cast<std::size_t>(matches.reference[i])];
    auto& mine = state.orientations[i];
    sums[1] += !(q.w == mine.w && q.x == mine.x && q.y == mine.y && q.z == mine.z);
    sums[2] += geometry::angle_between(mine, q) > far;
    mine = q;
    sums[0] += fit.excess(static_cast<std::int64_t>(i), matches.score[i]);
  }
}

// Steps 1-2 in the local stage: each image refined below the reference spacing from the
// better of its grid match and where it was.
void match_locally(Backend& backend, const Matches& matches, const matching::Fit& fit, State& state, double sums[3]) {
  const auto N = state.orientations.size();
  std::vector<geometry::Quaternion> starts(2 * N);
  for (std::size_t i = 0; i < N; ++i)
    starts[2 * i] = backend.references()[static_cast<std::size_t>(matches.reference[i])],
    starts[2 * i + 1] = state.orientations[i];
  const auto previous = state.orientations;
  const double far = far_move_deg(backend.references().size()) * std::numbers::pi / 180;  // radians
  std::vector<double> scores(N);
  backend.refine(state.slicing_input, starts, 2, state.orientations, scores);
  for (std::size_t i = 0; i < N; ++i) {
    const double moved = geometry::angle_between(previous[i], state.orientations[i]);
    sums[1] += moved > 0;
    sums[2] += moved > far;
    sums[0] += fit.excess(static_cast<std::int64_t>(i), scores[i]);
  }
  state.scores = std::move(scores);
}

// The loop's per-image quantities beside the orientations: fit and fluence.
struct PerImage {
  const matching::Fit& fit;
  const FluenceScales& fluence;
  bool scaling;  // fluence_scaling()
};

// Steps 1-2: slices matched, each image's orientation (its best) and, for a soft assignment
// in the grid stages, its candidates' weights (returned; empty otherwise).
std::optional<SoftAssignment> slice_and_match(Backend& backend, const Data& data, const Settings& st,
                                              const PerImage& per_image, State& state, Generation& gen) {
  const matching::Fit& fit = per_image.fit;
  const Matches matches = backend.slice_and_match(state.slicing_input);
  if (per_image.scaling)
    state.scales = matches.reference_sums.empty() ? per_image.fluence.from_photons(backend)
                                                  : per_image.fluence.from_match(matches, backend);
  gen.slicing_s = matches.slicing_s;
  gen.matching_s = matches.matching_s;
  double sums[3] = {0, 0, 0};  // fit, reassigned, moved far: over every rank's images
  const auto t0 = clock_type::now();
  if (gen.stage == Stage::local) {
    match_locally(backend, matches, fit, state, sums);
    gen.local_s = since(t0);
  } else {
    match(matches, backend.references(), fit, state, sums);
  }
  backend.sum(sums);
  gen.fit = sums[0] / static_cast<double>(data.total);
  gen.reassigned = sums[1] / static_cast<double>(data.total);
  gen.moved_far = sums[2] / static_cast<double>(data.total);
  if (matches.top_k < 2 || gen.stage == Stage::local) return std::nullopt;
  auto soft = soft_assignment(matches, assignment_beta(st.orientations, state.generations));
  double effective = soft.effective_sum;
  backend.sum(std::span<double>(&effective, 1));
  gen.beta = soft.beta;
  gen.candidates = effective / static_cast<double>(data.total);
  return soft;
}

// Step 3, regularised toward the previous autocorrelation: at the images' orientations, or
// at their candidates with a soft assignment.
void merge(Backend& backend, State& state, const std::optional<SoftAssignment>& soft, Generation& gen) {
  const auto t0 = clock_type::now();
  merging::Solution solution = soft ? backend.merge_candidates(soft->candidates(), state.autocorrelation, state.scales)
                                    : backend.merge(state.orientations, state.autocorrelation, {}, state.scales);
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
}

// Step 3 of generation 0, the start: merging the images at their random orientations gives,
// in expectation, the autocorrelation whose intensity is their spherical average in every
// direction; it is made from that average (Data::profile) directly, in the loop's box
// (phasing::profile_autocorrelation). The merge it replaces took 11-25 s on the README's
// Poisson case (docs/speed.md).
void start(const Data& data, const Settings& st, State& state, Generation& gen) {
  const auto t0 = clock_type::now();
  const int n = static_cast<int>(st.grid.n);
  state.autocorrelation =
      phasing::profile_autocorrelation<double>(data.profile, Data::profile_du, n, state.box > 0 ? state.box : n);
  gen.change = 1;
  gen.merging_s = since(t0);
}

// The loop's box (box_backend.hpp), set before any work (loop_box), and said when it was
// found from the images.
void choose_box(Backend& backend, const Data& data, const Settings& st, State& state) {
  const bool found = state.box == 0 && st.grid.box == 0 && state.next_generation == 0;
  const int m = loop_box(data, st, state);
  if (m == 0 && state.box == 0) return;  // the whole grid (a resumed run on it, or too small a grid)
  backend.set_box(m);
  state.box = backend.box();
  if (found && state.box > 0 && backend.lead())
    backend.progress().note(fmt::format("  the loop works on the centred {0}^3 box: the autocorrelation's support "
                                        "radius is {1} voxels, from the images' radial profile (grid.box)",
                                        state.box,
                                        phasing::support_radius_of_profile<double>(data.profile, Data::profile_du,
                                                                                   static_cast<int>(st.grid.n))));
}

// The reference set of a stage: the search's coarser one for the start and the search
// (search_references, backend.hpp), the full set from refinement on.
std::int64_t references_for(Stage stage, const Settings& st, bool counts) {
  return stage == Stage::start || stage == Stage::search ? search_references(st, counts) : st.orientations.references;
}

// Step 4: a cold start with this generation's own seed.
void phase(Backend& backend, const Settings& settings, phasing::Schedule schedule, State& state, Generation& gen) {
  const auto t0 = clock_type::now();
  schedule.seed += static_cast<std::uint64_t>(gen.index);
  auto phased = phase_in_box(backend, settings, state.autocorrelation, schedule);
  gen.fourier_error = phased.fourier_error;
  state.density = std::move(phased.density);
  gen.phasing_s = since(t0);
}

// Step 4 runs where its density is used: when the next generation slices it (the search;
// also after the last generation of a run stopped by generations.max in the search, which a
// resume continues), and in oracle runs (evaluation). Refinement slices the merged
// autocorrelation, and the run's final density is phased from the final one (finish.hpp):
// phasing there would only be shown (the per-generation density.mrc and FSC; about 7 s per
// generation at n = 81).
bool phases(const Standing& next, Stage stage) { return stage == Stage::oracle || !next.refining; }

// Evaluation only: the median orientation error against the file's truth (-1: none).
double orientation_error(Backend& backend, const Data& data, const State& state) {
  if (data.truth.empty()) return -1;
  const auto found = backend.gather(state.orientations), truth = backend.gather(data.truth);
  double error = backend.lead() ? median_orientation_error(found, truth) : 0.0;
  backend.sum(std::span<double>(&error, 1));  // the lead's value on every rank
  return error;
}

// Evaluation only: the FSC 0.5 resolution of the density against data.reference, aligned
// (rotation, hand, shift) as the final comparison is; -1 without a reference.
double resolution_against_reference(Backend& backend, const Data& data, const Settings& st, const State& state) {
  if (data.reference.empty()) return -1;
  double angstrom = 0;
  if (backend.lead()) {
    const int n = static_cast<int>(st.grid.n), threads = static_cast<int>(st.runtime.threads);
    const auto aligned = resolution::align_rotation<double>(n, state.density, data.reference, {}, threads);
    const auto curve = resolution::fsc<double>(n, aligned.map, data.reference, threads);
    angstrom = resolution::resolution_at(curve, 1e10 / (2 * data.extent), 0.5).angstrom;
  }
  backend.sum(std::span<double>(&angstrom, 1));  // the lead's value on every rank
  return angstrom;
}

}  // namespace

int loop_box(const Data& data, const Settings& st, const State& state) {
  const int n = static_cast<int>(st.grid.n);
  if (state.box > 0 || st.grid.box > 0) {  // resumed on its box, or one given
    const int m = state.box > 0 ? state.box : static_cast<int>(st.grid.box);
    return m >= n ? 0 : m;
  }
  if (state.next_generation > 0) return 0;  // resumed on the whole grid
  const int m = phasing::phasing_box(phasing::support_radius_of_profile<double>(data.profile, Data::profile_du, n), n);
  return m >= n ? 0 : m;
}

State run(Backend& backend, const Data& data, const Settings& st, const ProgressFn& progress, const State* resume) {
  check_inputs(data, st, resume);
  State state = resume && resume->next_generation > 0 ? *resume : fresh_state(data, st);
  choose_box(backend, data, st, state);
  backend.set_references(
      references_for(stage_of(state.next_generation, state.standing, st.orientations.oracle), st, data.counts));
  const auto options = stage_options(st, data, static_cast<std::size_t>(st.orientations.references));
  const matching::Fit fit(image_set(data), options.matching.metric, data.counts, options.threads);
  const FluenceScales fluence(data, options.matching.metric);
  const PerImage per_image{fit, fluence, fluence_scaling(st, data)};
  if (per_image.scaling && state.scales.empty()) state.scales = fluence.from_photons(backend);
  while (!state.standing.finished && state.next_generation < st.generations.max) {
    Generation gen;
    gen.index = state.next_generation;
    gen.stage = stage_of(gen.index, state.standing, st.orientations.oracle);
    backend.progress().set_context(fmt::format("generation {} of at most {} ({})", gen.index, st.generations.max,
                                               name_of(kStageNames, gen.stage)));
    backend.set_references(references_for(gen.stage, st, data.counts));
    std::optional<SoftAssignment> soft;
    if (gen.stage != Stage::start && gen.stage != Stage::oracle)
      soft = slice_and_match(backend, data, st, per_image, state, gen);
    if (gen.stage == Stage::start)
      start(data, st, state, gen);
    else
      merge(backend, state, soft, gen);
    gen.median_error_deg = orientation_error(backend, data, state);
    state.standing = next_standing(state.standing, state.generations, gen, st.generations);
    if (phases(state.standing, gen.stage)) {
      phase(backend, st, options.phasing, state, gen);
      gen.resolution_angstrom = resolution_against_reference(backend, data, st, state);
    }
    state.slicing_input = state.standing.refining ? state.autocorrelation : backend.autocorrelation_of(state.density);
    state.generations.push_back(gen);
    state.next_generation = gen.index + 1;
    if (progress) progress(gen, state);
  }
  return state;
}

State run(const Data& data, const Settings& settings, const ProgressFn& progress, const State* resume,
          const distributed::Team& team) {
  auto backend = make_backend(data, settings, team);
  return run(*backend, data, settings, progress, resume);
}

}  // namespace spire::reconstruct
