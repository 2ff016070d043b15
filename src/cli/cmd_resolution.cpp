// spire resolution: the FSC between two maps after aligning the second to the first.
#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/mrc.hpp"
#include "plot/plots.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"
#include "resolution/overlay.hpp"
#include "simulate/pdb.hpp"
#include "simulate/simulate.hpp"

namespace spire::cli {
namespace {

// A map to compare holds finite numbers, not all equal (an empty or failed map): each named.
void check_density(const std::string& path, const io::Map& m) {
  const auto bad = std::find_if(m.data.begin(), m.data.end(), [](float v) { return !std::isfinite(v); });
  if (bad != m.data.end()) {
    const auto i = static_cast<std::size_t>(bad - m.data.begin());
    const auto nx = static_cast<std::size_t>(m.nx), ny = static_cast<std::size_t>(m.ny);
    fail_in(path, fmt::format("voxel (x {}, y {}, z {}) is {}: a map must hold finite numbers", i % nx, i / nx % ny,
                              i / (nx * ny), *bad));
  }
  const auto [lo, hi] = std::minmax_element(m.data.begin(), m.data.end());
  if (*lo == *hi)
    fail_in(path, fmt::format("every voxel is {}: {} map, nothing to compare", *lo, *lo == 0 ? "an empty" : "a constant"));
}

io::Map read_cubic(const std::string& path) {
  auto m = io::read_mrc(path);
  check_density(path, m);
  if (m.nx != m.ny || m.nx != m.nz)
    fail_in(path, fmt::format("the map is {} x {} x {}; the FSC needs a cubic map", m.nx, m.ny, m.nz));
  if (m.nx < 4) fail_in(path, fmt::format("the map is {}^3; the FSC needs at least 4^3", m.nx));
  return m;
}

struct Options {
  std::string a, b, out, reference_pdb;
  bool no_rotation = false, quiet = false;
  int threads = 0;
  std::size_t orientations = resolution::RotationSearch{}.orientations;
};

// The comparison of b against a.
struct Outcome {
  io::Map a;  // the reference on b's grid
  std::string placed;  // how it got there when not as read: resampled, or made from the PDB
  int n = 0, threads = 0;
  double voxel = 0, seconds = 0, angle_deg = 0;
  std::array<double, 3> axis{0, 0, 1};
  resolution::Alignment<double> aligned;
  resolution::FscCurve curve;
  resolution::ResolutionAt at_05, at_0143;
};

// The reference on the grid of `b` (n^3 voxels of b's size): as read when it is on it;
// otherwise resampled (resolution/overlay.hpp) onto b's grid centred on its density, so that
// an EMDB map or a molmap of any box and voxel serves; or the model map of a PDB
// (simulate::model_map, as spire simulate writes it). Its geometry places it like the source.
io::Map reference_on_grid(const Options& o, const io::Map& b, int threads, std::string& placed) {
  if (!o.reference_pdb.empty()) {
    if (b.nx % 2 == 0) fail_in(o.b, fmt::format("the map is {}^3; --reference-pdb needs an odd grid", b.nx));
    placed = fmt::format("the model map of {} on this grid", o.reference_pdb);
    return simulate::model_map(simulate::read_pdb(o.reference_pdb), b.voxel_size, b.nx, 1e-5);
  }
  io::Map a = io::read_mrc(o.a);
  check_density(o.a, a);
  if (a.nx == b.nx && a.ny == b.nx && a.nz == b.nx && std::abs(a.voxel_size - b.voxel_size) <= 1e-3 * b.voxel_size)
    return a;
  const auto c = resolution::density_centroid(a);
  placed = fmt::format("{} ({} x {} x {} of {:.3f} A) resampled onto this grid, centred on its density at "
                       "({:.1f}, {:.1f}, {:.1f}) A", o.a, a.nx, a.ny, a.nz, a.voxel_size, c[0], c[1], c[2]);
  io::Map r = resolution::resample_onto(a, resolution::cubic_grid(b.nx, b.voxel_size, c), threads);
  check_density(o.a + " (resampled)", r);
  return r;
}

// Both maps are read and checked before any work starts.
Outcome compare(const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  Outcome r;
  const io::Map b = read_cubic(o.b);
  r.n = b.nx;
  r.a = reference_on_grid(o, b, o.threads > 0 ? o.threads : omp_get_max_threads(), r.placed);
  r.threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  r.voxel = r.a.voxel_size;
  const std::vector<double> ref(r.a.data.begin(), r.a.data.end()), map(b.data.begin(), b.data.end());
  resolution::RotationSearch search;
  search.orientations = o.orientations;
  r.aligned = o.no_rotation ? resolution::align<double>(r.n, map, ref, true, r.threads)
                            : resolution::align_rotation<double>(r.n, map, ref, search, r.threads);
  r.curve = resolution::fsc<double>(r.n, r.aligned.map, ref, r.threads);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.at_05 = resolution::resolution_at(r.curve, r.voxel, 0.5);
  r.at_0143 = resolution::resolution_at(r.curve, r.voxel, 0.143);
  const auto& q = r.aligned.rotation;
  r.angle_deg = 2 * std::acos(std::min(1.0, std::abs(q.w))) * 180 / std::numbers::pi;
  const double s = std::sqrt(q.x * q.x + q.y * q.y + q.z * q.z);
  if (s > 0) r.axis = {q.x / s, q.y / s, q.z / s};
  return r;
}

void print(const Options& o, const Outcome& r) {
  const auto& al = r.aligned;
  fmt::print("spire resolution: {} against {} ({}^3 voxels of {:.3f} A)\n", o.b,
             o.reference_pdb.empty() ? o.a : o.reference_pdb, r.n, r.voxel);
  if (!r.placed.empty()) fmt::print("  reference: {}\n", r.placed);
  if (o.no_rotation)
    fmt::print("  aligned by translation: shift ({:.2f}, {:.2f}, {:.2f}) voxels, {}\n", al.shift[0], al.shift[1],
               al.shift[2], al.inverted ? "inverted hand" : "same hand");
  else
    fmt::print("  aligned: turned {:.2f} deg about ({:.3f}, {:.3f}, {:.3f}), {}, shift ({:.2f}, {:.2f}, {:.2f}) voxels\n",
               r.angle_deg, r.axis[0], r.axis[1], r.axis[2], al.inverted ? "inverted hand" : "same hand", al.shift[0],
               al.shift[1], al.shift[2]);
  fmt::print("  correlation {:.4f}\n", al.correlation);
  fmt::print("  resolution at FSC 0.5: {}, at FSC 0.143: {}\n", describe(r.at_05), describe(r.at_0143));
  fmt::print("  {:.2f} s on {} threads\n", r.seconds, r.threads);
}

void write(const Options& o, const Outcome& r) {
  const std::filesystem::path out(o.out);
  std::filesystem::create_directories(out);
  const std::vector<resolution::NamedCurve> curves{{"", r.curve}};
  resolution::write_fsc_csv((out / "fsc.csv").string(), curves, r.voxel);
  const plot::FscCurveData curve{"aligned map against the reference", r.curve.fsc,
                                 plot_resolutions(r.at_05, r.at_0143)};
  plot::fsc_figure({r.n, r.voxel, {curve}}).write_png_and_svg((out / "fsc.png").string());
  io::Map m = r.a;  // the reference's grid, voxel and origin: aligned.mrc overlays it
  m.data.assign(r.aligned.map.begin(), r.aligned.map.end());
  io::write_mrc((out / "aligned.mrc").string(), m);
  const auto& q = r.aligned.rotation;
  nlohmann::json summary;
  summary["reference"] = o.reference_pdb.empty() ? o.a : o.reference_pdb;
  if (!r.placed.empty()) summary["reference_placed"] = r.placed;
  summary["map"] = o.b;
  summary["n"] = r.n;
  summary["voxel_angstrom"] = r.voxel;
  summary["rotation_search"] = !o.no_rotation;
  summary["alignment"] = "aligned(r) = h(c + R^T (r - c - shift)), c the centre voxel n/2, h the map or its inversion through c";
  summary["rotation_wxyz"] = {q.w, q.x, q.y, q.z};
  summary["rotation_angle_deg"] = r.angle_deg;
  summary["inverted"] = r.aligned.inverted;
  summary["shift_voxels"] = r.aligned.shift;
  summary["correlation"] = r.aligned.correlation;
  put_resolution(summary, "resolution_fsc_0.5", r.at_05);
  put_resolution(summary, "resolution_fsc_0.143", r.at_0143);
  summary["seconds"] = r.seconds;
  summary["threads"] = r.threads;
  write_text_atomically(out / "summary.json", summary.dump(2) + "\n");
  if (!o.quiet) fmt::print("  wrote {}/ (fsc.csv, fsc.png, fsc.svg, aligned.mrc, summary.json)\n", out.string());
}

}  // namespace

Runner add_resolution(CLI::App& app) {
  auto* cmd = app.add_subcommand("resolution", "FSC resolution between two maps (the second aligned to the first)");
  auto o = std::make_shared<Options>();
  cmd->add_option("a", o->a, "Reference map (MRC, any box and voxel: resampled onto b's grid)");
  cmd->add_option("b", o->b, "Map to align to it and compare (MRC, cubic)");
  cmd->add_option("--reference-pdb", o->reference_pdb,
                  "Reference: this PDB's model map on the map's grid (as spire simulate makes it); give one map")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Folder for fsc.csv, fsc.png/svg, aligned.mrc, summary.json (none: print only)");
  cmd->add_flag("--no-rotation", o->no_rotation, "Align by translation and hand only (maps already in one frame)");
  cmd->add_option("--orientations", o->orientations, "Rotations in the coarse search")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--threads", o->threads, "OpenMP threads (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  return [o] {
    if (!o->reference_pdb.empty() && o->b.empty()) std::swap(o->a, o->b);
    if (!o->reference_pdb.empty() && !o->a.empty()) fail("resolution: give one map with --reference-pdb, not two");
    if (o->b.empty()) fail("resolution: give two maps (reference, map), or --reference-pdb PDB and a map");
    const Outcome r = compare(*o);
    if (!o->quiet) print(*o, r);
    if (!o->out.empty()) write(*o, r);
    return 0;
  };
}

}  // namespace spire::cli
