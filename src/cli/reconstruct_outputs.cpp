#include "cli/reconstruct_outputs.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli/build_info.hpp"
#include "cli/commands.hpp"
#include "cli/report.hpp"
#include "core/error.hpp"
#include "geometry/orientations.hpp"
#include "io/mrc.hpp"
#include "phasing/phasing.hpp"
#include "plot/plots.hpp"
#include "reconstruct/fluence.hpp"
#include "reconstruct/orientations_file.hpp"
#include "resolution/align.hpp"

namespace spire::cli {
namespace {

namespace fs = std::filesystem;

// What density.mrc's numbers are (docs/outputs.md).
constexpr const char* density_label = "density, sqrt(image unit); |FT|^2 = merged intensity";

io::Map centred_map(int n, double voxel, const std::vector<double>& values) {
  io::Map m;
  m.nx = m.ny = m.nz = n;
  m.voxel_size = voxel;
  const double origin = -(n / 2) * voxel;
  m.origin = {origin, origin, origin};
  m.data.assign(values.begin(), values.end());
  return m;
}

FscResult fsc_result(double voxel, const resolution::FscCurve& curve, double correlation) {
  return {curve, correlation, resolution::resolution_at(curve, voxel, 0.5), resolution::resolution_at(curve, voxel, 0.143)};
}

nlohmann::json generations_json(const std::vector<reconstruct::Generation>& generations) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& g : generations)
    out.push_back({{"slicing_s", g.slicing_s}, {"matching_s", g.matching_s}, {"local_refinement_s", g.local_s},
                   {"merging_s", g.merging_s}, {"phasing_s", g.phasing_s},
                   {"stage", name_of(reconstruct::kStageNames, g.stage)}, {"fit", g.fit},
                   {"reassigned", g.reassigned}, {"phasing_fourier_error", g.fourier_error}, {"change", g.change},
                   {"cg_iterations", g.cg_iterations}, {"median_orientation_error_deg", g.median_error_deg},
                   {"resolution_fsc_0.5_angstrom", g.resolution_angstrom}, {"assignment_beta", g.beta},
                   {"candidates_per_image", g.candidates}, {"moved_far", g.moved_far}});
  return out;
}

nlohmann::json totals_json(const std::vector<reconstruct::Generation>& generations) {
  double slicing_s = 0, matching_s = 0, local_s = 0, merging_s = 0, phasing_s = 0;
  for (const auto& g : generations)
    slicing_s += g.slicing_s, matching_s += g.matching_s, local_s += g.local_s, merging_s += g.merging_s,
        phasing_s += g.phasing_s;
  return {{"generations", generations.size()}, {"slicing_s", slicing_s}, {"matching_s", matching_s},
          {"local_refinement_s", local_s}, {"merging_s", merging_s}, {"phasing_s", phasing_s},
          {"all_stages_s", slicing_s + matching_s + local_s + merging_s + phasing_s}};
}

// Colours stay with their curve: against the model blue (kCurveColours[0]), half data orange.
plot::FscCurveData fsc_curve(const std::string& name, const FscResult& r, int colour) {
  return {name, r.curve.fsc, plot_resolutions(r.at_05, r.at_0143), colour};
}

void write_fsc_files(const fs::path& out, const Summary& s, int n, double voxel) {
  std::vector<resolution::NamedCurve> curves;
  plot::FscPlot figure{n, voxel, {}};
  if (s.against_reference) {
    curves.push_back({"reference", s.against_reference->curve});
    figure.curves.push_back(fsc_curve("against the model", *s.against_reference, 0));
  }
  if (s.half_data) {
    curves.push_back({"half_data", s.half_data->curve});
    figure.curves.push_back(fsc_curve("half data, same orientations", *s.half_data, 1));
  }
  if (curves.empty()) return;
  resolution::write_fsc_csv((out / "fsc.csv").string(), curves, voxel);
  plot::fsc_figure(figure).write_png_and_svg((out / "fsc.png").string());
}

plot::ConvergenceData convergence_of(const std::vector<reconstruct::Generation>& generations) {
  plot::ConvergenceData d;
  d.first = generations.front().index;  // numbered as the terminal's table
  for (const auto& g : generations) {
    d.stage.emplace_back(name_of(reconstruct::kStageNames, g.stage));
    d.fit.push_back(g.fit == -1 ? std::nan("") : g.fit);  // -1: no fit (the start)
    d.moved.push_back(g.reassigned);
    d.fourier_error.push_back(g.fourier_error);
    d.median_error_deg.push_back(g.median_error_deg);  // < 0: no truth
    d.resolution_angstrom.push_back(g.resolution_angstrom);  // < 0: no model map
  }
  return d;
}

