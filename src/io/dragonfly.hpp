#pragma once
// Dragonfly's files (github.com/duaneloh/Dragonfly): its sparse photon files, binary (.emc)
// and HDF5, and its detector file, text or HDF5. Read as an io::ImageFile (images.hpp:
// open_images / open_dragonfly) and written by `spire convert`.
//
// Layout, as read from Dragonfly's source at commit a2933c38bb79859785d2ace8127cb3cf163d6ff7
// (src/detector.c, dragonfly/src/emcfile.c and .h, dragonfly/emcfile.pyx,
// utils/py_src/writeemc.py, utils/py_src/detector.py, utils/make_detector.py,
// utils/py_src/read_config.py). Everything little-endian, int32 = 4 bytes.
//
// Binary photons (.emc):
//   bytes 0..1023  header: int32 num_data (frames), int32 num_pix, int32 frame type
//                  (0 sparse, 1 dense int32, 2 dense float64; Dragonfly's writer writes 0),
//                  then zeros up to byte 1024
//   sparse:        int32 ones[num_data]   (pixels with 1 photon, per frame)
//                  int32 multi[num_data]  (pixels with more than 1 photon, per frame)
//                  int32 place_ones[sum ones]    pixel numbers, frame after frame
//                  int32 place_multi[sum multi]  pixel numbers, frame after frame
//                  int32 count_multi[sum multi]  their photon counts
//   dense:         num_data * num_pix int32 (type 1) or float64 (type 2), frame-major
//   A file whose length is not exactly what the header and the per-frame sizes say is
//   refused (truncated, or not a photon file), before anything is allocated from it.
// HDF5 photons (EMCWriter(..., hdf5=True)):
//   num_pix      int64 (1,) (h5py's [num_pix]; Dragonfly takes the product of its values)
//   place_ones   (num_data,) variable-length int32, chunked (1,), maxshape (None,)
//   place_multi  (num_data,) variable-length int32
//   count_multi  (num_data,) variable-length int32
//   (no ones/multi datasets: the per-frame lengths are the sequences' lengths)
// Detector, text (Detector._write_asciidet): first line "num_pix detd ewald_rad" ("%d %.6f
//   %.6f"; an old file has num_pix only and no ewald_rad: refused, the q scale is unknown),
//   then one line per pixel "qx qy qz corr mask" ("%21.15e" x4, "%d").
// Detector, HDF5 (Detector._write_h5det): qx, qy, qz, corr float64 (num_pix,), mask uint8
//   (num_pix,), detd and ewald_rad float64 scalars; background (optional) unread.
//
// Meaning:
//  - q = (qx,qy,qz) is the scattering vector s = k_out - k_in, |k| = 1/lambda (so
//    |s| = 2 sin(theta)/lambda, spire's convention, geometry/detector.cpp), in voxel units:
//    make_detector scales it by 1/(lambda q_sep) with q_sep = 1/(lambda ewald_rad) (to
//    within (pixel/distance)^2 of it), ewald_rad being the Ewald sphere's radius in voxels.
//    So s in 1/m = q / (ewald_rad * lambda), lambda = 12398.419843320026e-10 m / E[eV]; the
//    photon energy is not in Dragonfly's files: OpenOptions::photon_energy (data.photon_energy,
//    --photon-energy) is required. detd is the detector distance in pixels (Dragonfly uses it
//    only to draw the detector in 2D).
//  - mask: 0 good, 1 used for merging but not for orientation (the outer corners), 2 bad.
//    spire reads 0 and 1 as usable, 2 (and anything larger) as excluded; info.ignored says
//    how many pixels were 1.
//  - corr: solid angle times polarization (relative): in the photons, not applied (noted in
//    info.ignored), like the SpiniFEL layout's polarization.
//  - info(): panels 1, height 1, width num_pix (a list of pixels; Dragonfly has no
//    assembled picture), photon_energy the one given, no det_distance.
//  - read_images gives the frames as dense float photon counts (a pixel listed twice adds).
//    Every pixel number and count is checked (0 <= pixel < num_pix, count >= 0, at most
//    num_pix entries per frame); errors name the file, the frame and the byte offset (or the
//    dataset). A corrupt file never reads out of bounds or allocates by a corrupt size.
//
// Writing: DragonflyWriter writes the photons of images of photon counts (each value a
// whole number in [0, 2^31-1]; anything else, NaN included, is an error naming the image
// and the pixel), in Dragonfly's layout above (sparse binary type 0, or HDF5 with the same
// dtypes; its HDF5 chunks hold 256 frames, not 1). write_dragonfly_detector writes the
// detector of a DatasetInfo. Both write PATH.tmp-<pid> and rename it into place at the end
// (core/files.hpp): an error or a crash never leaves a partial PATH.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "io/hdf5_id.hpp"
#include "io/images.hpp"

