// spire reconstruct: the M-TIP loop on a dataset file, results in one folder; a checkpoint
// after every generation lets `--resume DIR` continue an interrupted run.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "distributed/team.hpp"
#include "io/dataset.hpp"
#include "io/mrc.hpp"
#include "phasing/phasing.hpp"
#include "reconstruct/checkpoint.hpp"
#include "reconstruct/orientations_file.hpp"
#include "reconstruct/reconstruct.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"

namespace spire::cli {
namespace {

io::Map centred_map(int n, double voxel, const std::vector<double>& values) {
  io::Map m;
  m.nx = m.ny = m.nz = n;
  m.voxel_size = voxel;
  const double origin = -(n / 2) * voxel;
  m.origin = {origin, origin, origin};
  m.data.assign(values.begin(), values.end());
  return m;
}

// A model's three maps in `dir`: density.mrc (phased), autocorrelation.mrc (merged) and
// intensity.mrc (the merged model's intensity, Re FFT of the autocorrelation, centred; its
// voxels are frequency indices k = -n/2..n/2, s = k / (n voxel) in 1/Angstrom).
void write_maps(const std::filesystem::path& dir, int n, double voxel, const reconstruct::State& state,
                const reconstruct::Settings& st) {
  io::write_mrc((dir / "density.mrc").string(), centred_map(n, voxel, state.density));
  io::write_mrc((dir / "autocorrelation.mrc").string(), centred_map(n, voxel, state.autocorrelation));
  const auto intensity = phasing::intensity_of<double>(n, state.autocorrelation, static_cast<int>(st.runtime.threads),
                                                       parse_planning(st.runtime.fft_planning));
  io::write_mrc((dir / "intensity.mrc").string(), centred_map(n, 1.0, intensity));
}

// Removes OUT/generations/NNN/ folders an earlier run left (a fresh run starts at 000).
void remove_generation_folders(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::vector<std::filesystem::path> old;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      old.push_back(e.path());
  }
  for (const auto& p : old) std::filesystem::remove_all(p);
}

}  // namespace

