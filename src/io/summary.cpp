// `spire info`: a one-screen summary of any image file (images.hpp's describe).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "io/images.hpp"

namespace spire::io {

namespace {

double s_of(const DatasetInfo& info, std::size_t p) {
  const float* q = &info.pixel_position_reciprocal[3 * p];
  return std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2]);
}

// The smallest |s| on the detector's outer border, which bounds the resolution reached in
// every direction: the border of the assembled picture (pixel_index_map), or of the one
// panel. NaN for several panels without an index map.
double border_s(const DatasetInfo& info) {
  const bool mapped = !info.pixel_index_map.empty();
  if (!mapped && info.panels > 1) return std::numeric_limits<double>::quiet_NaN();
  const int last_row = mapped ? info.assembled_height - 1 : info.height - 1;
  const int last_col = mapped ? info.assembled_width - 1 : info.width - 1;
  double s = std::numeric_limits<double>::infinity();
  for (std::size_t p = 0; p < info.pixels(); ++p) {
    const auto w = static_cast<std::size_t>(info.width);
    const int r = mapped ? info.pixel_index_map[2 * p] : static_cast<int>(p / w);
    const int c = mapped ? info.pixel_index_map[2 * p + 1] : static_cast<int>(p % w);
    if (r == 0 || c == 0 || r == last_row || c == last_col) s = std::min(s, s_of(info, p));
  }
  return s;
}

std::string detector_lines(const DatasetInfo& info) {
  double s_min = std::numeric_limits<double>::infinity(), s_max = 0;
  for (std::size_t p = 0; p < info.pixels(); ++p) {
    s_min = std::min(s_min, s_of(info, p));
    s_max = std::max(s_max, s_of(info, p));
  }
  // |s| = 2 sin(theta) / lambda, so the resolution is d = 1/|s| (1/m -> Angstrom: 1e10).
  auto angstrom = [](double s) { return s > 0 ? fmt::format("{:.1f} A", 1e10 / s) : std::string("infinite"); };
  const double edge = border_s(info);
  std::string out = fmt::format("  images        {} of {}{} x {} pixels (H x W)\n", info.n_images,
                                info.panels > 1 ? fmt::format("{} panels of ", info.panels) : "", info.height,
                                info.width);
  if (!info.pixel_index_map.empty())
    out += fmt::format("  index map     assembles a {} x {} picture\n", info.assembled_height, info.assembled_width);
  out += fmt::format("  |s| range     {:.4g} .. {:.4g} 1/A\n", s_min * 1e-10, s_max * 1e-10);
  out += fmt::format("  resolution    {} at the edge, {} at the corner (lowest {})\n",
                     std::isnan(edge) ? std::string("unknown (no pixel_index_map)") : angstrom(edge),
                     angstrom(s_max), angstrom(s_min));
  return out;
}

// What an optional dataset that was not read is: "absent", or "not used (ignored below)".
std::string absent_words(const DatasetInfo& info, const std::string& name) {
  for (const std::string& note : info.ignored)
    if (note.starts_with(name + ": ")) return "not used (ignored below)";
  return "absent";
}

// The range of a per-pixel factor, or why there is none.
std::string factor_words(const DatasetInfo& info, const std::string& name, const std::vector<float>& v) {
  if (v.empty()) return absent_words(info, name);
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt::format("{:.4g} .. {:.4g}", *lo, *hi);
}

// The per-image fluences (photons per pulse at the particle): mean, spread, range; and
// relative to photons_per_pulse when the file states it.
std::string fluence_line(const DatasetInfo& info) {
  if (info.fluences.empty()) return fmt::format("  fluences      {}\n", absent_words(info, "fluences"));
  const auto n = static_cast<double>(info.fluences.size());
  double sum = 0, squares = 0;
  for (double v : info.fluences) sum += v;
  const double mean = sum / n;
  for (double v : info.fluences) squares += (v - mean) * (v - mean);
  const double spread = std::sqrt(squares / n);
  const auto [lo, hi] = std::minmax_element(info.fluences.begin(), info.fluences.end());
  std::string relative;
  if (info.photons_per_pulse && *info.photons_per_pulse > 0)
    relative = fmt::format(", mean {:.3g} of photons/pulse", mean / *info.photons_per_pulse);
  return fmt::format("  fluences      {:.4g} photons/pulse at the particle, spread {:.3g} ({:.1f}%), {:.4g} .. {:.4g}{}\n",
                     mean, spread, mean > 0 ? 100 * spread / mean : 0.0, *lo, *hi, relative);
}