// The beam (the lab's z axis) in the molecule frame: a pattern at q samples the molecule's
// transform at R(q)^T s (geometry/orientations.hpp), so the beam there is R(q)^T (0, 0, 1).
std::vector<std::array<double, 3>> beam_directions(const std::vector<geometry::Quaternion>& orientations) {
  std::vector<std::array<double, 3>> d;
  d.reserve(orientations.size());
  for (const auto& q : orientations) d.push_back(geometry::rotate_inverse(q, {0, 0, 1}));
  return d;
}

void write_plots(const fs::path& out, const reconstruct::Data& data, const reconstruct::State& result,
                 const Summary& s, int n, const std::vector<double>& intensity) {
  const double voxel = voxel_angstrom(data);
  write_fsc_files(out, s, n, voxel);
  if (!result.generations.empty())
    plot::convergence_figure(convergence_of(result.generations)).write_png_and_svg((out / "convergence.png").string());
  plot::density_slices_figure(n, s.density, voxel).write_png_and_svg((out / "density_slices.png").string());
  // The images reach |s| = data.extent; the maps' voxel is 1 / (2 extent), so frequency
  // index k is s = k / (n voxel) = 2 k extent / n: the measured sphere has radius n/2.
  plot::intensity_slices_figure(n, intensity, n / 2.0, 1 / (n * voxel))
      .write_png_and_svg((out / "intensity_slices.png").string());
  if (!s.orientations.empty())
    plot::coverage_figure(beam_directions(s.orientations)).write_png_and_svg((out / "coverage.png").string());
}

void put_fsc(nlohmann::json& json, const std::string& prefix, const FscResult& r) {
  put_resolution(json, prefix + "0.5", r.at_05);
  put_resolution(json, prefix + "0.143", r.at_0143);
}

nlohmann::json summary_json(const std::string& data_path, const reconstruct::Data& data, const reconstruct::Settings& st,
                            const reconstruct::State& result, const Summary& s, const distributed::Team& team) {
  nlohmann::json j;
  j["spire_version"] = kVersion;
  if (*kGitCommit) j["git_commit"] = kGitCommit;  // when the build was configured
  if (!s.command_line.empty()) j["command_line"] = s.command_line;
  j["data"] = data_path;
  j["images"] = data.total;
  j["data_first"] = st.data.first;  // index in the file of the first image used
  j["orientations_csv"] = kOrientationsCsvNote;
  j["ranks"] = team.size();
  j["nodes"] = team.n_nodes();
  j["mean_photons_per_image"] = data.photons_per_image;
  j["photons_per_image_std"] = data.photons_spread;
  j["photon_counts"] = data.counts;
  j["pixels_used"] = data.n_pixels;
  j["detector_pixels"] = data.detector_pixels ? data.detector_pixels : data.n_pixels;
  j["bad_values"] = data.bad_total;
  j["negative_values"] = data.negative_total;
  j["fluence_scaling"] = reconstruct::fluence_scaling(st, data);
  j["image_scale"] = data.scale;  // the mean pixel value the loop divided out (1 for counts)
  j["local_tolerance"] = s.tolerances.local;
  j["slicing_tolerance"] = s.tolerances.slicing;
  j["merging_tolerance"] = s.tolerances.merging;
  j["orientations_metric"] = s.orientations_metric;
  j["orientations_assignment"] = s.orientations_assignment;
  if (!s.warning.empty()) j["warning"] = s.warning;
  if (s.memory_estimate > 0) j["memory_estimate_bytes"] = s.memory_estimate;
  j["voxel_angstrom"] = voxel_angstrom(data);
  j["grid_box"] = result.box;  // the loop's box (grid.box); 0: the whole grid
  j["cells"] = {{"count", s.cells.count},
                {"voxels", s.cells.voxels},
                {"every_pixel_merge_seconds", s.cells.every_pixel_merge_s},
                {"every_pixel_cg_iterations", s.cells.every_pixel_cg_iterations},
                {"note", "the loop on the detector's cells (orientations.cells); count 0: on every pixel"}};
  j["final_phasing"] = {{"runs_averaged", s.averaged.fourier_errors.size()},
                        {"fourier_errors", s.averaged.fourier_errors},
                        {"box", s.averaged.box},
                        {"seconds", s.averaged_s}};
  j["oracle"] = st.orientations.oracle;
  if (!result.generations.empty()) j["generations"] = generations_json(result.generations);
  j["totals"] = totals_json(result.generations);
  j["finished"] = result.standing.finished;
  j["converged"] = result.standing.converged;
  if (s.resumed_from) j["resumed_from"] = {{"checkpoint", s.resumed_from->checkpoint}, {"generation", s.resumed_from->generation}};
  if (!data.truth.empty() && !result.generations.empty())
    j["evaluation_only"] = {
        {"note", "measured against the data file's true orientations, which the reconstruction does not see "
                 "(except with orientations.oracle)"},
        {"median_orientation_error_deg", result.generations.back().median_error_deg}};
  j["intensity_voxel_inverse_angstrom"] = 1.0 / (static_cast<double>(st.grid.n) * voxel_angstrom(data));
  if (s.against_reference) {
    j["fsc_reference"] = s.reference;
    j["density_aligned"] = {{"map", "density_aligned.mrc"},
                            {"note", "density.mrc turned, mirrored and moved onto the reference, on its grid and "
                                     "origin: it overlays the reference (and the PDB for spire simulate's model map)"}};
    j["correlation_with_reference"] = s.against_reference->correlation;
    put_fsc(j, "resolution_fsc_", *s.against_reference);
  }
  if (s.half_data) {
    j["half_data"] = {
        {"note", "even and odd images merged and phased apart at the final orientations; the halves share the "
                 "orientations (found with all the images), so this is optimistic next to independent halves"},
        {"maps", {"half_1.mrc", "half_2.mrc"}},
        {"seconds", s.halves_s},
        {"correlation", s.half_data->correlation}};
    put_fsc(j, "resolution_half_data_fsc_", *s.half_data);
  }
  return j;
}

}  // namespace

