// spire resolution: the FSC between two maps after aligning the second to the first.
#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/mrc.hpp"
#include "resolution/align.hpp"
#include "resolution/fsc.hpp"

namespace spire::cli {
namespace {

io::Map read_cubic(const std::string& path) {
  auto m = io::read_mrc(path);
  if (m.nx != m.ny || m.nx != m.nz)
    fail_in(path, fmt::format("the map is {} x {} x {}; the FSC needs a cubic map", m.nx, m.ny, m.nz));
  if (m.nx < 4) fail_in(path, fmt::format("the map is {}^3; the FSC needs at least 4^3", m.nx));
  return m;
}

}  // namespace

Runner add_resolution(CLI::App& app) {
  auto* cmd = app.add_subcommand("resolution", "FSC resolution between two maps (the second aligned to the first)");
  struct Options {
    std::string a, b, out;
    bool no_rotation = false, quiet = false;
    int threads = 0;
    std::size_t orientations = resolution::RotationSearch{}.orientations;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("a", o->a, "Reference map (MRC)")->required();
  cmd->add_option("b", o->b, "Map to align to it and compare (MRC, same grid and voxel size)")->required();
  cmd->add_option("--out", o->out, "Folder for fsc.csv, fsc.png, aligned.mrc, summary.json (none: print only)");
  cmd->add_flag("--no-rotation", o->no_rotation, "Align by translation and hand only (maps already in one frame)");
  cmd->add_option("--orientations", o->orientations, "Rotations in the coarse search")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--threads", o->threads, "OpenMP threads (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  return [o] {
    const auto start = std::chrono::steady_clock::now();
    // Both maps are read and checked before any work starts.
    const io::Map a = read_cubic(o->a), b = read_cubic(o->b);
    const int n = a.nx;
    if (b.nx != n)
      fail_in(o->b, fmt::format("the map is {}^3 but {} is {}^3; both must be on one grid", b.nx, o->a, n));
    if (std::abs(b.voxel_size - a.voxel_size) > 1e-3 * a.voxel_size)
      fail_in(o->b, fmt::format("voxel size {:.4f} A differs from {} ({:.4f} A)", b.voxel_size, o->a, a.voxel_size));
    const int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    const double voxel = a.voxel_size;
    const std::vector<double> ref(a.data.begin(), a.data.end()), map(b.data.begin(), b.data.end());

    resolution::RotationSearch search;
    search.orientations = o->orientations;
    const auto aligned = o->no_rotation ? resolution::align<double>(n, map, ref, true, threads)
                                        : resolution::align_rotation<double>(n, map, ref, search, threads);
    const auto curve = resolution::fsc<double>(n, aligned.map, ref, threads);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const auto at_05 = resolution::resolution_at(curve, voxel, 0.5);
    const auto at_0143 = resolution::resolution_at(curve, voxel, 0.143);
    const auto& q = aligned.rotation;
    const double angle = 2 * std::acos(std::min(1.0, std::abs(q.w))) * 180 / std::numbers::pi;
    const double s = std::sqrt(q.x * q.x + q.y * q.y + q.z * q.z);
    const std::array<double, 3> axis = s > 0 ? std::array<double, 3>{q.x / s, q.y / s, q.z / s}
                                             : std::array<double, 3>{0, 0, 1};
    if (!o->quiet) {
      fmt::print("spire resolution: {} against {} ({}^3 voxels of {:.3f} A)\n", o->b, o->a, n, voxel);
      if (o->no_rotation)
        fmt::print("  aligned by translation: shift ({:.2f}, {:.2f}, {:.2f}) voxels, {}\n", aligned.shift[0],
                   aligned.shift[1], aligned.shift[2], aligned.inverted ? "inverted hand" : "same hand");
      else
        fmt::print("  aligned: turned {:.2f} deg about ({:.3f}, {:.3f}, {:.3f}), {}, shift ({:.2f}, {:.2f}, {:.2f}) voxels\n",
                   angle, axis[0], axis[1], axis[2], aligned.inverted ? "inverted hand" : "same hand",
                   aligned.shift[0], aligned.shift[1], aligned.shift[2]);
      fmt::print("  correlation {:.4f}\n", aligned.correlation);
      fmt::print("  resolution at FSC 0.5: {}, at FSC 0.143: {}\n", describe(at_05), describe(at_0143));
      fmt::print("  {:.2f} s on {} threads\n", seconds, threads);
    }
    if (!o->out.empty()) {
      const std::filesystem::path out(o->out);
      std::filesystem::create_directories(out);
      const std::vector<resolution::NamedCurve> curves{{"", curve}};
      resolution::write_fsc_csv((out / "fsc.csv").string(), curves, voxel);
      resolution::write_fsc_png((out / "fsc.png").string(), curves);
      io::Map m = a;  // the reference's grid, voxel and origin
      m.data.assign(aligned.map.begin(), aligned.map.end());
      io::write_mrc((out / "aligned.mrc").string(), m);
      nlohmann::json summary;
      summary["reference"] = o->a;
      summary["map"] = o->b;
      summary["n"] = n;
      summary["voxel_angstrom"] = voxel;
      summary["rotation_search"] = !o->no_rotation;
      summary["alignment"] = "aligned(r) = h(c + R^T (r - c - shift)), c the centre voxel n/2, h the map or its inversion through c";
      summary["rotation_wxyz"] = {q.w, q.x, q.y, q.z};
      summary["rotation_angle_deg"] = angle;
      summary["inverted"] = aligned.inverted;
      summary["shift_voxels"] = aligned.shift;
      summary["correlation"] = aligned.correlation;
      put_resolution(summary, "resolution_fsc_0.5", at_05);
      put_resolution(summary, "resolution_fsc_0.143", at_0143);
      summary["seconds"] = seconds;
      summary["threads"] = threads;
      write_text_atomically(out / "summary.json", summary.dump(2) + "\n");
      if (!o->quiet) fmt::print("  wrote {}/ (fsc.csv, fsc.png, aligned.mrc, summary.json)\n", out.string());
    }
    return 0;
  };
}

}  // namespace spire::cli
