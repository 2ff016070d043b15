#include <fmt/core.h>

#include <fstream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/files.hpp"

namespace spire::cli {

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = temporary_path(path.string());
  std::error_code ec;
  {
    std::ofstream out(tmp);
    out << text;
    out.close();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      fail_in(path.string(), "cannot write " + tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    fail_in(path.string(), "cannot move " + tmp + " into place: " + why);
  }
}

namespace {

std::string short_resolution(const resolution::ResolutionAt& r) {
  return fmt::format("{}{:.1f} Å", r.beyond_grid_edge ? "< " : r.below_first_shell ? "> " : "", r.angstrom);
}

}  // namespace

std::string plot_resolutions(const resolution::ResolutionAt& at_05, const resolution::ResolutionAt& at_0143) {
  return fmt::format("0.5: {}, 0.143: {}", short_resolution(at_05), short_resolution(at_0143));
}

void put_resolution(nlohmann::json& summary, const std::string& key, const resolution::ResolutionAt& r) {
  summary[key + "_angstrom"] = r.angstrom;
  summary[key + "_beyond_grid_edge"] = r.beyond_grid_edge;
  summary[key + "_below_first_shell"] = r.below_first_shell;
}

}  // namespace spire::cli

namespace spire::cli {

void add_open_options(CLI::App& cmd, io::OpenOptions& options) {
  cmd.add_option("--detector", options.detector, "Dragonfly detector file (needed for Dragonfly photon files)");
  cmd.add_option("--photon-energy", options.photon_energy,
                 "Photon energy in eV, for files that do not store it (Dragonfly)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--mask", options.mask, "Mask file: HDF5 dataset 'mask' (P,H,W) or (H,W), nonzero = usable pixel");
}

}  // namespace spire::cli
