#pragma once
// What `spire reconstruct` writes: the maps, orientations, FSC and summary.json of a run,
// from one Summary. Every file is written atomically (beside its name, then renamed).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "distributed/team.hpp"
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
  double local_tolerance = 0;       // what orientations.local_tolerance = 0 chose
  std::string warning;              // too few photons to orient, or empty
  std::vector<double> density;      // the final density (lead)
  std::vector<geometry::Quaternion> orientations;  // every rank's, in order (lead)
  reconstruct::AveragedPhasing averaged;
  double averaged_s = 0;
  std::optional<reconstruct::HalfMaps> halves;
  double halves_s = 0;
  std::optional<FscResult> against_reference, half_data;
  std::string reference;  // the model map the FSC is against
  struct Resumed {
    std::string checkpoint;
    int generation = 0;
  };
  std::optional<Resumed> resumed_from;
};

// The voxel of the maps in Angstrom: 1 / (2 extent), extent in 1/m.
double voxel_angstrom(const reconstruct::Data& data);
std::string absolute_path(const std::string& path);

// density.mrc, autocorrelation.mrc and intensity.mrc in `dir`.
void write_maps(const std::filesystem::path& dir, const reconstruct::Data& data, const reconstruct::Settings& st,
                const std::vector<double>& density, const std::vector<double>& autocorrelation);

// The output folder: created; a fresh run removes an earlier run's checkpoint and
// generations/NNN/ folders; settings.toml written (--resume reads it).
void prepare_folder(const std::filesystem::path& out, const reconstruct::Settings& st, bool resuming);

// The parts of the summary the data and settings decide.
Summary describe_run(const reconstruct::Data& data, const reconstruct::Settings& st, const reconstruct::State& result);

// FSC of the final density against the reference map (aligned: rotation, hand, shift) and
// of the half maps against each other; prints them when `talk`.
void compare(Summary& summary, const reconstruct::Data& data, const reconstruct::Settings& st,
             const std::filesystem::path& reference, bool talk);

void write_outputs(const std::filesystem::path& out, const std::string& data_path, const reconstruct::Data& data,
                   const reconstruct::Settings& st, const reconstruct::State& result, const Summary& summary,
                   const distributed::Team& team, bool talk);

}  // namespace spire::cli
