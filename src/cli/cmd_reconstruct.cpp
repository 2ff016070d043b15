// spire reconstruct: the M-TIP loop on a dataset file, results in one folder; a checkpoint
// after every generation lets `--resume DIR` continue an interrupted run. The command is
// five steps: settle the settings (fresh or resumed), load the data, run the loop, finish
// (final phasing, half maps, FSC), write the outputs.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>
#include <optional>

#include "cli/commands.hpp"
#include "cli/reconstruct_outputs.hpp"
#include "cli/run_folder.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "io/isolated.hpp"
#include "reconstruct/cells.hpp"
#include "reconstruct/checkpoint.hpp"
#include "reconstruct/data.hpp"
#include "reconstruct/finish.hpp"
#include "reconstruct/fluence.hpp"
#include "reconstruct/memory.hpp"
#include "reconstruct/reconstruct.hpp"

namespace spire::cli {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::string data, config, out = "out", reference, resume;
  std::string command_line;  // as typed (summary.json, report.html)
  std::vector<std::string> overrides;
  io::OpenOptions open;  // --mask, --detector, --photon-energy: shortcuts for data.* settings
  bool quiet = false, print_config = false, force = false;
};

// A TOML basic string of `text`.
std::string toml_quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The shortcut options as the overrides they stand for (paths made absolute: a resumed run
// finds them from any folder); placed first, so that explicit overrides win.
void add_shortcuts(Options& o) {
  std::vector<std::string> shortcuts;
  if (!o.open.mask.empty()) shortcuts.push_back("data.mask=" + toml_quoted(fs::absolute(o.open.mask).string()));
  if (!o.open.detector.empty())
    shortcuts.push_back("data.detector=" + toml_quoted(fs::absolute(o.open.detector).string()));
  if (o.open.photon_energy > 0) shortcuts.push_back(fmt::format("data.photon_energy={}", o.open.photon_energy));
  o.overrides.insert(o.overrides.begin(), shortcuts.begin(), shortcuts.end());
}

// What the command line and the run folder decide before any data are read.
struct Setup {
  reconstruct::Settings settings;
  fs::path out;
  std::string data_path;  // as given; absolute in the outputs
  std::optional<ModelMap> reference;  // model map for the FSC
  bool resuming = false;
  std::string checkpoint_path;
  std::optional<reconstruct::Checkpoint> checkpoint;
  std::vector<std::string> warnings;  // printed by the lead and kept in summary.json
  reconstruct::DataShape shape;        // from the file's header (check_before_reading)
  reconstruct::MemoryEstimate memory;  // this rank's
  std::string stage = "starting";     // what runs now: named when memory runs out
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); }
};

void refuse_result_changes(const std::vector<std::string>& overrides) {
  for (const auto& ov : overrides) {
    const std::string key = ov.substr(0, ov.find('='));
    if (!reconstruct::changes_result(key)) continue;
    std::string neutral;
    for (const auto& k : reconstruct::result_neutral_settings()) neutral += (neutral.empty() ? "" : ", ") + k;
    fail_in("command line", fmt::format("'{}': {} changes the result, so a resumed run keeps it; --resume may change "
                                        "only {} (start a new run in another folder to change {})",
                                        ov, key, neutral, key));
  }
}

