#pragma once
// Diffraction datasets in the HDF5 layout SpiniFEL reads and skopi writes.
//
// Contract (file layout, C order, last index fastest; P panels of H x W pixels):
//   intensities               (N,P,H,W)  numeric, written float32, chunked (1,P,H,W)   required
//   pixel_position_reciprocal (P,H,W,3)  numeric, 1/m, (x,y,z) per pixel                required
//   pixel_index_map           (P,H,W,2)  integers, (row,column) of each pixel in the
//                                        assembled picture, each in [0, 65535]          optional
//   polarization              (P,H,W)    numeric, the factor in the images (not applied) optional
//   solid_angle               (P,H,W)    numeric, sr, the factor in the images (not applied) optional
//   mask                      (P,H,W)    integers, nonzero = usable pixel, 0 = excluded (beamstop,
//                                        gaps, dead or hot pixels: psana's convention)   optional
//   orientations              (N,1,4) or (N,4) quaternions w,x,y,z (ground truth)       optional
//   fluences                  (N)        numeric, written float64: per image, the photons per
//                                        pulse at the particle (skopi's: the nominal spot's
//                                        photons giving the particle's fluence; spire simulate
//                                        --focus-fwhm writes f * photons_per_pulse, f the Gaussian
//                                        focus profile at the particle); finite, >= 0     optional
//   volume                    (n0,n1,n2) real reference 3D intensity                    optional
//   root attributes: n_images (must equal N when present), det_distance (m),
//   photon_energy (eV), photons_per_pulse, beam_radius (m), command_line, pdb,
//   model_centroid_angstrom (3 float64: where the PDB frame's electron centroid was; the
//   patterns are of the molecule moved so that it is at 0, and the model map's MRC origin
//   puts it back); all optional, others (skopi's det_shape, reciprocal_extent) unread.
// This is the layout skopi's SpiniFEL writer (skopi examples/scripts/sim_spinifel.py) makes
// and SpiniFEL reads (spinifel/prep.py): float32 intensities, float64 positions, int64
// index map, float64 orientations (N,1,4), complex128 volume (an h5py compound of two
// float64 'r','i'), float64 polarization and solid_angle and fluences (N), and datasets
// spire does not use (beam_offsets). SpiniFEL moves the coordinate axis first only in memory
// ((3,P,H,W)); a file in that order is refused naming the file order.
// Any integer or float type is accepted on read and converted. Images in memory are
// N*P*H*W floats, image-major, then panel, then row (H), then column (W, fastest): the loop
// sees P*H*W pixels per image with their positions in the same order.
//
//  - Optional datasets never stop a read: one of a type or shape spire cannot use, or with
//    values it refuses (a complex volume, an index map out of range, NaN in polarization),
//    is left out of DatasetInfo with a note in DatasetInfo::ignored ("volume: has type
//    complex128 (compound of 2 float64), expected numbers; not used"); root datasets spire
//    does not know are noted too ("beam_offsets: float64 (10,2), not read by spire"). Required
//    datasets (intensities, pixel_position_reciprocal) fail as below.
//  - DatasetReader validates the whole layout once on open; read_images() reads one range
//    of images with a hyperslab (a rank reads only its own range of a file larger than
//    memory). Values are returned as stored (io/images.hpp's contract): negative values are
//    kept, NaN and +-Inf mark bad pixels of one image.
//  - Values read as float (intensities, geometry, volume) must fit in float32: a float64
//    1e300 is an error "value 1e+300 does not fit in float32", not an inf.
//  - pixel_position_reciprocal must be in 1/m: X-ray SPI detectors reach |q| of 1e8-1e11
//    1/m; a largest |q| outside [1e6, 1e13] 1/m (1/Angstrom or 1/nm written as 1/m) is an
//    error saying so.
//  - DatasetWriter / write_dataset() write to PATH.tmp-<pid> (removing those of writers no
//    longer running, core/files.hpp) and rename into place only once everything is
//    written, so a crash or error never leaves a partial PATH and never replaces an
//    existing good file. A failed write (disk full) closes and removes the temporary file.
//  - The HDF5 build is not thread-safe: call into one reader or writer from one thread at a
//    time (MPI ranks are separate processes and each open their own reader).
//  - Every failure is a spire::Error "PATH: dataset 'NAME': problem". HDF5's own error
//    printing is switched off so the user sees only that message.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/hdf5_id.hpp"
#include "io/images.hpp"

namespace spire::io {

// The SpiniFEL/skopi layout as an io::ImageFile (images.hpp).
class DatasetReader final : public ImageFile {
 public:
  explicit DatasetReader(std::string path);  // opens and validates the layout
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  const std::string& path() const override { return path_; }
  Format format() const override { return Format::spinifel; }
  const DatasetInfo& info() const override { return info_; }
  bool has_orientations() const override { return has_orientations_; }
  bool has_volume() const override { return volume_shape_[0] > 0; }
  std::array<std::size_t, 3> volume_shape() const override { return volume_shape_; }

  // Images first .. first+count-1 into out (count*P*H*W floats), as stored.
  void read_images(std::size_t first, std::size_t count, float* out) const override;
  std::vector<double> read_orientations() const override;  // N*4 (w,x,y,z); error when absent
  Volume read_volume() const override;                     // error when absent

 private:
  void check_infinities(std::size_t first, std::size_t count, const float* out) const;

  std::string path_;
  detail::Handle file_;
  detail::Handle intensities_;  // kept open for repeated range reads
  DatasetInfo info_;
  bool has_orientations_ = false;
  std::array<std::size_t, 3> volume_shape_{};
};

// Streams a dataset to disk range by range (images need not fit in memory).
class DatasetWriter {
 public:
  // Creates PATH.tmp-<pid> with the geometry, attributes (n_images = info.n_images) and the
  // optional orientations (N*4, w,x,y,z; empty: none) and volume (empty values: none).
  DatasetWriter(std::string path, const DatasetInfo& info,
                std::span<const double> orientations = {}, const Volume& volume = {});
  ~DatasetWriter();  // without finish(): removes the temporary file
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Images first .. first+count-1 from images (count*P*H*W floats).
  void write_images(std::size_t first, std::size_t count, const float* images);
  // Fails unless every image was written; closes the file and renames it to PATH.
  void finish();

 private:
  void discard() noexcept;

  std::string path_;
  std::string tmp_path_;
  detail::Handle file_;
  detail::Handle intensities_;
  std::size_t panels_ = 0, height_ = 0, width_ = 0;
  std::vector<bool> written_;
};

// The whole dataset at once: images holds N*P*H*W floats.
void write_dataset(const std::string& path, const DatasetInfo& info, std::span<const float> images,
                   std::span<const double> orientations = {}, const Volume& volume = {});

}  // namespace spire::io
