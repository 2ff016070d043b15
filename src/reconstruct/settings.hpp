#pragma once
// Every setting of `spire reconstruct` in one schema: a TOML file (--config) overridden by
// `section.key=value` arguments, validated before any work starts. Each entry has a
// default, a unit or meaning, and a range; `schema_toml()` prints them all as a documented
// TOML file (`spire reconstruct --print-config`). An unknown section or key, a value of the
// wrong type or out of range is an error naming the file (or "command line") and the key.
#include <cstdint>
#include <string>
#include <vector>

#include "core/fft.hpp"
#include "core/names.hpp"
#include "distributed/plan.hpp"
#include "matching/matching.hpp"
#include "matching/refine.hpp"
#include "merging/merging.hpp"

namespace spire::reconstruct {

// orientations.metric: one of matching's metrics, or auto (poisson for photon counts).
enum class MetricChoice { automatic, euclidean, poisson };
inline constexpr NameTable<MetricChoice, 3> kMetricChoiceNames{
    {{MetricChoice::automatic, "auto"}, {MetricChoice::euclidean, "euclidean"}, {MetricChoice::poisson, "poisson"}}};

// merging.fluence_scaling (reconstruct/fluence.hpp), orientations.cells (reconstruct/cells.hpp).
enum class AutoChoice { automatic, on, off };
inline constexpr NameTable<AutoChoice, 3> kAutoChoiceNames{
    {{AutoChoice::automatic, "auto"}, {AutoChoice::on, "on"}, {AutoChoice::off, "off"}}};

// runtime.device: the back end (reconstruct/backend.hpp).
// Precision of phasing's FFTs on the CPU (the GPU phases in double).
enum class PhasingPrecision { float32, float64 };
inline constexpr NameTable<PhasingPrecision, 2> kPhasingPrecisionNames{
    {{PhasingPrecision::float32, "float"}, {PhasingPrecision::float64, "double"}}};

enum class Device { cpu, cuda };
inline constexpr NameTable<Device, 2> kDeviceNames{{{Device::cpu, "cpu"}, {Device::cuda, "cuda"}}};

// orientations.assignment: each image to its best reference (hard), or to its best
// orientations.candidates with posterior weights (soft: reconstruct/assignment.hpp); auto:
// soft for the poisson metric on the CPU back end, else hard (assignment_for, backend.hpp).
enum class Assignment { automatic, hard, soft };
inline constexpr NameTable<Assignment, 3> kAssignmentNames{
    {{Assignment::automatic, "auto"}, {Assignment::hard, "hard"}, {Assignment::soft, "soft"}}};

struct Settings {
  struct Grid {
    std::int64_t n = 81;  // autocorrelation grid (odd)
    std::int64_t box = 0;  // the loop's centred box (odd); 0: auto from the images' radial profile (box_backend.hpp)
  } grid;
  struct Data {
    std::int64_t first = 0;   // first image to use (0-based index in the file)
    std::int64_t images = 0;  // images to use from there (0: all the rest)
    std::string mask;         // mask file on top of the data file's own ("": none)
    double resolution_low = 0;   // Angstrom: pixels at lower resolution excluded (0: none)
    double resolution_high = 0;  // Angstrom: pixels at higher resolution excluded (0: none)
    std::string detector;     // Dragonfly detector file, for Dragonfly photon files
    double photon_energy = 0;  // eV, for files that do not store it (0: the file's own)
  } data;
  struct Orientations {
    std::int64_t references = 10000;  // reference orientations (quasi-uniform set)
    std::int64_t search_references = 0;  // the search stage's set; 0: auto (backend.hpp)
    std::int64_t batch_size = 1000;   // references per slicing NUFFT and matching GEMM
    MetricChoice metric = MetricChoice::automatic;
    std::int64_t local_steps = 2;      // Newton steps of local refinement (local stage)
    matching::LocalMethod local_method = matching::LocalMethod::fit;  // how each step is found
    bool photon_scores = true;         // local stage, poisson: candidates scored from the photons
    double local_tolerance = 0;        // NUFFT tolerance of the local slices (0: auto)
    matching::Scale scale = matching::Scale::per_slice;
    bool oracle = false;  // evaluation only: merge with the file's true orientations
    double min_photons = 0;  // warn below this mean photon count per image; 0: by the images' number (data.hpp)
    AutoChoice cells = AutoChoice::automatic;  // the loop on the detector's cells (cells.hpp)
    double cell_voxels = 0;                    // their side in grid voxels; 0: auto (cells.hpp)
    matching::GemmPrecision gemm = matching::GemmPrecision::fp32;  // matching GEMM on the GPU
    Assignment assignment = Assignment::automatic;  // grid stages: hard or soft (assignment.hpp)
    std::int64_t candidates = 16;              // soft: orientations kept per image
    double beta_start = 0.05;                  // soft: inverse temperature of the first grid generation
    double beta_growth = 2;                    // soft: its factor per grid generation (up to 1)
  } orientations;
  struct Generations {
    std::int64_t max = 30;           // generations at most
    double stop_change = 1e-3;       // stop when the map's relative change falls below
    double stop_reassigned = 0.2;    // or when fewer images than this change orientation
    double stop_moved_far = 0.02;    // ... and fewer than this move far (stages.hpp)
    double stop_fit = 0.002;         // or when the fit improves by less than this fraction
    std::int64_t fit_patience = 2;   // ... in this many generations in a row
    std::int64_t search_max = 15;    // generations at most that slice the phased model
    double search_improvement = 0.03;  // leave the search when the fit improves less
    std::int64_t local_max = 1;      // generations of local refinement after convergence
  } generations;
  struct Slicing {
    double tolerance = 0;            // NUFFT tolerance (float); 0: auto (backend.hpp)
    bool keep_points = true;         // keep the sorted rotated pixels between generations
  } slicing;
  struct Merging {
    double tolerance = 0;            // NUFFT tolerance; 0: auto (backend.hpp)
    std::int64_t cg_iterations = 100;
    std::int64_t final_cg_iterations = 1000;  // after a loop on cells: the merges from every pixel
    double cg_tolerance = 1e-6;      // relative residual
    double regularisation = 1e-3;    // lambda relative to the mean diagonal of A*DA
    merging::CgPrecision precision = merging::CgPrecision::float64;
    merging::Preconditioner preconditioner = merging::Preconditioner::none;
    AutoChoice fluence_scaling = AutoChoice::automatic;  // per-image scales (fluence.hpp)
  } merging;
  struct Phasing {
    std::int64_t loops = 10;
    std::int64_t hio_iterations = 25;
    std::int64_t er_iterations = 50;
    double beta = 0.3;
    double shrinkwrap_fraction = 0.1;
    std::int64_t final_average = 8;  // phasing runs averaged into the final density
    std::int64_t box = 0;             // voxels per axis phasing works on; 0: auto (phasing/box.hpp)
    PhasingPrecision precision = PhasingPrecision::float32;  // of the CPU's phasing FFTs
  } phasing;
  struct Distribution {  // MPI ranks (src/distributed/plan.hpp); no effect on one rank
    distributed::Strategy strategy = distributed::Strategy::distributed;
    std::int64_t split_size = 0;     // hybrid: reference orientations per node
    std::int64_t n_streams = 2;      // pipelines per rank (fetch beside matching)
    std::int64_t ranks_per_node = 0;  // 0: real nodes; k: emulate nodes of k ranks
  } distribution;
  struct Runtime {
    std::int64_t threads = 0;         // OpenMP threads (0: all)
    Device device = Device::cpu;
    Planning fft_planning = Planning::measure;
    std::uint64_t seed = 1;
  } runtime;
  struct Output {
    bool every_generation = true;  // maps of every generation in OUT/generations/NNN/
    bool half_maps = true;         // half-data maps and their FSC at the end
  } output;
};

// Defaults, then the TOML file (if not empty), then the overrides ("section.key=value").
Settings load_settings(const std::string& toml_path, const std::vector<std::string>& overrides);

// The same from TOML text (`where` names it in errors: e.g. the copy a checkpoint keeps).
Settings load_settings_text(const std::string& toml_text, const std::string& where,
                            const std::vector<std::string>& overrides = {});

// Whether a setting ("section.key") can change what a run computes. Those that cannot
// (runtime.threads, generations.max, output.*, orientations.min_photons, phasing.final_average;
// threads only at round-off) are the ones a resumed run may change.
bool changes_result(const std::string& section_key);
std::vector<std::string> result_neutral_settings();  // "section.key", schema order

// The settings that change the result and differ between a and b, in schema order.
struct Difference {
  std::string key, a, b;  // "section.key", and the two values as TOML
};
std::vector<Difference> result_differences(const Settings& a, const Settings& b);
// Every setting that differs between a and b, in schema order (differences(Settings{}, s):
// what a run changed from the defaults).
std::vector<Difference> differences(const Settings& a, const Settings& b);

// The schema as a TOML file with every key, its default and its documentation.
std::string schema_toml();

// The settings in effect, as TOML (stored with the results).
std::string to_toml(const Settings& settings);

}  // namespace spire::reconstruct