Setup setup_resume(Options& o, const CLI::App& cmd) {
  Setup s;
  s.resuming = true;
  if (cmd.count("--config") > 0)
    fail("reconstruct: --resume DIR takes its settings from DIR/settings.toml; --config cannot change them");
  if (o.force) fail("reconstruct: --resume continues the run in DIR, --force replaces it: give one of them");
  if (cmd.count("--out") > 0 && fs::weakly_canonical(o.out) != fs::weakly_canonical(o.resume))
    fail("reconstruct: --resume DIR writes its results to DIR; --out cannot send them elsewhere");
  s.out = o.resume;
  // `--resume DIR key=value ...`: the first override lands where DATA would.
  if (!o.data.empty() && o.data.find('=') != std::string::npos && !fs::exists(o.data)) {
    o.overrides.insert(o.overrides.begin(), o.data);
    o.data.clear();
  }
  s.checkpoint_path = (s.out / "checkpoint.h5").string();
  if (!fs::exists(s.checkpoint_path))
    fail_in(s.checkpoint_path, "no checkpoint to resume from (spire reconstruct writes it after every generation)");
  s.checkpoint = reconstruct::read_checkpoint(s.checkpoint_path);
  // The plans the interrupted run made, before any plan is made here.
  if (!s.checkpoint->wisdom.empty()) use_fft_wisdom(s.checkpoint->wisdom);
  const auto settings_path = s.out / "settings.toml";
  if (fs::exists(settings_path)) {
    s.settings = reconstruct::load_settings(settings_path.string(), o.overrides);
  } else {
    fmt::print(stderr, "spire reconstruct: {} is missing; taking the settings the checkpoint holds\n",
               settings_path.string());
    s.settings = reconstruct::load_settings_text(s.checkpoint->run.settings, s.checkpoint_path + " (its settings)",
                                                 o.overrides);
  }
  refuse_result_changes(o.overrides);
  s.data_path = o.data.empty() ? s.checkpoint->run.data_path : o.data;
  if (o.data.empty() && !fs::exists(s.data_path))
    fail_in(s.data_path, "no such file (the data file " + s.checkpoint_path + " names; give its new path as DATA)");
  return s;
}

// The model map for the FSC, read now so that a bad one stops the run before any work:
// --reference FILE must be a readable MRC map; none (or "") means none; without --reference
// a resumed run takes the one it was started with (none if it had none), a fresh run the
// data file's _model.mrc if it reads (else a warning).
std::optional<ModelMap> find_reference(const Options& o, const CLI::App& cmd, Setup& s) {
  if (cmd.count("--reference") > 0) {
    if (o.reference.empty() || o.reference == "none") return std::nullopt;
    if (!fs::is_regular_file(o.reference))
      fail_in(o.reference, "no such file (--reference: the model map for the FSC; --reference none for none)");
    return ModelMap{o.reference, true, io::read_mrc(o.reference)};
  }
  if (s.resuming && s.checkpoint->run.reference) {  // the one the run was started with
    const std::string& recorded = *s.checkpoint->run.reference;
    if (recorded.empty()) return std::nullopt;
    if (fs::is_regular_file(recorded)) return ModelMap{recorded, true, io::read_mrc(recorded)};
    s.warnings.push_back(fmt::format("WARNING: the model map this run was started with, {}, is gone: no FSC against "
                                     "a model (--reference MAP gives one)",
                                     recorded));
    return std::nullopt;
  }
  const fs::path d(s.data_path);
  const auto guess = d.parent_path() / (d.stem().string() + "_model.mrc");
  if (!fs::exists(guess)) return std::nullopt;
  try {
    return ModelMap{guess, false, io::read_mrc(guess.string())};
  } catch (const Error& e) {
    s.warnings.push_back(fmt::format("not using the model map found beside the data for the FSC: {} (--reference "
                                     "none silences this)",
                                     e.what()));
    return std::nullopt;
  }
}

// Before any data are read: the folder is free, a fresh run does not replace an earlier one.
Setup setup(Options& o, const CLI::App& cmd) {
  refuse_if_locked(o.resume.empty() ? o.out : o.resume);
  Setup s;
  if (!o.resume.empty()) {
    s = setup_resume(o, cmd);
  } else {
    if (o.data.empty()) fail("reconstruct: no dataset given (spire reconstruct DATA.h5 --out DIR)");
    s.out = o.out;
    s.data_path = o.data;
    s.settings = reconstruct::load_settings(o.config, o.overrides);
  }
  s.reference = find_reference(o, cmd, s);
  if (!s.resuming && !o.force) refuse_earlier_run(s.out);
  return s;
}

// Every rank of mpirun (or this process alone), in nodes as distribution.ranks_per_node asks.
distributed::Team world_team(const reconstruct::Settings& st) {
  try {
    return distributed::Team::world(static_cast<int>(st.distribution.ranks_per_node));
  } catch (const Error& e) {
    fail(fmt::format("setting distribution.ranks_per_node = {}: {}", st.distribution.ranks_per_node, e.what()));
  }
}

