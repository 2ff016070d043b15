#pragma once
// What `spire reconstruct` writes: the maps, orientations, FSC and summary.json of a run,
// from one Summary, its plots (src/plot, each a PNG with an SVG sibling): fsc,
// convergence, density_slices, intensity_slices and coverage (the beam directions in the
// molecule frame) and report.html, last. Every file is written atomically (beside its name, then renamed).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "distributed/team.hpp"
#include "io/mrc.hpp"
#include "reconstruct/finish.hpp"
#include "reconstruct/reconstruct.hpp"
#include "resolution/fsc.hpp"

namespace spire::cli {

// An FSC against something: the curve and its resolutions.
struct FscResult {
  resolution::FscCurve curve;
  double correlation = 0;
  resolution::ResolutionAt at_05, at_0143;
};

struct Summary {
  std::string orientations_metric;  // what orientations.metric = auto chose
  std::string orientations_assignment;  // what orientations.assignment = auto chose
  reconstruct::Tolerances tolerances;  // what the settings' 0 (auto) chose
  std::string warning;              // too few photons to orient, a model map not used, ...; or empty
  double memory_estimate = 0;       // bytes, reconstruct/memory.hpp (this process, the lead)
  std::vector<double> density;      // the final density (lead)
  std::vector<geometry::Quaternion> orientations;  // every rank's, in order (lead)
  std::vector<double> scores;                      // their last matching scores, or empty (State::scores)
  std::string command_line;                        // as typed
  reconstruct::AveragedPhasing averaged;
  double averaged_s = 0;
  std::optional<reconstruct::HalfMaps> halves;
  double halves_s = 0;
  // The loop on the detector's cells (reconstruct/cells.hpp): their count, side in grid
  // voxels and the final merge from every pixel; 0: the loop worked on every pixel.
  struct Cells {
    std::int64_t count = 0;
    double voxels = 0;
    double every_pixel_merge_s = 0;
    int every_pixel_cg_iterations = 0;
  } cells;
  std::optional<FscResult> against_reference, half_data;
  std::string reference;  // the model map the FSC is against
  // The final density aligned onto the reference (rotation, hand, shift), in the data's
  // units, with the reference's geometry (voxel, origin): density_aligned.mrc overlays it.
  std::optional<io::Map> density_aligned;
  struct Resumed {
    std::string checkpoint;
    int generation = 0;
  };
  std::optional<Resumed> resumed_from;
};

// The voxel of the maps in Angstrom: 1 / (2 extent), extent in 1/m.
double voxel_angstrom(const reconstruct::Data& data);
std::string absolute_path(const std::string& path);

// density.mrc (not with an empty density), autocorrelation.mrc and intensity.mrc in `dir`;
// units in docs/outputs.md
// and each map's MRC labels. intensity.mrc's voxels are frequency indices (voxel size 1,
// origin -n/2: index 0 at the centre); a label gives 1 / (n voxel), their size in 1/A.
// Returns the intensity (the data's units, centred: frequency index k at voxel k + n/2).
std::vector<double> write_maps(const std::filesystem::path& dir, const reconstruct::Data& data, const reconstruct::Settings& st,
                               const std::vector<double>& density, const std::vector<double>& autocorrelation);

// The output folder (created and locked by the caller: run_folder.hpp): settings.toml
// written (--resume reads it).
void prepare_folder(const std::filesystem::path& out, const reconstruct::Settings& st);

// The model map the FSC is against, read before the run starts.
struct ModelMap {
  std::filesystem::path path;
  bool given = false;  // by --reference (a mismatch is an error), not found beside the data
  io::Map map;
};
// Why `map` cannot be compared with the run's maps (n^3 voxels of the data's voxel size), or "".
std::string map_mismatch(const io::Map& map, const reconstruct::Data& data, const reconstruct::Settings& st);

// The parts of the summary the data and settings decide.
Summary describe_run(const reconstruct::Data& data, const reconstruct::Settings& st, const reconstruct::State& result);

// FSC of the final density against the reference map (aligned: rotation, hand, shift; one
// map_mismatch accepted; the aligned map kept as density_aligned) and of the half maps
// against each other; prints them when `talk`.
void compare(Summary& summary, const reconstruct::Data& data, const reconstruct::Settings& st,
             const std::optional<ModelMap>& reference, bool talk);

void write_outputs(const std::filesystem::path& out, const std::string& data_path, const reconstruct::Data& data,
                   const reconstruct::Settings& st, const reconstruct::State& result, const Summary& summary,
                   const distributed::Team& team, bool talk);

}  // namespace spire::cli
