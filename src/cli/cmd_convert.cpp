// spire convert: images from any file spire reads (io/images.hpp) into the SpiniFEL/skopi
// layout or Dragonfly's photon files with their detector file (io/dragonfly.hpp).
//
// Contract:
//  - The target is --to, or OUT's extension: .emc -> dragonfly-emc, .h5 -> spinifel
//    (Dragonfly's HDF5 photons need --to dragonfly-h5). Converting to Dragonfly also writes
//    the detector file: --detector-out, default OUT's stem + ".det.h5" (HDF5 form; a name not
//    ending in .h5 gets the text form).
//  - Images stream through in blocks (--block images, default what fits in 256 MiB): the
//    file is never held in memory whole.
//  - OUT (and the detector file) are never replaced unless --force; IN is never OUT. Every
//    file is written to PATH.tmp-<pid> and renamed when complete.
//  - To spinifel: images, positions (1/m), mask, photon energy, and orientations and
//    reference volume when IN has them. To Dragonfly: photon counts only (a value that is
//    not a whole number >= 0 is an error naming the image and pixel); orientations and
//    volume are left out, with a note.
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/isolated.hpp"
#include "io/dragonfly.hpp"

namespace spire::cli {
namespace {

struct ConvertOptions {
  std::string in, out, to, detector_out;
  io::OpenOptions open;
  std::size_t block = 0;
  bool force = false, quiet = false;
};

io::Format target_of(const ConvertOptions& o) {
  if (!o.to.empty()) {
    const auto f = value_of(io::kFormatNames, o.to);
    if (!f || *f == io::Format::cxi) fail("--to " + o.to + ": expected spinifel, dragonfly-emc or dragonfly-h5");
    return *f;
  }
  const auto ext = std::filesystem::path(o.out).extension();
  if (ext == ".emc") return io::Format::dragonfly_emc;
  if (ext == ".h5") return io::Format::spinifel;
  fail_in(o.out, "cannot tell the output format from the name (.emc: Dragonfly, .h5: SpiniFEL): give --to "
                 "spinifel, dragonfly-emc or dragonfly-h5");
}

void refuse_overwrite(const std::string& path, const ConvertOptions& o) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::equivalent(path, o.in, ec))
    fail_in(path, "is the input file: write the conversion to another file");
  if (std::filesystem::exists(path, ec) && !o.force) fail_in(path, "exists (give --force to replace it)");
}

std::size_t block_of(const ConvertOptions& o, const io::DatasetInfo& info) {
  if (o.block) return o.block;
  constexpr std::size_t kBlockBytes = std::size_t(256) << 20;
  return std::max<std::size_t>(1, kBlockBytes / (sizeof(float) * std::max<std::size_t>(1, info.pixels())));
}

// Feeds every image to write(first, count, images), block by block.
template <typename Write>
void stream_images(const io::ImageFile& file, std::size_t block, Write write) {
  const std::size_t n = file.info().n_images, pixels = file.info().pixels();
  std::vector<float> images(std::min(block, n) * pixels);
  for (std::size_t first = 0; first < n; first += block) {
    const std::size_t count = std::min(block, n - first);
    file.read_images(first, count, images.data());
    write(first, count, images.data());
  }
}

void to_spinifel(const io::ImageFile& file, const ConvertOptions& o) {
  const auto orientations = file.has_orientations() ? file.read_orientations() : std::vector<double>{};
  const auto volume = file.has_volume() ? file.read_volume() : io::Volume{};
  io::DatasetInfo info = file.info();
  if (!info.photon_energy && o.open.photon_energy > 0) info.photon_energy = o.open.photon_energy;
  io::DatasetWriter writer(o.out, info, orientations, volume);
  stream_images(file, block_of(o, info),
                [&](std::size_t first, std::size_t count, const float* images) { writer.write_images(first, count, images); });
  writer.finish();
}

double photon_energy_of(const io::DatasetInfo& info, const ConvertOptions& o) {
  const double given = o.open.photon_energy;
  if (info.photon_energy && given > 0 && std::abs(*info.photon_energy - given) > 1e-9 * given)
    fail_in(o.in, fmt::format("holds a photon energy of {} eV, --photon-energy says {} eV: leave --photon-energy out",
                              *info.photon_energy, given));
  if (info.photon_energy) return *info.photon_energy;
  if (given > 0) return given;
  fail_in(o.in, "holds no photon energy, which Dragonfly's detector file needs: give --photon-energy EV");
}

// The photons first (their values are checked as they go), then the detector file.
void to_dragonfly(const io::ImageFile& file, io::Format target, const ConvertOptions& o) {
  const auto& info = file.info();
  const double photon_energy = photon_energy_of(info, o);
  io::DragonflyWriter writer(o.out, target, info.pixels(), info.n_images);
  stream_images(file, block_of(o, info),
                [&](std::size_t, std::size_t count, const float* images) { writer.write_images(count, images); });
  writer.finish();
  io::write_dragonfly_detector(o.detector_out, info, photon_energy);
}

int run_convert(ConvertOptions& o) {
  const io::Format target = target_of(o);
  const bool dragonfly = target != io::Format::spinifel;
  if (dragonfly && o.detector_out.empty()) {
    const std::filesystem::path out(o.out);
    o.detector_out = (out.parent_path() / out.stem()).string() + ".det.h5";
  }
  refuse_overwrite(o.out, o);
  if (dragonfly) refuse_overwrite(o.detector_out, o);
  io::probe_images(o.in, o.open);
  const auto file = io::open_images(o.in, o.open);
  const auto& info = file->info();
  if (!o.quiet)
    fmt::print("spire convert: {} ({}, {} images of {} pixels) -> {} ({})\n", o.in, name_of(io::kFormatNames, file->format()),
               info.n_images, info.pixels(), o.out, name_of(io::kFormatNames, target));
  if (dragonfly)
    to_dragonfly(*file, target, o);
  else
    to_spinifel(*file, o);
  if (o.quiet) return 0;
  if (dragonfly && (file->has_orientations() || file->has_volume()))
    fmt::print("  left out: the true orientations and reference volume (Dragonfly's photon files hold neither)\n");
  fmt::print("  wrote {}\n", o.out);
  if (dragonfly) fmt::print("  wrote {} (Dragonfly detector)\n", o.detector_out);
  return 0;
}

}  // namespace

Runner add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert images between the SpiniFEL/skopi layout and Dragonfly's files");
  auto o = std::make_shared<ConvertOptions>();
  cmd->add_option("in", o->in, "Input: SpiniFEL/skopi HDF5, CXI, Dragonfly photons (.emc or HDF5, with --detector)")->required();
  cmd->add_option("out", o->out, "Output file")->required();
  cmd->add_option("--to", o->to, "spinifel, dragonfly-emc or dragonfly-h5 (default from OUT: .emc Dragonfly, .h5 SpiniFEL)");
  cmd->add_option("--detector-out", o->detector_out,
                  "Dragonfly detector file to write (default: OUT's stem + .det.h5; a name not ending in .h5 gets the text form)");
  cmd->add_option("--block", o->block, "Images per block read and written (default: what fits in 256 MiB)")
      ->check(CLI::Range(std::size_t(1), std::size_t(1) << 40));
  cmd->add_flag("--force", o->force, "Replace OUT (and the detector file) if they exist");
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  add_open_options(*cmd, o->open);
  return [o] { return run_convert(*o); };
}

}  // namespace spire::cli