// The State to go on from: a fresh one, or the checkpoint's (extended to generations.max).
reconstruct::State starting_state(Setup& s, bool quiet, bool& to_run) {
  to_run = true;
  if (!s.resuming) return {};
  reconstruct::State state = std::move(s.checkpoint->state);
  to_run = reconstruct::extend(state, s.settings);
  const int done = state.next_generation;
  if (!to_run && !quiet)
    fmt::print("spire reconstruct: {}: the run {} after {} generation{}; writing its outputs again\n",
               s.checkpoint_path,
               state.standing.converged  ? std::string("converged")
               : state.standing.finished ? fmt::format("finished (generations.max = {})", s.settings.generations.max)
                                         : fmt::format("has no generation left (generations.max = {})",
                                                       s.settings.generations.max),
               done, done == 1 ? "" : "s");
  else if (!quiet)
    fmt::print("spire reconstruct: resuming {} after generation {}\n", s.checkpoint_path, done - 1);
  return state;
}

void print_header(const reconstruct::Data& data, const reconstruct::Settings& st, const distributed::Team& team,
                  bool to_run, const reconstruct::MemoryEstimate& memory, const Summary::Cells& cells) {
  const double voxel = voxel_angstrom(data);
  fmt::print("spire reconstruct: {} images of {} pixels, {:.1f} photons per image, grid {}^3 of {:.2f} A{}\n",
             data.total, data.n_pixels, data.photons_per_image, st.grid.n, voxel,
             st.orientations.oracle ? " -- ORACLE (true orientations, evaluation only)" : "");
  fmt::print("  pixels: {} of the detector's {} used{}; {} bad values (NaN/Inf) left out; {} negative values kept\n",
             data.n_pixels, data.detector_pixels ? data.detector_pixels : data.n_pixels,
             data.n_pixels < data.detector_pixels ? " (mask and data.resolution_low/high)" : "", data.bad_total,
             data.negative_total);
  fmt::print("  fluence scaling {} (merging.fluence_scaling = {}; photon sums spread {:.1f}%)\n",
             reconstruct::fluence_scaling(st, data) ? "on" : "off",
             name_of(reconstruct::kAutoChoiceNames, st.merging.fluence_scaling),
             data.photons_per_image > 0 ? 100 * data.photons_spread / data.photons_per_image : 0.0);
  if (team.size() > 1)
    fmt::print("  {} MPI ranks on {} {}nodes, {} strategy, {} stream(s) per rank (no checkpoints)\n", team.size(),
               team.n_nodes(), team.emulated_nodes() ? "emulated " : "",
               name_of(distributed::kStrategyNames, st.distribution.strategy), st.distribution.n_streams);
  if (!memory.terms.empty())
    fmt::print("  memory: about {}{} (most of it {}, {})\n", reconstruct::format_bytes(memory.total()),
               team.size() > 1 ? " per rank" : "", memory.largest().what,
               reconstruct::format_bytes(memory.largest().bytes));
  if (cells.count > 0)
    fmt::print("  the loop works on {} detector cells of {:.2f} grid voxels instead of {} pixels; the final maps are "
               "merged from every pixel (orientations.cells)\n",
               cells.count, cells.voxels, data.n_pixels);
  if (reconstruct::assignment_for(st, data.counts) == reconstruct::Assignment::soft)
    fmt::print("  soft assignment in the grid stages: each image merged at its best {} references with posterior weights, "
               "beta {:g} x {:g} per generation up to 1 (orientations.assignment = {})\n",
               st.orientations.candidates, st.orientations.beta_start, st.orientations.beta_growth,
               name_of(reconstruct::kAssignmentNames, st.orientations.assignment));
  if (to_run)
    fmt::print("  {:>3} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>10} {:>7} {:>12} {:>14}\n", "gen",
               "stage", "slicing", "matching", "local", "merging", "phasing", "fit", "moved", "change", "phase",
               "median err", "FSC 0.5", "elapsed", "left (at most)");
  std::fflush(stdout);  // a pipe gets the header now, not with the first generation
}

double generation_s(const reconstruct::Generation& g) {
  return g.slicing_s + g.matching_s + g.local_s + g.merging_s + g.phasing_s;
}