std::string optional_lines(const ImageFile& reader) {
  const DatasetInfo& info = reader.info();
  std::string out = fmt::format("  orientations  {}\n", reader.has_orientations() ? "present (ground truth)"
                                                                                  : absent_words(info, "orientations"));
  const auto vs = reader.volume_shape();
  out += "  volume        " +
         (reader.has_volume() ? fmt::format("{} x {} x {}", vs[0], vs[1], vs[2]) : absent_words(info, "volume")) + "\n";
  out += fmt::format("  polarization  {}{}\n", factor_words(info, "polarization", info.polarization),
                     info.polarization.empty() ? "" : " (in the images, not applied)");
  out += fmt::format("  solid_angle   {}{}\n", factor_words(info, "solid_angle", info.solid_angle),
                     info.solid_angle.empty() ? "" : " sr (in the images, not applied)");
  auto number = [&](const char* name, const std::optional<double>& v, const char* unit) {
    if (v) out += fmt::format("  {:<13} {:.6g}{}\n", name, *v, unit);
  };
  number("det_distance", info.det_distance, " m");
  number("photon_energy", info.photon_energy, " eV");
  number("photons/pulse", info.photons_per_pulse, "");
  number("beam_radius", info.beam_radius, " m");
  out += fluence_line(info);
  if (!info.pdb.empty()) out += "  pdb           " + info.pdb + "\n";
  if (const auto& c = info.model_centroid)
    out += fmt::format("  model centroid ({:.3f}, {:.3f}, {:.3f}) A in the PDB frame\n", (*c)[0], (*c)[1], (*c)[2]);
  if (!info.command_line.empty()) out += "  command_line  " + info.command_line + "\n";
  for (const std::string& note : info.ignored) out += "  ignored       " + note + "\n";
  return out;
}

// Per-image figures over the usable pixels of the first up to 1000 images (every image
// with every_image): photons (sum per image, mean and spread), bad and negative values.
std::string image_lines(const ImageFile& file, bool every_image) {
  const DatasetInfo& info = file.info();
  const std::size_t P = info.pixels();
  const std::size_t sampled = every_image ? info.n_images : std::min<std::size_t>(info.n_images, 1000);
  const std::size_t block = std::max<std::size_t>(1, (std::size_t(1) << 22) / P);
  std::vector<float> images(std::min(block, sampled) * P);
  double sum = 0, squares = 0;
  std::size_t bad = 0, negative = 0, bad_images = 0;
  for (std::size_t first = 0; first < sampled; first += block) {
    const std::size_t count = std::min(block, sampled - first);
    file.read_images(first, count, images.data());
    for (std::size_t i = 0; i < count; ++i) {
      double total = 0;
      std::size_t bad_here = 0;
      for (std::size_t p = 0; p < P; ++p) {
        if (!info.mask.empty() && !info.mask[p]) continue;
        const float v = images[i * P + p];
        if (!std::isfinite(v)) ++bad_here;
        else total += v, negative += v < 0;
      }
      sum += total, squares += total * total, bad += bad_here, bad_images += bad_here > 0;
    }
  }
  const double mean = sum / double(sampled), spread = std::sqrt(std::max(0.0, squares / double(sampled) - mean * mean));
  const std::string over = fmt::format("{} {} images{}", sampled == info.n_images ? "all" : "the first", sampled,
                                       every_image ? ", every value read" : "");
  std::string out = fmt::format("  photons       {:.4g} per image, spread {:.3g} ({:.1f}%) (over {})\n", mean, spread,
                                mean > 0 ? 100 * spread / mean : 0.0, over);
  out += fmt::format("  bad values    {} NaN/Inf in {} images (weight 0 where they are)\n", bad, bad_images);
  out += fmt::format("  negative      {} values below 0 (kept: intensities, not photon counts)\n", negative);
  return out;
}

std::string mask_line(const DatasetInfo& info) {
  const std::size_t usable = info.usable_pixels();
  return fmt::format("  mask          {} of {} pixels usable ({:.1f}%){}\n", usable, info.pixels(),
                     100.0 * double(usable) / double(std::max<std::size_t>(info.pixels(), 1)),
                     info.mask.empty() ? ", no mask" : "");
}

}  // namespace

std::string describe(const ImageFile& file, bool every_image) {
  return file.path() + "\n" + fmt::format("  format        {}\n", name_of(kFormatNames, file.format())) +
         detector_lines(file.info()) + mask_line(file.info()) + optional_lines(file) + image_lines(file, every_image);
}

std::string describe(const std::string& path, const OpenOptions& options, bool every_image) {
  return describe(*open_images(path, options), every_image);
}

}  // namespace spire::io
