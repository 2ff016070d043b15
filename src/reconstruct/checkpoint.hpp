#pragma once
// Checkpoints of the M-TIP loop: the State after a generation and what identifies the run,
// in one HDF5 file (io::Hdf5Writer: written beside its name and renamed, so a crash leaves
// the previous checkpoint intact). `spire reconstruct --resume DIR` continues from it and
// ends with the same result as a run that was never interrupted (the loop is deterministic
// given the State, the data and the settings that change the result).
//
// File layout (format "spire checkpoint", version 5; version 4, the same without scales, is
// read with none; version 3, also without scores, with no scores (State::scores empty);
// version 2, also with maps in the images' own units, for photon counts only); arrays
// little-endian, C order:
//   root attributes  format, version, settings (the TOML text, to_toml), data_path,
//                    data_images (N), data_pixels (P), data_fingerprint (16 hex digits),
//                    grid_n (n), next_generation, refining, local, finished, converged (0/1)
//   orientations     (N,4) float64, quaternions w,x,y,z of each image
//   scores           (N) float64, each image's last matching score; (0) before any match
//   scales           (N) float64, each image's fluence scale (fluence.hpp); (0) without
//   autocorrelation, density, slicing_input
//                    (n,n,n) float64, centred, x fastest; (0) while empty
//   generations/*    one array of G entries per Generation field (parallel arrays):
//                    index, stage (int32 0 start, 1 search, 2 refine, 3 oracle, 4 local; attribute
//                    stage_names), slicing_s, matching_s, merging_s, phasing_s, fit, change,
//                    reassigned, fourier_error, cg_iterations, median_error_deg, refining_s
//                    (the local stage's time)
//   fftw_wisdom/float, fftw_wisdom/double
//                    (bytes) uint8, FFTW's wisdom text when the checkpoint was written: a
//                    resume plans with it alone (core/fft.hpp use_fft_wisdom), so it makes
//                    the plans the interrupted run made
// Errors name the checkpoint file: not HDF5, not a checkpoint, another version, a missing
// or misshapen array, or a run that differs from the one it is resumed with.
#include <cstdint>
#include <optional>
#include <string>

#include "reconstruct/reconstruct.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

// What a checkpoint belongs to.
struct RunIdentity {
  std::string settings;       // to_toml(settings) of the run that wrote it
  std::string data_path;      // the data file (absolute path)
  // The model map the run's FSC is against (absolute path, "" for none), which a resume
  // uses unless told otherwise; not recorded (nullopt) in files of older builds.
  std::optional<std::string> reference;
  std::int64_t n_images = 0;  // images used (after data.images)
  std::int64_t n_pixels = 0;
  std::int64_t grid_n = 0;
  std::uint64_t data_fingerprint = 0;  // fingerprint(data)
  std::int64_t version = 4;            // of the file it was read from
};

struct Checkpoint {
  State state;
  RunIdentity run;
  FftWisdom wisdom;  // the plans the run had made (version 3; empty before)
};

// A 64-bit hash of the images, the pixel positions and the true orientations (FNV-1a over
// their bits): different data of the same size give a different value.
std::uint64_t fingerprint(const Data& data);

RunIdentity identify(const Data& data, const Settings& settings, const std::string& data_path);

void write_checkpoint(const std::string& path, const State& state, const RunIdentity& run);
Checkpoint read_checkpoint(const std::string& path);

// Fails, naming the checkpoint file, unless `data` and `settings` are those of the run that
// wrote it (image count, pixel count, grid, data fingerprint, and every setting that
// changes the result: changes_result()).
void check_resumable(const Checkpoint& checkpoint, const std::string& checkpoint_path, const Data& data,
                     const std::string& data_path, const Settings& settings);

// A State that stopped only because it reached generations.max goes on when `settings` allow
// more generations (its `finished` is cleared); a converged State stays finished. Returns
// whether generations are left to run.
bool extend(State& state, const Settings& settings);

}  // namespace spire::reconstruct