// The longest the rest can take: the generations up to generations.max at the mean time of
// the last three, then the final phasing and the half maps at this run's phasing and
// merging times. The stopping rules usually end a run sooner.
double time_left_at_most(const std::vector<reconstruct::Generation>& done, const reconstruct::Settings& st,
                         bool finished) {
  if (done.empty()) return -1;
  double recent = 0, phasing = 0;  // phasing: one run, the latest generation that phased
  const std::size_t k = std::min<std::size_t>(3, done.size());
  for (std::size_t i = done.size() - k; i < done.size(); ++i) recent += generation_s(done[i]);
  recent /= static_cast<double>(k);
  for (const auto& g : done)
    if (g.fourier_error >= 0) phasing = g.phasing_s;
  const double generations = finished ? 0 : static_cast<double>(st.generations.max - static_cast<std::int64_t>(done.size()));
  const double halves = st.output.half_maps ? 2.0 : 0.0;
  return generations * recent + static_cast<double>(st.phasing.final_average) * phasing * (1 + halves) +
         halves * done.back().merging_s;
}

std::string generation_line(const reconstruct::Generation& g, double elapsed, double left) {
  return fmt::format("  {:>3} {:>6} {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>9.3g} {:>8.4f} {:>8.4f} "
                     "{:>7} {:>9} {:>7} {:>12} {:>14}",
                     g.index, name_of(reconstruct::kStageNames, g.stage), g.slicing_s, g.matching_s, g.local_s,
                     g.merging_s, g.phasing_s, g.fit, g.reassigned, g.change,
                     g.fourier_error < 0 ? std::string("-") : fmt::format("{:.4f}", g.fourier_error),
                     g.median_error_deg < 0 ? std::string("-") : fmt::format("{:.1f}°", g.median_error_deg),
                     g.resolution_angstrom < 0 ? std::string("-") : fmt::format("{:.1f} Å", g.resolution_angstrom),
                     Progress::duration(elapsed), Progress::duration(left));
}

// Called on every rank after every generation, with the same maps on all of them.
reconstruct::ProgressFn progress_of(Setup& s, const reconstruct::Data& data, const distributed::Team& team,
                                    Progress& live) {
  const bool checkpoints = team.size() == 1;  // a checkpoint is one process's State
  auto identity =
      checkpoints ? reconstruct::identify(data, s.settings, absolute_path(s.data_path)) : reconstruct::RunIdentity{};
  identity.reference = s.reference ? absolute_path(s.reference->path.string()) : std::string();
  return [&s, &data, &live, lead = team.lead(), checkpoints, identity](const reconstruct::Generation& g,
                                                                       const reconstruct::State& state) {
    s.stage = fmt::format("writing generation {}", g.index);
    live.note(generation_line(g, s.elapsed(), time_left_at_most(state.generations, s.settings, state.standing.finished)));
    if (s.settings.output.every_generation && lead) {
      const auto dir = s.out / "generations" / fmt::format("{:03d}", g.index);
      fs::create_directories(dir);
      // A generation that did not phase (reconstruct.cpp) has no density of its own.
      write_maps(dir, data, s.settings, g.fourier_error >= 0 ? state.density : std::vector<double>{},
                 state.autocorrelation);
    }
    // Last, so that a checkpoint never claims a generation whose maps are missing.
    if (checkpoints) reconstruct::write_checkpoint((s.out / "checkpoint.h5").string(), state, identity);
    s.stage = fmt::format("generation {}", g.index + 1);
  };
}