Runner add_reconstruct(CLI::App& app) {
  auto* cmd = app.add_subcommand("reconstruct", "Reconstruct the density from a dataset (M-TIP)");
  struct Options {
    std::string data, config, out = "out", reference, resume;
    std::vector<std::string> overrides;
    bool quiet = false, print_config = false;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("data", o->data, "HDF5 dataset (SpiniFEL/skopi layout); with --resume: default the checkpoint's");
  cmd->add_option("overrides", o->overrides, "Settings as section.key=value");
  cmd->add_option("--config", o->config, "TOML settings file")->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Output folder")->capture_default_str();
  cmd->add_option("--reference", o->reference, "Model map (MRC) for the FSC; default: the data file's _model.mrc if present");
  cmd->add_option("--resume", o->resume,
                  "Continue the run in DIR from DIR/checkpoint.h5 with DIR/settings.toml (overrides only of settings "
                  "that do not change the result: runtime.threads, generations.max, ...); outputs go to DIR");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->add_flag("--print-config", o->print_config, "Print every setting with its default and meaning, then exit");
  return [o, cmd] {
    if (o->print_config) {
      fmt::print("{}", reconstruct::schema_toml());
      return 0;
    }
    // Settings, data and the checkpoint are checked before any work starts.
    const bool resuming = !o->resume.empty();
    std::filesystem::path out(o->out);
    std::string checkpoint_path;
    std::optional<reconstruct::Checkpoint> checkpoint;
    reconstruct::Settings st;
    if (resuming) {
      if (cmd->count("--config") > 0)
        fail("reconstruct: --resume DIR takes its settings from DIR/settings.toml; --config cannot change them");
      if (cmd->count("--out") > 0 && std::filesystem::weakly_canonical(o->out) != std::filesystem::weakly_canonical(o->resume))
        fail("reconstruct: --resume DIR writes its results to DIR; --out cannot send them elsewhere");
      out = o->resume;
      // `--resume DIR key=value ...`: the first override lands where DATA would.
      if (!o->data.empty() && o->data.find('=') != std::string::npos && !std::filesystem::exists(o->data)) {
        o->overrides.insert(o->overrides.begin(), o->data);
        o->data.clear();
      }
      checkpoint_path = (out / "checkpoint.h5").string();
      if (!std::filesystem::exists(checkpoint_path))
        fail_in(checkpoint_path, "no checkpoint to resume from (spire reconstruct writes it after every generation)");
      checkpoint = reconstruct::read_checkpoint(checkpoint_path);
      const auto settings_path = out / "settings.toml";
      if (std::filesystem::exists(settings_path)) {
        st = reconstruct::load_settings(settings_path.string(), o->overrides);
      } else {
        fmt::print(stderr, "spire reconstruct: {} is missing; taking the settings the checkpoint holds\n", settings_path.string());
        st = reconstruct::load_settings_text(checkpoint->run.settings, checkpoint_path + " (its settings)", o->overrides);
      }
      for (const auto& ov : o->overrides) {
        const std::string key = ov.substr(0, ov.find('='));
        if (!reconstruct::changes_result(key)) continue;
        std::string neutral;
        for (const auto& k : reconstruct::result_neutral_settings()) neutral += (neutral.empty() ? "" : ", ") + k;
        fail_in("command line", fmt::format("'{}': {} changes the result, so a resumed run keeps it; --resume may change "
                                            "only {} (start a new run in another folder to change {})",
                                            ov, key, neutral, key));
      }
      if (o->data.empty()) {
        o->data = checkpoint->run.data_path;
        if (!std::filesystem::exists(o->data))
          fail_in(o->data, "no such file (the data file " + checkpoint_path + " names; give its new path as DATA)");
      }
    } else {
      if (o->data.empty()) fail("reconstruct: no dataset given (spire reconstruct DATA.h5 --out DIR)");
      st = reconstruct::load_settings(o->config, o->overrides);
    }
    const std::string data_path = std::filesystem::absolute(o->data).lexically_normal().string();
    // Under mpirun: every rank reads only its contiguous range of the images; the lead
    // (rank 0) alone prints and writes.
    const auto team = distributed::Team::world(static_cast<int>(st.distribution.ranks_per_node));
    const bool lead = team.lead();
    // A checkpoint holds one process's State (every image's orientation, a fingerprint of all
    // the data): several ranks neither write one nor resume from one.
    if (resuming && team.size() > 1)
      fail(fmt::format("reconstruct: --resume runs on one process, not under mpirun with {} ranks "
                       "(resume without mpirun, or start a new run in another folder)",
                       team.size()));
    io::DatasetReader reader(o->data);
    const auto& info = reader.info();
    reconstruct::Data data;
    const auto in_file = static_cast<std::int64_t>(info.n_images);
    if (st.data.first >= in_file)
      fail_in(o->data, fmt::format("data.first = {} but the file holds {} images (0 to {})", st.data.first, in_file,
                                   in_file - 1));
    std::int64_t n_images = in_file - st.data.first;
    if (st.data.images > 0) {
      if (st.data.images > n_images)
        fail_in(o->data, fmt::format("data.first = {} and data.images = {} but the file holds {} images",
                                     st.data.first, st.data.images, in_file));
      n_images = st.data.images;
    }
    if (n_images < team.size())
      fail_in(o->data, fmt::format("{} images for {} MPI ranks: every rank needs at least one", n_images, team.size()));
    const auto mine = team.images(n_images);
    data.n_images = mine.count;
    data.n_pixels = static_cast<std::int64_t>(info.pixels());
    data.images.resize(static_cast<std::size_t>(data.n_images * data.n_pixels));
    const std::int64_t first = st.data.first + mine.first;  // this rank's first image in the file
    reader.read_images(static_cast<std::size_t>(first), static_cast<std::size_t>(data.n_images), data.images.data());
    for (std::int64_t p = 0; p < data.n_pixels; ++p)
      data.pixels.push_back({info.pixel_position_reciprocal[3 * p], info.pixel_position_reciprocal[3 * p + 1],
                             info.pixel_position_reciprocal[3 * p + 2]});
    if (reader.has_orientations()) {
      const auto q = reader.read_orientations();
      for (std::int64_t i = first; i < first + data.n_images; ++i)
        data.truth.push_back({q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]});
    }
    if (resuming) reconstruct::check_resumable(*checkpoint, checkpoint_path, data, o->data, st);
    double photons = 0;
    bool counts = true;  // photon counts (integers), not noise-free expected intensities
    for (float v : data.images) photons += v, counts = counts && v == std::round(v);
    photons = team.sum(photons) / static_cast<double>(n_images);
    counts = team.sum(counts ? 0.0 : 1.0) == 0;
    // Too few photons per image carry no orientation: say so instead of returning noise.
    const bool sparse = counts && photons < st.orientations.min_photons && !st.orientations.oracle;
    const std::string sparse_warning =
        sparse ? fmt::format("WARNING: {:.1f} photons per image on average, below orientations.min_photons = {:g}: "
                             "too few to orient the images (README, \"Signal and convergence\"); expect a "
                             "featureless map, not the molecule. More fluence (smaller spot) or more photons per "
                             "image are needed.",
                             photons, st.orientations.min_photons)
               : std::string();
    double s_ext = 0;
    for (const auto& p : data.pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
    const int n = static_cast<int>(st.grid.n);
    const double voxel = 1e10 / (2 * s_ext);  // Angstrom (s in 1/m)

    std::filesystem::path reference = o->reference;
    if (reference.empty()) {
      const std::filesystem::path d(o->data);
      const auto guess = d.parent_path() / (d.stem().string() + "_model.mrc");
      if (std::filesystem::exists(guess)) reference = guess;
    }
    if (sparse && lead) fmt::print(stderr, "spire reconstruct: {}\n", sparse_warning);
    const bool talk = !o->quiet && lead;
    const bool checkpoints = team.size() == 1;  // see above: one process only
    if (lead) {
      std::filesystem::create_directories(out);
      if (!resuming) {  // a fresh run in a used folder: the earlier run's checkpoint and maps go
        std::filesystem::remove(out / "checkpoint.h5");
        remove_generation_folders(out / "generations");
      }
      write_text_atomically(out / "settings.toml", reconstruct::to_toml(st));  // --resume reads it
    }
    const auto identity = checkpoints ? reconstruct::identify(data, st, data_path) : reconstruct::RunIdentity{};
    reconstruct::State state;
    bool to_run = true;
    if (resuming) {  // one process (checked above)
      state = std::move(checkpoint->state);
      to_run = reconstruct::extend(state, st);
      const int done = state.next_generation;
      if (!to_run)
        fmt::print("spire reconstruct: {}: the run {} after {} generation{}; writing its outputs again\n", checkpoint_path,
                   state.converged  ? std::string("converged")
                   : state.finished ? fmt::format("finished (generations.max = {})", st.generations.max)
                                    : fmt::format("has no generation left (generations.max = {})", st.generations.max),
                   done, done == 1 ? "" : "s");
      else if (!o->quiet)
        fmt::print("spire reconstruct: resuming {} after generation {}\n", checkpoint_path, done - 1);
    }
    const int first_generation = state.next_generation;
    if (talk) {
      fmt::print("spire reconstruct: {} images of {} pixels, {:.1f} photons per image, grid {}^3 of {:.2f} A{}\n",
                 n_images, data.n_pixels, photons, n, voxel,
                 st.orientations.oracle ? " -- ORACLE (true orientations, evaluation only)" : "");
      if (team.size() > 1)
        fmt::print("  {} MPI ranks on {} {}nodes, {} strategy, {} stream(s) per rank (no checkpoints)\n", team.size(),
                   team.n_nodes(), team.emulated_nodes() ? "emulated " : "", st.distribution.strategy,
                   st.distribution.n_streams);
      if (to_run)
        fmt::print("  {:>3} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>10}\n", "gen", "stage",
                   "slicing", "matching", "local", "merging", "phasing", "fit", "moved", "change", "phase", "median err");
    }
    // Called on every rank after every generation, with the same maps on all of them.
    auto progress = [&](const reconstruct::Generation& g, const reconstruct::State& s) {
      if (talk) {
        fmt::print("  {:>3} {:>6} {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>9.3g} {:>8.4f} {:>8.4f} {:>7.4f} {:>9}\n",
                   g.index, reconstruct::stage_name(g.stage), g.slicing_s, g.matching_s, g.refining_s, g.merging_s,
                   g.phasing_s, g.fit,
                   g.reassigned, g.change, g.fourier_error,
                   g.median_error_deg < 0 ? std::string("-") : fmt::format("{:.1f}°", g.median_error_deg));
        std::fflush(stdout);
      }
      if (st.output.every_generation && lead) {
        const auto dir = out / "generations" / fmt::format("{:03d}", g.index);
        std::filesystem::create_directories(dir);
        write_maps(dir, n, voxel, s, st);
      }
      // Last, so that a checkpoint never claims a generation whose maps are missing.
      if (checkpoints) reconstruct::write_checkpoint((out / "checkpoint.h5").string(), s, identity);
    };
    const auto result = to_run ? reconstruct::run(data, st, progress, &state, team) : state;
    const auto orientations_found = team.gather(result.orientations);  // every rank's, on the lead
    // Half-data maps (collective): every rank merges its images of each half.
    // Phasing seeds of the final maps: after the last generation's.
    const std::uint64_t final_seed =
        st.runtime.seed + static_cast<std::uint64_t>(result.generations.empty() ? 0 : result.generations.back().index);
    std::optional<reconstruct::HalfMaps> halves;
    double halves_s = 0;
    if (st.output.half_maps && !result.generations.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      halves = reconstruct::half_maps(data, st, result.orientations, final_seed, team);
      halves_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (!lead) return 0;

    // The final density: the mean of phasing.final_average phasing runs (reconstruct.hpp).
    auto final_state = result;
    reconstruct::AveragedPhasing averaged;
    double averaged_s = 0;
    if (!result.autocorrelation.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      averaged = reconstruct::phase_averaged(st, result.autocorrelation, final_seed);
      final_state.density = averaged.density;
      averaged_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (talk)
        fmt::print("  final density: mean of {} phasing runs (Fourier errors {:.4f} to {:.4f}), {:.1f} s\n",
                   averaged.fourier_errors.size(), averaged.fourier_errors.front(), averaged.fourier_errors.back(),
                   averaged_s);
    }
    write_maps(out, n, voxel, final_state, st);
    resolution::write_central_slices_png<double>((out / "density_slices.png").string(), n, final_state.density, 4);
    std::string orientations = "w,x,y,z\n";
    for (const auto& q : orientations_found) orientations += fmt::format("{},{},{},{}\n", q.w, q.x, q.y, q.z);
    write_text_atomically(out / "orientations.csv", orientations);
    reconstruct::write_orientations((out / "orientations.h5").string(), orientations_found, st, data_path,
                                    static_cast<std::int64_t>(result.generations.size()));

    nlohmann::json summary;
    summary["data"] = data_path;
    summary["images"] = n_images;
    summary["ranks"] = team.size();
    summary["nodes"] = team.n_nodes();
    summary["mean_photons_per_image"] = photons;
    summary["photon_counts"] = counts;
    summary["local_tolerance"] = reconstruct::local_tolerance(st, counts);  // what auto chose
    summary["orientations_metric"] =  // what orientations.metric = auto chose (reconstruct.cpp)
        st.orientations.metric != "auto" ? st.orientations.metric : counts ? "poisson" : "euclidean";
    if (sparse) summary["warning"] = sparse_warning;
    summary["voxel_angstrom"] = voxel;
    summary["final_phasing"] = {{"runs_averaged", averaged.fourier_errors.size()},
                                {"fourier_errors", averaged.fourier_errors},
                                {"seconds", averaged_s}};
    summary["oracle"] = st.orientations.oracle;
    for (const auto& g : result.generations)
      summary["generations"].push_back({{"slicing_s", g.slicing_s}, {"matching_s", g.matching_s},
                                        {"local_refinement_s", g.refining_s},
                                        {"merging_s", g.merging_s}, {"phasing_s", g.phasing_s},
                                        {"stage", reconstruct::stage_name(g.stage)}, {"fit", g.fit},
                                        {"reassigned", g.reassigned},
                                        {"phasing_fourier_error", g.fourier_error},
                                        {"change", g.change}, {"cg_iterations", g.cg_iterations},
                                        {"median_orientation_error_deg", g.median_error_deg}});
    double slicing_s = 0, matching_s = 0, local_s = 0, merging_s = 0, phasing_s = 0;
    for (const auto& g : result.generations)
      slicing_s += g.slicing_s, matching_s += g.matching_s, local_s += g.refining_s, merging_s += g.merging_s,
          phasing_s += g.phasing_s;
    summary["totals"] = {{"generations", result.generations.size()}, {"slicing_s", slicing_s},
                         {"matching_s", matching_s}, {"local_refinement_s", local_s}, {"merging_s", merging_s},
                         {"phasing_s", phasing_s},
                         {"all_stages_s", slicing_s + matching_s + local_s + merging_s + phasing_s}};
    summary["finished"] = result.finished;
    summary["converged"] = result.converged;
    if (resuming) summary["resumed_from"] = {{"checkpoint", checkpoint_path}, {"generation", first_generation}};
    if (!data.truth.empty() && !result.generations.empty())
      summary["evaluation_only"] = {
          {"note", "measured against the data file's true orientations, which the reconstruction does not see "
                   "(except with orientations.oracle)"},
          {"median_orientation_error_deg", result.generations.back().median_error_deg}};
    summary["intensity_voxel_inverse_angstrom"] = 1.0 / (n * voxel);
    std::vector<resolution::NamedCurve> curves;
    if (!reference.empty()) {
      const auto model = io::read_mrc(reference.string());
      if (model.nx != n || model.ny != n || model.nz != n || std::abs(model.voxel_size - voxel) > 1e-3 * voxel)
        fail_in(reference.string(), fmt::format("the model map is {}x{}x{} of {:.3f} A; the reconstruction is {}^3 of {:.3f} A",
                                                model.nx, model.ny, model.nz, model.voxel_size, n, voxel));
      const std::vector<double> ref(model.data.begin(), model.data.end());
      // From random orientations the density sits in an arbitrary frame: rotation, hand, shift.
      const auto aligned = resolution::align_rotation<double>(n, final_state.density, ref);
      const auto curve = resolution::fsc<double>(n, aligned.map, ref);
      curves.push_back({"reference", curve});
      summary["fsc_reference"] = reference.string();
      summary["correlation_with_reference"] = aligned.correlation;
      const auto at_05 = resolution::resolution_at(curve, voxel, 0.5);
      const auto at_0143 = resolution::resolution_at(curve, voxel, 0.143);
      put_resolution(summary, "resolution_fsc_0.5", at_05);
      put_resolution(summary, "resolution_fsc_0.143", at_0143);
      if (talk)
        fmt::print("  FSC against {}: 0.5: {}, 0.143: {} (correlation {:.3f})\n", reference.string(),
                   describe(at_05), describe(at_0143), aligned.correlation);
    }
    if (halves) {
      // Both halves are merged in the run's frame; phasing leaves each its own shift and hand.
      const auto& h = halves->density;
      io::write_mrc((out / "half_1.mrc").string(), centred_map(n, voxel, h[0]));
      io::write_mrc((out / "half_2.mrc").string(), centred_map(n, voxel, h[1]));
      const auto aligned = resolution::align<double>(static_cast<int>(n), h[1], h[0]);
      const auto curve = resolution::fsc<double>(static_cast<int>(n), aligned.map, h[0]);
      curves.push_back({"half_data", curve});
      summary["half_data"] = {
          {"note", "even and odd images merged and phased apart at the final orientations; the halves share the "
                   "orientations (found with all the images), so this is optimistic next to independent halves"},
          {"maps", {"half_1.mrc", "half_2.mrc"}},
          {"seconds", halves_s},
          {"correlation", aligned.correlation}};
      const auto at_05 = resolution::resolution_at(curve, voxel, 0.5);
      const auto at_0143 = resolution::resolution_at(curve, voxel, 0.143);
      put_resolution(summary, "resolution_half_data_fsc_0.5", at_05);
      put_resolution(summary, "resolution_half_data_fsc_0.143", at_0143);
      if (talk)
        fmt::print("  half-data FSC (even/odd images, same orientations): 0.5: {}, 0.143: {} ({:.1f} s)\n",
                   describe(at_05), describe(at_0143), halves_s);
    }
    if (!curves.empty()) {
      resolution::write_fsc_csv((out / "fsc.csv").string(), curves, voxel);
      resolution::write_fsc_png((out / "fsc.png").string(), curves);
    }
    write_text_atomically(out / "summary.json", summary.dump(2) + "\n");
    if (talk)
      fmt::print("  wrote {}/ (density.mrc, intensity.mrc, autocorrelation.mrc, {}fsc (blue: against the model, "
                 "orange: half-data), slices, orientations.h5/csv, {}{}summary.json)\n",
                 out.string(), halves ? "half_1.mrc, half_2.mrc, " : "", checkpoints ? "checkpoint.h5, " : "",
                 st.output.every_generation ? "generations/, " : "");
    return 0;
  };
}

}  // namespace spire::cli
