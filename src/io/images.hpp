#pragma once
// Diffraction image files of every layout spire reads, behind one interface: what the loop,
// `spire info` and `spire convert` see, whatever program wrote the file.
//
// Formats (detect_format looks at the content, not the name):
//   spinifel       HDF5 in the SpiniFEL/skopi layout (io/dataset.hpp): dense images (N,P,H,W)
//   dragonfly_emc  Dragonfly's binary sparse photon file (.emc) with its detector file
//   dragonfly_h5   Dragonfly's HDF5 sparse photon file (place_ones, place_multi, count_multi)
//                  with its detector file
//   cxi            CXI as CXIDB serves it (entry_1/data_1/data or
//                  entry_1/instrument_1/detector_1/data, geometry from the same entry)
//
// Contract of every ImageFile (P*H*W pixels per image in info()'s order):
//  - info() describes the detector in 1/m (pixel_position_reciprocal), panel-major, and its
//    mask: info().mask[p] == 0 marks a pixel no image may use (beamstop, gap, dead or hot
//    pixel: from the file's own mask, in that format's convention, and from
//    OpenOptions::mask); empty means every pixel is usable.
//  - read_images(first, count, out) writes count*P*H*W floats, the values as stored
//    (converted to float): photon counts or intensities in the file's unit. Negative values
//    are kept (dark-subtracted detector values). A NaN or +-Inf marks a bad pixel of that
//    image only (the loop gives it weight 0). Values at pixels the mask excludes are
//    unspecified. A stored value that does not fit in float32 (float64 1e300) is an error.
//  - Errors are spire::Error naming the file (and the dataset or offset where it applies);
//    a file of none of the formats says so and lists the formats.
//  - Not thread-safe (HDF5 is not): one thread at a time per file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/names.hpp"

namespace spire::io {

// The largest side of an assembled picture a pixel_index_map may describe (rows and columns
// are below it).
inline constexpr int max_assembled_side = 65536;

// Detector geometry and metadata: everything in a dataset file except the per-image arrays.
// Per-pixel arrays hold P*H*W pixels, panel-major, then row, then column.
struct DatasetInfo {
  std::size_t n_images = 0;
  int panels = 1;                                // P, detector panels
  int height = 0;                                // H, rows of a panel
  int width = 0;                                 // W, columns of a panel
  std::vector<float> pixel_position_reciprocal;  // P*H*W*3, 1/m
  std::vector<std::int32_t> pixel_index_map;     // P*H*W*2 (row, column), empty when absent
  int assembled_height = 0;                      // max row + 1 of pixel_index_map, 0 when absent
  int assembled_width = 0;                       // max column + 1 of pixel_index_map, 0 when absent
  std::vector<float> polarization;               // P*H*W, empty when absent
  std::vector<float> solid_angle;                // P*H*W, empty when absent
  std::vector<std::uint8_t> mask;                // P*H*W, 1 usable, 0 excluded; empty: all usable
  // N, per image: the photons per pulse at the particle (skopi's 'fluences': the pulse's
  // photons that, over the nominal spot pi beam_radius^2, give the fluence the particle saw;
  // relative to the peak: fluences / photons_per_pulse). Empty when the file has none.
  // Described only: the loop does not use it.
  std::vector<double> fluences;
  std::vector<std::string> ignored;              // read only: what was left out of the file, and why

  std::optional<double> det_distance;   // m
  std::optional<double> photon_energy;  // eV
  std::optional<double> photons_per_pulse;
  std::optional<double> beam_radius;  // m
  std::string command_line;           // empty when absent
  std::string pdb;                    // empty when absent
  std::optional<std::array<double, 3>> model_centroid;  // Angstrom, in the PDB's frame

  std::size_t pixels() const { return static_cast<std::size_t>(panels) * height * width; }
  std::size_t usable_pixels() const;  // pixels the mask keeps (all when it is empty)
};

// Reference 3D intensity; values has shape[0]*shape[1]*shape[2] entries, shape[2] fastest.
struct Volume {
  std::array<std::size_t, 3> shape{};
  std::vector<float> values;
};

enum class Format { spinifel, dragonfly_emc, dragonfly_h5, cxi };
inline constexpr NameTable<Format, 4> kFormatNames{{{Format::spinifel, "spinifel"},
                                                    {Format::dragonfly_emc, "dragonfly-emc"},
                                                    {Format::dragonfly_h5, "dragonfly-h5"},
                                                    {Format::cxi, "cxi"}}};

struct OpenOptions {
  // Dragonfly's detector file (its text .dat or HDF5 form): required for Dragonfly photons,
  // which hold pixel numbers only.
  std::string detector;
  // eV; for files that do not store the wavelength (Dragonfly's q vectors are in voxel
  // units of its Ewald sphere). 0: the file's own, an error where it has none.
  double photon_energy = 0;
  // A mask file applied on top of the file's own: HDF5 with a dataset 'mask' of shape
  // (P,H,W), or (H,W) when P = 1, any integer type, nonzero = usable. "": none.
  std::string mask;
};

class ImageFile {
 public:
  virtual ~ImageFile() = default;

  virtual const std::string& path() const = 0;
  virtual Format format() const = 0;
  virtual const DatasetInfo& info() const = 0;
  virtual void read_images(std::size_t first, std::size_t count, float* out) const = 0;

  virtual bool has_orientations() const { return false; }
  virtual std::vector<double> read_orientations() const;  // N*4 (w,x,y,z); error when absent
  virtual bool has_volume() const { return false; }
  virtual Volume read_volume() const;  // error when absent
  virtual std::array<std::size_t, 3> volume_shape() const { return {}; }
};

// The format of the file at path (error naming the file when it is none of them).
Format detect_format(const std::string& path);

// Opens and validates the file in its format, then applies options.mask (a mask of another
// shape is an error naming both files).
std::unique_ptr<ImageFile> open_images(const std::string& path, const OpenOptions& options = {});

// The per-format readers, for open_images (each in its own source file).
std::unique_ptr<ImageFile> open_spinifel(const std::string& path);
std::unique_ptr<ImageFile> open_dragonfly(const std::string& path, Format format, const OpenOptions& options);
std::unique_ptr<ImageFile> open_cxi(const std::string& path, const OpenOptions& options);

// Sets info.mask to the usable pixels of `mask_path` and info.mask together (error naming
// the mask file for another shape or a missing dataset).
void apply_mask_file(DatasetInfo& info, const std::string& mask_path);

// One-screen summary for `spire info`: format, images, detector, mask (usable pixels),
// resolution range, optional parts, attributes, the per-image fluences (mean, spread, range)
// when the file has them, and per image: photons (mean and spread),
// bad (non-finite) and negative values, over the first up to 1000 images, or every image
// with every_image.
std::string describe(const ImageFile& file, bool every_image = false);
std::string describe(const std::string& path, const OpenOptions& options = {}, bool every_image = false);

}  // namespace spire::io