// Final phasing, half maps (both collective), then on the lead the FSC against the model.
// merged_halves: the halves' autocorrelations where the every-pixel merge made them.
Summary finish(reconstruct::Backend& backend, const Setup& s, const reconstruct::Data& data,
               const reconstruct::State& result, bool talk, const std::array<std::vector<double>, 2>& merged_halves) {
  const auto& st = s.settings;
  Summary summary = describe_run(data, st, result);
  // Phasing seeds of the final maps: after the last generation's.
  const std::uint64_t seed =
      st.runtime.seed + static_cast<std::uint64_t>(result.generations.empty() ? 0 : result.generations.back().index);
  using clock = std::chrono::steady_clock;
  if (st.output.half_maps && !result.generations.empty()) {
    if (talk) backend.progress().note("  half maps: even and odd images merged and phased apart");
    const auto t0 = clock::now();
    summary.halves = reconstruct::half_maps(backend, data, st, result.orientations, seed, result.scales, merged_halves);
    summary.halves_s = std::chrono::duration<double>(clock::now() - t0).count();
  }
  summary.orientations = backend.gather(result.orientations);
  summary.scores = backend.gather(std::span<const double>(result.scores));
  summary.density = result.density;
  if (!result.autocorrelation.empty()) {
    backend.progress().set_context("final density");
    const auto t0 = clock::now();
    summary.averaged = reconstruct::phase_averaged(backend, st, result.autocorrelation, seed);
    summary.density = summary.averaged.density;
    summary.averaged_s = std::chrono::duration<double>(clock::now() - t0).count();
    if (talk)
      fmt::print("  final density: mean of {} phasing runs in a {}^3 box (Fourier errors {:.4f} to {:.4f}), {:.1f} s\n",
                 summary.averaged.fourier_errors.size(), summary.averaged.box, summary.averaged.fourier_errors.front(),
                 summary.averaged.fourier_errors.back(), summary.averaged_s);
  }
  if (backend.lead()) compare(summary, data, st, s.reference, talk);
  return summary;
}


// The memory the run needs against what this machine (this node's ranks) has: refused with
// the figure and the setting to change when it does not fit.
void check_memory(Setup& s, const reconstruct::DataShape& shape, const distributed::Team& team) {
  const auto& layout = team.layout();
  std::vector<int> ranks = layout.nodes[static_cast<std::size_t>(team.node())];
  if (team.emulated_nodes()) {  // emulated nodes share this machine
    ranks.resize(static_cast<std::size_t>(team.size()));
    for (int r = 0; r < team.size(); ++r) ranks[static_cast<std::size_t>(r)] = r;
  }
  reconstruct::MemoryEstimate need;
  try {
    s.memory = reconstruct::estimate_memory(s.settings, shape, layout, team.rank());
    need = reconstruct::ranks_memory(s.settings, shape, layout, ranks);
  } catch (const Error&) {
    return;  // a distribution the back end refuses, naming its settings, before any work
  }
  const auto available = reconstruct::available_memory();
  if (!available) return;
  const std::string where = team.size() == 1 ? "this machine"
                            : team.emulated_nodes()
                                ? fmt::format("this machine ({} ranks)", ranks.size())
                                : fmt::format("node {} ({} rank{})", team.node(), ranks.size(), ranks.size() == 1 ? "" : "s");
  if (const auto problem = reconstruct::memory_problem(need, *available, where); !problem.empty())
    fail("reconstruct: " + problem);
}

// Everything the settings and the file's header decide, before any image is read.
void check_before_reading(Setup& s, const distributed::Team& team) {
  if (s.resuming && team.size() > 1)
    fail(fmt::format("reconstruct: --resume runs on one process, not under mpirun with {} ranks "
                     "(resume without mpirun, or start a new run in another folder)",
                     team.size()));
  reconstruct::check_backend(s.settings, team.size());
  io::probe_images(s.data_path, reconstruct::open_options(s.settings.data));
  const auto shape = s.shape = reconstruct::data_shape(s.data_path, s.settings.data, team);
  if (s.settings.output.half_maps && shape.images < 2) {
    s.warnings.push_back(fmt::format("WARNING: {} image used: no half maps (output.half_maps needs 2 images at "
                                     "least; output.half_maps = false silences this)",
                                     shape.images));
    s.settings.output.half_maps = false;
  }
  check_memory(s, shape, team);
}

// The model map against the data's grid: an error for --reference, a warning (and no FSC
// against it) for the map found beside the data.
void check_reference(Setup& s, const reconstruct::Data& data) {
  if (!s.reference) return;
  const std::string why = map_mismatch(s.reference->map, data, s.settings);
  if (why.empty()) return;
  const std::string path = s.reference->path.string();
  if (s.reference->given) fail_in(path, why + " (--reference; --reference none runs without a model map)");
  s.warnings.push_back(fmt::format("WARNING: not using {} (found beside the data) for the FSC: {} (--reference none "
                                   "silences this)",
                                   path, why));
  s.reference.reset();
}

