// spire simulate: a dataset from a PDB model (or the built-in molecule), and spire info.
#include <fmt/core.h>

#include <filesystem>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "io/dataset.hpp"
#include "io/isolated.hpp"
#include "reconstruct/data.hpp"
#include "simulate/simulate.hpp"

namespace spire::cli {
namespace {

struct SimulateOptions {
  simulate::SimulationSettings s;
  std::string out = "data.h5", noise = "poisson", model_map, method = "grid";
  bool quiet = false;
};

void print_summary(const SimulateOptions& o, const simulate::SimulationSummary& sum) {
  fmt::print("  model: {} atoms, {:.0f} electrons ({})\n", sum.atoms, sum.electrons,
             o.s.pdb.empty() ? "built-in test molecule" : o.s.pdb);
  fmt::print("  resolution at the edge {:.1f} A, corner {:.1f} A\n", sum.resolution_edge, sum.resolution_corner);
  fmt::print("  mean photons per image {:.1f}\n", sum.mean_photons);
  if (o.s.focus_fwhm > 0)
    fmt::print("  fluence at the particle: {:.3f} of the peak on average (focus FWHM {:.3g} m)\n", sum.mean_fluence,
               o.s.focus_fwhm);
  if (o.s.panels > 1 || sum.usable_pixels < sum.pixels || sum.bad_pixels > 0)
    fmt::print("  {} panels, {} pixels, {} behind the beamstop, {} NaN per image\n", o.s.panels, sum.pixels,
               sum.pixels - sum.usable_pixels, sum.bad_pixels);
  fmt::print("  {:.2f} s for the patterns: {:.0f} patterns/s\n", sum.seconds,
             static_cast<double>(o.s.n_images) / sum.seconds);
  fmt::print("  wrote {}\n", o.out);
  fmt::print("  the atoms' electron centroid ({:.3f}, {:.3f}, {:.3f}) A is the patterns' origin (model_centroid_angstrom)\n",
             sum.centroid[0], sum.centroid[1], sum.centroid[2]);
  if (!o.s.model_map.empty())
    fmt::print("  wrote {} (model electron density; its MRC origin places it on the PDB's atoms)\n", o.s.model_map);
}

}  // namespace

Runner add_simulate(CLI::App& app, const std::string& command_line) {
  auto* cmd = app.add_subcommand("simulate", "Simulate diffraction patterns of a molecule (SpiniFEL HDF5 layout)");
  auto o = std::make_shared<SimulateOptions>();
  auto& s = o->s;
  cmd->add_option("--pdb", s.pdb, "PDB model (default: the built-in test molecule)")->check(CLI::ExistingFile);
  cmd->add_option("--n-images", s.n_images, "Number of patterns")->capture_default_str()->check(CLI::Range(1L, 100000000L));
  cmd->add_option("--detector-pixels", s.detector_pixels, "Pixels per side of the square detector")->capture_default_str()->check(CLI::Range(2L, 8192L));
  cmd->add_option("--detector-width", s.detector_width, "Detector width [m]")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--detector-distance", s.detector_distance, "Sample-detector distance [m]")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--photon-energy", s.beam.photon_energy_ev, "Photon energy [eV]")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--photons", s.beam.photons_per_pulse, "Photons per pulse")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--beam-radius", s.beam.radius_m, "Radius of the focal spot [m]")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--noise", o->noise, "poisson or none")->capture_default_str()->check(CLI::IsMember({"poisson", "none"}));
  cmd->add_option("--seed", s.seed, "Random seed (orientations and noise)")->capture_default_str();
  cmd->add_option("--volume-size", s.volume_size, "Reference 3D intensity grid n (odd; 0: none)")->capture_default_str();
  cmd->add_option("--tolerance", s.tolerance, "Molecular transform tolerance (float NUFFT)")->capture_default_str()->check(CLI::Range(1e-6, 1e-1));
  cmd->add_option("--method", o->method, "Molecular transform per pixel: grid (tabulated once, interpolated) or nufft")->capture_default_str()->check(CLI::IsMember({"grid", "nufft"}));
  cmd->add_option("--focus-fwhm", s.focus_fwhm, "Gaussian focus FWHM [m]: each image's fluence is the profile at a particle position drawn uniformly over a disc (--position-radius); its peak is --photons over the --beam-radius spot (0: every image at that fluence)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--position-radius", s.position_radius, "Radius of the disc of particle positions [m] (0: the focus FWHM)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--panels", s.panels, "Detector panels: 1, 2 (top and bottom halves) or 4 (quadrants)")->capture_default_str()->check(CLI::IsMember({1, 2, 4}));
  cmd->add_option("--gap", s.gap, "Rows (and columns) of the square between the panels that no panel covers [pixels]")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--beamstop-radius", s.beamstop_radius, "Pixels within this radius of the beam read 0 and are masked [pixels]")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--bad-pixels", s.bad_pixels, "Fraction of the usable pixels written as NaN, drawn per image, in [0, 1)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--threads", s.threads, "OpenMP threads (0: all)")->capture_default_str();
  cmd->add_option("--out", o->out, "Output HDF5 file")->capture_default_str();
  cmd->add_option("--model-map", o->model_map, "Also write the model's electron density (MRC) here; default: OUT stem + _model.mrc");
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  return [o, command_line] {
    o->s.poisson_noise = o->noise == "poisson";
    o->s.method = o->method == "grid" ? simulate::PatternMethod::grid : simulate::PatternMethod::nufft;
    if (o->model_map.empty() && o->s.volume_size > 0) {
      const std::filesystem::path out(o->out);
      o->model_map = (out.parent_path() / out.stem()).string() + "_model.mrc";
    }
    o->s.model_map = o->model_map;
    if (o->s.volume_size != 0 && (o->s.volume_size < 3 || o->s.volume_size % 2 == 0))
      fail("--volume-size must be odd and at least 3 (or 0 for none), got " + std::to_string(o->s.volume_size));
    if (!o->quiet)
      fmt::print("spire simulate: {} images of {}x{} pixels, {} eV, {:.3g} photons on a {:.3g} m spot, noise {}\n",
                 o->s.n_images, o->s.detector_pixels, o->s.detector_pixels, o->s.beam.photon_energy_ev,
                 o->s.beam.photons_per_pulse, o->s.beam.radius_m, o->noise);
    Progress live(o->quiet ? nullptr : stdout, Progress::pipe_interval_from_environment());
    live.begin("simulating patterns", o->s.n_images);
    std::int64_t reported = 0;
    const auto progress = [&live, &reported](std::int64_t done, std::int64_t) {
      live.add(done - reported);
      reported = done;
    };
    const auto sum = simulate::simulate_dataset(o->s, o->out, command_line, progress);
    live.end();
    if (!o->quiet) print_summary(*o, sum);
    // The rule spire reconstruct warns by, for all the images written.
    if (const auto w = reconstruct::sparse_warning(o->s.poisson_noise, sum.mean_photons, o->s.n_images,
                                                   reconstruct::Settings{});
        !w.empty())
      fmt::print(stderr, "spire simulate: {}\n", w);
    return 0;
  };
}

Runner add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a dataset file");
  auto path = std::make_shared<std::string>();
  auto every = std::make_shared<bool>(false);
  auto options = std::make_shared<io::OpenOptions>();
  cmd->add_option("file", *path, "Image file: SpiniFEL/skopi HDF5, CXI, Dragonfly photons (.emc or HDF5)")->required();
  cmd->add_flag("--check-all", *every, "Read and validate every image (default: the first 1000)");
  add_open_options(*cmd, *options);
  return [path, every, options] {
    io::probe_images(*path, *options);
    fmt::print("{}", io::describe(*path, *options, *every));
    return 0;
  };
}

}  // namespace spire::cli