double voxel_angstrom(const reconstruct::Data& data) { return 1e10 / (2 * data.extent); }

std::string absolute_path(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

std::vector<double> write_maps(const fs::path& dir, const reconstruct::Data& data, const reconstruct::Settings& st,
                               const std::vector<double>& density, const std::vector<double>& autocorrelation) {
  const int n = static_cast<int>(st.grid.n);
  const double voxel = voxel_angstrom(data);
  // In the data's units (data.hpp): the loop works in units of the images' mean.
  const auto a = reconstruct::in_data_units(autocorrelation, data, 1);
  if (!density.empty()) {  // empty: a generation that did not phase
    auto rho = centred_map(n, voxel, reconstruct::in_data_units(density, data, 0.5));
    rho.labels = {density_label};
    io::write_mrc((dir / "density.mrc").string(), rho);
  }
  io::write_mrc((dir / "autocorrelation.mrc").string(), centred_map(n, voxel, a));
  // The merged model's intensity, Re FFT of the autocorrelation, centred; its voxels are
  // frequency indices k = -n/2..n/2, s = k / (n voxel) in 1/Angstrom.
  const auto intensity =
      phasing::intensity_of<double>(n, a, static_cast<int>(st.runtime.threads), st.runtime.fft_planning);
  auto intensity_map = centred_map(n, 1.0, intensity);
  intensity_map.labels = {"reciprocal space: voxel = frequency index k, s = k / (n voxel)",
                          fmt::format("reciprocal voxel 1/(n voxel) = {:.6g} 1/A; index 0 at the centre", 1 / (n * voxel))};
  io::write_mrc((dir / "intensity.mrc").string(), intensity_map);
  return intensity;
}

void prepare_folder(const fs::path& out, const reconstruct::Settings& st) {
  fs::create_directories(out);
  write_text_atomically(out / "settings.toml", reconstruct::to_toml(st));
}

Summary describe_run(const reconstruct::Data& data, const reconstruct::Settings& st, const reconstruct::State&) {
  Summary s;
  s.tolerances = reconstruct::tolerances(st, data.counts);
  s.orientations_metric = std::string(name_of(matching::kMetricNames, reconstruct::metric_for(st, data.counts)));
  s.orientations_assignment =
      std::string(name_of(reconstruct::kAssignmentNames, reconstruct::assignment_for(st, data.counts)));
  return s;
}

std::string map_mismatch(const io::Map& model, const reconstruct::Data& data, const reconstruct::Settings& st) {
  const int n = static_cast<int>(st.grid.n);
  const double voxel = voxel_angstrom(data);
  if (model.nx == n && model.ny == n && model.nz == n && std::abs(model.voxel_size - voxel) <= 1e-3 * voxel) return {};
  return fmt::format("the model map is {}x{}x{} of {:.3f} A; the reconstruction is {}^3 of {:.3f} A", model.nx,
                     model.ny, model.nz, model.voxel_size, n, voxel);
}

void compare(Summary& s, const reconstruct::Data& data, const reconstruct::Settings& st,
             const std::optional<ModelMap>& model_map, bool talk) {
  const int n = static_cast<int>(st.grid.n);
  const double voxel = voxel_angstrom(data);
  if (model_map) {
    const fs::path& reference = model_map->path;
    if (const auto why = map_mismatch(model_map->map, data, st); !why.empty()) fail_in(reference.string(), why);
    const std::vector<double> ref(model_map->map.data.begin(), model_map->map.data.end());
    // From random orientations the density sits in an arbitrary frame: rotation, hand, shift.
    const auto aligned = resolution::align_rotation<double>(n, s.density, ref);
    s.against_reference = fsc_result(voxel, resolution::fsc<double>(n, aligned.map, ref), aligned.correlation);
    s.reference = reference.string();
    s.density_aligned = model_map->map;  // the reference's geometry: the maps overlay
    const auto values = reconstruct::in_data_units(aligned.map, data, 0.5);
    s.density_aligned->data.assign(values.begin(), values.end());
    s.density_aligned->labels = {density_label, "aligned onto the reference (rotation, hand, shift)"};
    if (talk)
      fmt::print("  FSC against {}: 0.5: {}, 0.143: {} (correlation {:.3f})\n", reference.string(),
                 describe(s.against_reference->at_05), describe(s.against_reference->at_0143), aligned.correlation);
  }
  if (s.halves) {
    // Both halves are merged in the run's frame; phasing leaves each its own shift and hand.
    const auto& h = s.halves->density;
    const auto aligned = resolution::align<double>(n, h[1], h[0]);
    s.half_data = fsc_result(voxel, resolution::fsc<double>(n, aligned.map, h[0]), aligned.correlation);
    if (talk)
      fmt::print("  half-data FSC (even/odd images, same orientations): 0.5: {}, 0.143: {} ({:.1f} s)\n",
                 describe(s.half_data->at_05), describe(s.half_data->at_0143), s.halves_s);
  }
}

void write_outputs(const fs::path& out, const std::string& data_path, const reconstruct::Data& data,
                   const reconstruct::Settings& st, const reconstruct::State& result, const Summary& s,
                   const distributed::Team& team, bool talk) {
  const int n = static_cast<int>(st.grid.n);
  const double voxel = voxel_angstrom(data);
  const auto intensity = write_maps(out, data, st, s.density, result.autocorrelation);
  write_text_atomically(out / "orientations.csv",
                        reconstruct::orientations_csv(s.orientations, s.scores, st.data.first));
  reconstruct::write_orientations((out / "orientations.h5").string(), s.orientations, s.scores, st, data_path,
                                  static_cast<std::int64_t>(result.generations.size()));
  if (s.density_aligned) io::write_mrc((out / "density_aligned.mrc").string(), *s.density_aligned);
  if (s.halves) {
    for (int h = 0; h < 2; ++h)
      io::write_mrc((out / fmt::format("half_{}.mrc", h + 1)).string(),
                    centred_map(n, voxel, reconstruct::in_data_units(s.halves->density[static_cast<std::size_t>(h)], data, 0.5)));
  }
  write_plots(out, data, result, s, n, intensity);
  write_text_atomically(out / "summary.json", summary_json(data_path, data, st, result, s, team).dump(2) + "\n");
  write_report(out, {data_path, data, st, result, s});
  if (talk)
    fmt::print("  wrote {}/ (density.mrc, {}intensity.mrc, autocorrelation.mrc, {}fsc.csv/png/svg (blue: against "
               "the model, orange: half data), convergence, density/intensity slices, coverage (png/svg), "
               "orientations.h5/csv, {}{}summary.json, report.html)\n",
               out.string(), s.density_aligned ? "density_aligned.mrc (on the model's frame), " : "",
               s.halves ? "half_1.mrc, half_2.mrc, " : "", team.size() == 1 ? "checkpoint.h5, " : "",
               st.output.every_generation ? "generations/, " : "");
}

}  // namespace spire::cli