// Why the loop stopped.
void report_stop(Setup& s, const reconstruct::State& state, const distributed::Team& team, bool talk) {
  const auto& st = s.settings;
  const std::string why = reconstruct::stop_reason(state.standing, state.generations, st.generations);
  if (talk && !why.empty()) {
    std::string line = fmt::format("  {} generations, {}: {}", state.generations.size(),
                                   Progress::duration(s.elapsed()), why);
    if (!state.standing.converged && team.size() == 1)
      line += fmt::format("\n  to go on: spire reconstruct --resume {} generations.max={}", s.out.string(),
                          2 * st.generations.max);
    fmt::print("{}\n", line);
  }
}

// A warning where merging's CG stopped at its cap in most merges whose map the run keeps: the
// loop's, or after a loop on cells (whose merges only lead the loop) the merge from every
// pixel (final_cg: its iterations; -1: none). Kept in summary.json.
void warn_of_cg_cap(Setup& s, const reconstruct::State& state, int final_cg) {
  const auto& m = s.settings.merging;
  std::string cap, where;
  std::int64_t limit = 0;
  if (final_cg >= 0) {
    if (final_cg < m.final_cg_iterations) return;
    cap = "merging.final_cg_iterations", limit = m.final_cg_iterations;
    where = "the final merge from every pixel";
  } else {
    std::int64_t capped = 0, merges = 0;  // the start (generation 0) does not merge
    for (const auto& g : state.generations)
      capped += g.cg_iterations >= m.cg_iterations, merges += g.cg_iterations > 0;
    if (capped < 2 || 2 * capped <= merges) return;
    cap = "merging.cg_iterations", limit = m.cg_iterations;
    where = fmt::format("{} of {} merges", capped, merges);
  }
  s.warnings.push_back(fmt::format("WARNING: merging's CG stopped at its cap ({} = {}) in {}, before its tolerance: "
                                   "the merged maps are not fully solved (a larger {} costs time per merge)",
                                   cap, limit, where, cap));
  fmt::print(stderr, "spire reconstruct: {}\n", s.warnings.back());
}

// The lead locks the folder (held until the command ends), clears an earlier run for
// --force, refuses one otherwise (checked again under the lock), and writes settings.toml.
void claim_folder(const Setup& s, bool force, std::optional<FolderLock>& lock) {
  lock.emplace(s.out);
  if (!s.resuming) {
    if (force)
      remove_earlier_run(s.out);
    else
      refuse_earlier_run(s.out);
  }
  prepare_folder(s.out, s.settings);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : " ") + l;
  return out;
}

// The images on the detector's cells for the loop (reconstruct/cells.hpp), or no images
// where the loop works on every pixel; `cells` says which. The memory estimate follows.
reconstruct::Data loop_cells(Setup& s, const reconstruct::Data& data, const reconstruct::State& state,
                             const distributed::Team& team, Summary::Cells& cells) {
  cells.voxels = reconstruct::cell_voxels_for(s.settings, data, reconstruct::loop_box(data, s.settings, state));
  if (cells.voxels == 0) return {};
  auto on_cells = reconstruct::on_cells(data, cells.voxels, s.settings.grid.n);
  cells.count = on_cells.n_pixels;
  s.shape.loop_pixels = cells.count;
  if (!s.memory.terms.empty()) s.memory = reconstruct::estimate_memory(s.settings, s.shape, team.layout(), team.rank());
  return on_cells;
}

// A back end over `data` on the loop's box `box` (0: as the loop chooses), reporting to `live`.
std::unique_ptr<reconstruct::Backend> backend_on(const reconstruct::Data& data, const reconstruct::Settings& settings,
                                                 const distributed::Team& team, Progress& live, int box) {
  auto backend = reconstruct::make_backend(data, settings, team);
  backend->report_to(live);
  backend->set_box(box);  // a resumed run's box (the loop sets it again; finish needs it too)
  return backend;
}