namespace spire::io {

// m, lambda = this / E[eV].
inline constexpr double kHcElectronvoltMetre = 12398.419843320026e-10;

// A Dragonfly detector file as stored.
struct DragonflyDetector {
  std::size_t num_pix = 0;
  std::vector<double> q;              // num_pix*3, (qx,qy,qz) in voxel units
  std::vector<double> corr;           // num_pix
  std::vector<std::uint8_t> mask;     // num_pix, Dragonfly's 0 good, 1 not for orientation, 2 bad
  double detd = 0;                    // pixels
  double ewald_rad = 0;               // voxels
};

// Reads either form (HDF5 by content, otherwise text); errors name the file and the line or
// dataset.
DragonflyDetector read_dragonfly_detector(const std::string& path);

// The geometry, mask and notes of `info` from a detector for photons of photon_energy eV.
// The photons file's path is for errors only.
void fill_dragonfly_geometry(DatasetInfo& info, const DragonflyDetector& det, double photon_energy,
                             const std::string& detector_path);

// The detector of info (positions in 1/m for photon_energy eV, its mask, polarization and
// solid angle as corr) in Dragonfly's HDF5 form when path ends in .h5, else its text form.
// ewald_rad = detd = 1/(lambda * median spacing of neighbouring pixels), so that neighbouring
// pixels are about one voxel apart, as make_detector makes them.
void write_dragonfly_detector(const std::string& path, const DatasetInfo& info, double photon_energy);

// Streams photon counts into a Dragonfly photons file, frames in order.
class DragonflyWriter {
 public:
  // format: Format::dragonfly_emc or Format::dragonfly_h5.
  DragonflyWriter(std::string path, Format format, std::size_t num_pix, std::size_t n_images);
  ~DragonflyWriter();  // without finish(): removes the temporary files
  DragonflyWriter(const DragonflyWriter&) = delete;
  DragonflyWriter& operator=(const DragonflyWriter&) = delete;

  // The next count images (count*num_pix floats, each a photon count).
  void write_images(std::size_t count, const float* images);
  // Fails unless n_images were written; completes the file and renames it to PATH.
  void finish();

 private:
  struct Sparse {
    std::vector<std::int32_t> ones, multi, count;
  };
  void create_h5();
  Sparse sparsify(std::size_t image, const float* values) const;
  void append_emc(const Sparse& frame);
  void append_h5(std::size_t first, const std::vector<Sparse>& frames);
  void finish_emc();
  void discard() noexcept;

  std::string path_, tmp_path_, multi_path_, count_path_;
  Format format_;
  std::size_t num_pix_, n_images_, written_ = 0;
  std::FILE* file_ = nullptr;   // .emc: header, ones, multi, place_ones
  std::FILE* multi_ = nullptr;  // .emc: place_multi, appended at finish
  std::FILE* count_ = nullptr;  // .emc: count_multi, appended at finish
  std::vector<std::int32_t> ones_per_frame_, multi_per_frame_;
  detail::Handle h5_;
};

// The whole file at once: images holds n*num_pix photon counts.
void write_dragonfly_emc(const std::string& path, std::size_t num_pix, std::span<const float> images);
void write_dragonfly_h5(const std::string& path, std::size_t num_pix, std::span<const float> images);

}  // namespace spire::io
