// spire reconstruct: the M-TIP loop on a dataset file, results in one folder.
#include <fmt/core.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "distributed/team.hpp"
#include "io/dataset.hpp"
#include "io/mrc.hpp"
#include "reconstruct/reconstruct.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"

namespace spire::cli {
namespace {

// Written next to its final name and renamed: a crash never leaves half a file.
void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) fail_in(path.string(), "cannot write");
  }
  std::filesystem::rename(tmp, path);
}

io::Map centred_map(int n, double voxel, const std::vector<double>& values) {
  io::Map m;
  m.nx = m.ny = m.nz = n;
  m.voxel_size = voxel;
  const double origin = -(n / 2) * voxel;
  m.origin = {origin, origin, origin};
  m.data.assign(values.begin(), values.end());
  return m;
}

}  // namespace

Runner add_reconstruct(CLI::App& app) {
  auto* cmd = app.add_subcommand("reconstruct", "Reconstruct the density from a dataset (M-TIP)");
  struct Options {
    std::string data, config, out = "out", reference;
    std::vector<std::string> overrides;
    bool quiet = false, print_config = false;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("data", o->data, "HDF5 dataset (SpiniFEL/skopi layout)");
  cmd->add_option("overrides", o->overrides, "Settings as section.key=value");
  cmd->add_option("--config", o->config, "TOML settings file")->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Output folder")->capture_default_str();
  cmd->add_option("--reference", o->reference, "Model map (MRC) for the FSC; default: the data file's _model.mrc if present");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->add_flag("--print-config", o->print_config, "Print every setting with its default and meaning, then exit");
  return [o] {
    if (o->print_config) {
      fmt::print("{}", reconstruct::schema_toml());
      return 0;
    }
    if (o->data.empty()) fail("reconstruct: no dataset given (spire reconstruct DATA.h5 --out DIR)");
    // Settings and data are checked before any work starts.
    const auto st = reconstruct::load_settings(o->config, o->overrides);
    // Under mpirun: every rank reads only its contiguous range of the images; the lead
    // (rank 0) alone prints and writes.
    const auto team = distributed::Team::world(static_cast<int>(st.distribution.ranks_per_node));
    const bool lead = team.lead();
    io::DatasetReader reader(o->data);
    const auto& info = reader.info();
    reconstruct::Data data;
    std::int64_t n_images = static_cast<std::int64_t>(info.n_images);
    if (st.data.images > 0) {
      if (st.data.images > n_images)
        fail_in(o->data, fmt::format("data.images = {} but the file holds {} images", st.data.images, n_images));
      n_images = st.data.images;
    }
    if (n_images < team.size())
      fail_in(o->data, fmt::format("{} images for {} MPI ranks: every rank needs at least one", n_images, team.size()));
    const auto mine = team.images(n_images);
    data.n_images = mine.count;
    data.n_pixels = static_cast<std::int64_t>(info.pixels());
    data.images.resize(static_cast<std::size_t>(data.n_images * data.n_pixels));
    reader.read_images(static_cast<std::size_t>(mine.first), static_cast<std::size_t>(data.n_images), data.images.data());
    for (std::int64_t p = 0; p < data.n_pixels; ++p)
      data.pixels.push_back({info.pixel_position_reciprocal[3 * p], info.pixel_position_reciprocal[3 * p + 1],
                             info.pixel_position_reciprocal[3 * p + 2]});
    if (reader.has_orientations()) {
      const auto q = reader.read_orientations();
      for (std::int64_t i = mine.first; i < mine.first + data.n_images; ++i)
        data.truth.push_back({q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]});
    }
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
    const std::filesystem::path out(o->out);
    if (lead) std::filesystem::create_directories(out);
    const bool talk = !o->quiet && lead;
    if (talk) {
      fmt::print("spire reconstruct: {} images of {} pixels, {:.1f} photons per image, grid {}^3 of {:.2f} A{}\n",
                 n_images, data.n_pixels, photons, n, voxel,
                 st.orientations.oracle ? " -- ORACLE (true orientations, evaluation only)" : "");
      if (team.size() > 1)
        fmt::print("  {} MPI ranks on {} {}nodes, {} strategy, {} stream(s) per rank\n", team.size(), team.n_nodes(),
                   team.emulated_nodes() ? "emulated " : "", st.distribution.strategy, st.distribution.n_streams);
      fmt::print("  {:>3} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>10}\n", "gen", "stage", "slicing", "matching",
                 "merging", "phasing", "fit", "moved", "change", "phase", "median err");
    }
    const auto result = reconstruct::run(data, st, [&](const reconstruct::Generation& g, const reconstruct::State&) {
      if (talk) {
        fmt::print("  {:>3} {:>6} {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>8.2f}s {:>9.3g} {:>8.4f} {:>8.4f} {:>7.4f} {:>9}\n", g.index,
                   reconstruct::stage_name(g.stage), g.slicing_s, g.matching_s, g.merging_s, g.phasing_s, g.fit,
                   g.reassigned, g.change, g.fourier_error,
                   g.median_error_deg < 0 ? std::string("-") : fmt::format("{:.1f}°", g.median_error_deg));
        std::fflush(stdout);
      }
    }, nullptr, team);
    const auto orientations_found = team.gather(result.orientations);
    if (!lead) return 0;

    io::write_mrc((out / "density.mrc").string(), centred_map(n, voxel, result.density));
    io::write_mrc((out / "autocorrelation.mrc").string(), centred_map(n, voxel, result.autocorrelation));
    resolution::write_central_slices_png<double>((out / "density_slices.png").string(), n, result.density, 4);
    std::string orientations = "w,x,y,z\n";
    for (const auto& q : orientations_found) orientations += fmt::format("{},{},{},{}\n", q.w, q.x, q.y, q.z);
    write_text_atomically(out / "orientations.csv", orientations);
    write_text_atomically(out / "settings.toml", reconstruct::to_toml(st));

    nlohmann::json summary;
    summary["data"] = o->data;
    summary["images"] = n_images;
    summary["ranks"] = team.size();
    summary["nodes"] = team.n_nodes();
    summary["mean_photons_per_image"] = photons;
    summary["photon_counts"] = counts;
    if (sparse) summary["warning"] = sparse_warning;
    summary["voxel_angstrom"] = voxel;
    summary["oracle"] = st.orientations.oracle;
    for (const auto& g : result.generations)
      summary["generations"].push_back({{"slicing_s", g.slicing_s}, {"matching_s", g.matching_s},
                                        {"merging_s", g.merging_s}, {"phasing_s", g.phasing_s},
                                        {"stage", reconstruct::stage_name(g.stage)}, {"fit", g.fit},
                                        {"reassigned", g.reassigned},
                                        {"phasing_fourier_error", g.fourier_error},
                                        {"change", g.change}, {"cg_iterations", g.cg_iterations},
                                        {"median_orientation_error_deg", g.median_error_deg}});
    if (!reference.empty()) {
      const auto model = io::read_mrc(reference.string());
      if (model.nx != n || model.ny != n || model.nz != n || std::abs(model.voxel_size - voxel) > 1e-3 * voxel)
        fail_in(reference.string(), fmt::format("the model map is {}x{}x{} of {:.3f} A; the reconstruction is {}^3 of {:.3f} A",
                                                model.nx, model.ny, model.nz, model.voxel_size, n, voxel));
      const std::vector<double> ref(model.data.begin(), model.data.end());
      // From random orientations the density sits in an arbitrary frame: rotation, hand, shift.
      const auto aligned = resolution::align_rotation<double>(n, result.density, ref);
      const auto curve = resolution::fsc<double>(n, aligned.map, ref);
      resolution::write_fsc_csv((out / "fsc.csv").string(), curve, voxel);
      resolution::write_fsc_png((out / "fsc.png").string(), curve);
      auto at = [&](double t) -> nlohmann::json {
        const auto c = curve.crossing(t);
        return c ? nlohmann::json(resolution::shell_resolution(n, voxel, *c)) : nlohmann::json("beyond the grid edge");
      };
      summary["fsc_reference"] = reference.string();
      summary["correlation_with_reference"] = aligned.correlation;
      summary["resolution_fsc_0.5_angstrom"] = at(0.5);
      summary["resolution_fsc_0.143_angstrom"] = at(0.143);
      auto text = [](const nlohmann::json& j) {
        return j.is_number() ? fmt::format("{:.1f} A", j.get<double>()) : j.get<std::string>();
      };
      if (talk)
        fmt::print("  FSC against {}: 0.5 at {}, 0.143 at {} (correlation {:.3f})\n", reference.string(),
                   text(at(0.5)), text(at(0.143)), aligned.correlation);
    }
    write_text_atomically(out / "summary.json", summary.dump(2) + "\n");
    if (talk) fmt::print("  wrote {}/ (density.mrc, autocorrelation.mrc, fsc, slices, summary.json)\n", out.string());
    return 0;
  };
}

}  // namespace spire::cli