// After a loop on cells (its back end freed): a back end on every pixel, solved further
// (merging.final_cg_iterations), the final map merged there with the half maps' merges in
// the same pass. Returns the halves' autocorrelations.
std::array<std::vector<double>, 2> merge_kept_maps(Setup& s, const reconstruct::Data& data, reconstruct::State& state,
                                                   const distributed::Team& team, Progress& live,
                                                   std::unique_ptr<reconstruct::Backend>& backend,
                                                   Summary::Cells& cells, bool talk) {
  s.stage = "merging every pixel";
  auto every_pixel = s.settings;
  every_pixel.merging.cg_iterations = s.settings.merging.final_cg_iterations;
  backend = backend_on(data, every_pixel, team, live, state.box);
  const bool halves = s.settings.output.half_maps && !state.generations.empty();
  auto merged = reconstruct::merge_every_pixel(*backend, data, state, halves);
  cells.every_pixel_merge_s = merged.seconds, cells.every_pixel_cg_iterations = merged.cg_iterations;
  if (talk)
    fmt::print("  final merge from every pixel{}: {:.1f} s, {} CG iterations\n", halves ? " (and each half's)" : "",
               merged.seconds, merged.cg_iterations);
  return std::move(merged.halves);
}

// The run itself, after the checks: data, loop, finish, outputs.
int run_checked(Setup& s, const Options& o, const distributed::Team& team) {
  s.stage = "reading the data";
  auto data = reconstruct::load_data(s.data_path, s.settings.data, team);
  if (s.resuming) reconstruct::check_resumable(*s.checkpoint, s.checkpoint_path, data, s.data_path, s.settings);
  check_reference(s, data);
  if (s.reference) data.reference.assign(s.reference->map.data.begin(), s.reference->map.data.end());
  if (auto warning = reconstruct::sparse_warning(data.counts, data.photons_per_image, data.total, s.settings); !warning.empty())
    s.warnings.push_back(std::move(warning));
  if (team.lead())
    for (const auto& w : s.warnings) fmt::print(stderr, "spire reconstruct: {}\n", w);
  const bool talk = !o.quiet && team.lead();
  Progress live(talk ? stdout : nullptr, Progress::pipe_interval_from_environment());
  std::optional<FolderLock> lock;
  if (team.lead()) claim_folder(s, o.force, lock);
  bool to_run = true;
  auto state = starting_state(s, o.quiet, to_run);
  const int first_generation = state.next_generation;
  Summary::Cells cells;
  auto on_cells = loop_cells(s, data, state, team, cells);
  if (talk) print_header(data, s.settings, team, to_run, s.memory, cells);
  const reconstruct::Data& loop_data = on_cells.n_images > 0 ? on_cells : data;
  s.stage = "setting up the back end (reference set, sorted points, NUFFT and FFT grids)";
  auto backend = backend_on(loop_data, s.settings, team, live, state.box);
  s.stage = fmt::format("generation {}", first_generation);
  if (to_run) state = reconstruct::run(*backend, loop_data, s.settings, progress_of(s, data, team, live), &state);
  if (to_run && team.lead()) report_stop(s, state, team, talk);
  std::array<std::vector<double>, 2> merged_halves;  // by the every-pixel merge, for the half maps
  if (cells.count > 0) {
    backend.reset();  // the cells' grids, points and images go first
    on_cells = reconstruct::Data();
    merged_halves = merge_kept_maps(s, data, state, team, live, backend, cells, talk);
  }
  if (to_run && team.lead()) warn_of_cg_cap(s, state, cells.count > 0 ? cells.every_pixel_cg_iterations : -1);
  s.stage = "the final phasing and the half maps";
  Summary summary = finish(*backend, s, data, state, talk, merged_halves);
  summary.cells = cells;
  if (!team.lead()) return 0;
  summary.warning = joined(s.warnings);
  summary.memory_estimate = s.memory.total();
  summary.command_line = o.command_line;
  if (s.resuming) summary.resumed_from = {s.checkpoint_path, first_generation};
  s.stage = "writing the outputs";
  write_outputs(s.out, absolute_path(s.data_path), data, s.settings, state, summary, team, talk);
  return 0;
}

// --print-config: the schema (every key, default, meaning); with --config or overrides, the
// settings they give, validated (an error names the file or the key), as settings.toml holds them.
void print_config(Options& o) {
  if (!o.data.empty() && o.data.find('=') != std::string::npos) o.overrides.insert(o.overrides.begin(), o.data);
  if (o.config.empty() && o.overrides.empty()) {
    fmt::print("{}", reconstruct::schema_toml());
    return;
  }
  const auto settings = reconstruct::load_settings(o.config, o.overrides);
  fmt::print("# the settings in effect (spire reconstruct --print-config alone: every key, default and meaning)\n{}",
             reconstruct::to_toml(settings));
}

// Out of memory after all: which stage, and the estimate's largest term with its setting.
std::string out_of_memory(const Setup& s, const std::string& what) {
  if (s.memory.terms.empty()) return fmt::format("reconstruct: ran out of memory while {} ({})", s.stage, what);
  const auto& big = s.memory.largest();
  const auto available = reconstruct::available_memory();
  return fmt::format("reconstruct: ran out of memory while {} ({}); the estimate was {} for this process, most of it "
                     "{} ({}: {}), with {} available; {}",
                     s.stage, what, reconstruct::format_bytes(s.memory.total()), big.what, big.cause,
                     reconstruct::format_bytes(big.bytes),
                     available ? reconstruct::format_bytes(*available) : std::string("unknown"), big.advice);
}

// An allocation that fails inside an OpenMP region cannot reach the command's catch (the
// runtime calls std::terminate): the same message there, and exit code 2.
const Setup* g_running = nullptr;

void terminate_handler() {
  if (const auto e = std::current_exception(); e && g_running) {
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc& b) {
      fmt::print(stderr, "spire: error: {}\n", out_of_memory(*g_running, b.what()));
      std::_Exit(2);
    } catch (...) {
    }
  }
  std::abort();
}

}  // namespace

Runner add_reconstruct(CLI::App& app, const std::string& command_line) {
  auto* cmd = app.add_subcommand("reconstruct", "Reconstruct the density from a dataset (M-TIP)");
  auto o = std::make_shared<Options>();
  o->command_line = command_line;
  cmd->add_option("data", o->data,
                  "Image file (SpiniFEL/skopi HDF5, CXI, Dragonfly photons); with --resume: default the checkpoint's");
  cmd->add_option("overrides", o->overrides, "Settings as section.key=value");
  cmd->add_option("--config", o->config, "TOML settings file")->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Output folder")->capture_default_str();
  cmd->add_option("--reference", o->reference,
                  "Model map (MRC) for the FSC, checked before the run; none: no model map; default: the data "
                  "file's _model.mrc if present and of the run's grid");
  cmd->add_option("--resume", o->resume,
                  "Continue the run in DIR from DIR/checkpoint.h5 with DIR/settings.toml (overrides only of settings "
                  "that do not change the result: runtime.threads, generations.max, ...); outputs go to DIR");
  cmd->add_flag("--force", o->force,
                "Replace the earlier run in --out (its checkpoint, maps and generations/ are deleted); without it a "
                "fresh run refuses a folder that holds one");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->add_flag("--print-config", o->print_config,
                "Print every setting with its default and meaning, then exit; with --config or overrides, check them "
                "and print the settings in effect");
  add_open_options(*cmd, o->open);
  return [o, cmd] {
    add_shortcuts(*o);
    if (o->print_config) {
      print_config(*o);
      return 0;
    }
    Setup s = setup(*o, *cmd);
    // Under mpirun every rank reads only its range of the images; the lead alone prints and writes.
    const auto team = world_team(s.settings);
    check_before_reading(s, team);
    g_running = &s;
    std::set_terminate(terminate_handler);
    struct Done {
      ~Done() { g_running = nullptr; }
    } done;
    try {
      return run_checked(s, *o, team);
    } catch (const OutOfMemory& e) {
      fail(out_of_memory(s, e.what()));
    } catch (const std::bad_alloc& e) {
      fail(out_of_memory(s, e.what()));
    }
  };
}

}  // namespace spire::cli
