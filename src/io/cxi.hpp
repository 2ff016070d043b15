#pragma once
// CXI files as CXIDB serves them, read as an io::ImageFile (images.hpp; open_cxi there).
//
// The format, as this reader understands it. Sources: the CXI 1.6 specification
// (cxidb/CXI, cxi_file_format.tex: "Geometry", "Detector", "Source"), its example writer
// typical_raw_cxi.py (same repository), and condor's PixelMask (FXIhub/condor,
// src/utils/pixelmask.py) for the mask bits writers use beyond the specification.
//  - HDF5; every measurement under /entry_1 (/cxi_version at the root: version * 100).
//    Default units are SI with no exceptions (m, J); a dataset may state another in its
//    'units' attribute. This reader accepts m, mm, um, nm for lengths and J, eV, keV for
//    energies, and refuses any other unit naming it.
//  - Images: entry_1/data_1/data, in writers usually a soft link to
//    entry_1/instrument_1/detector_N/data; the detector whose group holds the link's
//    target gives the geometry (detector_1 when data_1/data is a plain dataset or absent,
//    then entry_1/instrument_1/detector_1/data holds the images). Shapes: (H,W) one image,
//    (N,H,W) a stack, (N,P,H,W) a stack of a modular detector of P panels (the
//    specification's "stack of images from a modular detector"). Any integer or float type
//    (CXIDB: float32, int32, uint16); the values are returned as stored, converted to float.
//  - Geometry (CXI lab frame: right-handed, z along the beam, downstream, y up, origin at
//    the sample), in the detector group:
//      corner_position (3) m: the outer corner of the first pixel (data[0][0]), the corner
//        of the detector; (P,3) for P panels.
//      basis_vectors (2,3) m: row 0 = centre of pixel (1,0) - centre of pixel (0,0) (along
//        the first image dimension, rows), row 1 = centre of (0,1) - centre of (0,0)
//        (columns); (P,2,3) for P panels. Absent: [[0,-y_pixel_size,0],[-x_pixel_size,0,0]],
//        rows along -y, columns along -x.
//      x_pixel_size, y_pixel_size m: needed only without basis_vectors.
//      distance m: closest distance from the sample; needed only without corner_position,
//        when the detector is taken as perpendicular to the beam and centred on it (the beam
//        meets the middle of the panel, as spire simulate's detector). Several panels need
//        corner_position.
//    Geometry datasets may carry a leading image axis ((N,3), (N,2,3), (N) distances, as
//    per-image geometry in the specification); spire uses one geometry for every image, so
//    their rows must be equal. The centre of pixel (p, i, j) is
//      r = corner_position[p] + (i + 1/2) basis_vectors[p][0] + (j + 1/2) basis_vectors[p][1].
//  - Photon energy: entry_1/instrument_1/source_1/energy (J per photon, the specification's
//    Source), else entry_1/instrument_1/beam_1/incident_energy (J) or incident_wavelength
//    (m) (the Beam class); else OpenOptions::photon_energy (eV); else an error.
//  - Mask: the detector's 'mask' (else entry_1/data_1/mask, Cheetah's place): (H,W) or
//    (P,H,W) integer bit flags, 0 = a perfect pixel. Excluded (kCxiExcludedBits): the
//    specification's INVALID 0x1, SATURATED 0x2, HOT 0x4, DEAD 0x8, SHADOWED 0x10, BAD 0x80,
//    MISSING 0x200 (a gap), and TO_BE_IGNORED 0x40 (Cheetah and condor). Informational,
//    pixel kept: IN_PEAKMASK 0x20, OUT_OF_RESOLUTION_LIMITS 0x100 (spire applies its own
//    range), NOISY 0x400, HAS_SIGNAL 0x1000, and bits the specification leaves to users.
//  - True orientations (evaluation only, orientations.oracle): condor's per-particle
//    result entry_1/particles/particle_00/extrinsic_quaternion (N,4), w,x,y,z, read as
//    spire's own quaternions (those spire simulate writes); that condor's rotation has the
//    same sense as spire's is not verified here (no condor file at hand). Left out with a
//    note when of another shape.
//
// Mapping to spire: CXI's lab frame is spire's (geometry/detector.hpp: beam along +z from
// the particle at the origin), axis for axis. The pixel order is the file's: panel, row (the
// first image dimension), column. pixel_position_reciprocal is s = (r_hat - z_hat) / lambda
// (geometry::reciprocal_position, as spire simulate computes it). spire simulate's square
// detector (column along +x, row along +y, centred on the beam) is, in CXI terms,
// basis_vectors [[0,p,0],[p,0,0]] and corner_position (-W p/2, -H p/2, distance).
//
// Errors (spire::Error "PATH: dataset 'NAME': problem"): no images, images of another rank
// or none, a detector of more than 2^26 pixels (a corrupt shape), a missing required item
// (distance without corner_position, pixel sizes without basis_vectors, no photon energy
// anywhere), geometry that varies between images, a pixel not downstream of the sample,
// degenerate basis vectors, non-finite geometry, a unit spire does not know, a float64
// value beyond float32 in the images. An unusable mask or orientations array is left out
// with a note in info().ignored, like the parts of the entry spire does not read (data_2,
// detector_2, other detector fields).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/hdf5_id.hpp"
#include "io/images.hpp"

namespace spire::io {

inline constexpr const char* kCxiOrientations = "entry_1/particles/particle_00/extrinsic_quaternion";

inline constexpr std::uint32_t kCxiPixelInvalid = 0x1, kCxiPixelSaturated = 0x2, kCxiPixelHot = 0x4,
                               kCxiPixelDead = 0x8, kCxiPixelShadowed = 0x10, kCxiPixelToBeIgnored = 0x40,
                               kCxiPixelBad = 0x80, kCxiPixelMissing = 0x200;
inline constexpr std::uint32_t kCxiExcludedBits = kCxiPixelInvalid | kCxiPixelSaturated | kCxiPixelHot |
                                                  kCxiPixelDead | kCxiPixelShadowed | kCxiPixelToBeIgnored |
                                                  kCxiPixelBad | kCxiPixelMissing;

class CxiReader final : public ImageFile {
 public:
  CxiReader(std::string path, const OpenOptions& options);  // opens and validates
  CxiReader(const CxiReader&) = delete;
  CxiReader& operator=(const CxiReader&) = delete;

  const std::string& path() const override { return path_; }
  Format format() const override { return Format::cxi; }
  const DatasetInfo& info() const override { return info_; }
  // Images first .. first+count-1 into out (count*P*H*W floats), as stored.
  void read_images(std::size_t first, std::size_t count, float* out) const override;
  bool has_orientations() const override { return has_orientations_; }
  std::vector<double> read_orientations() const override;  // N*4 (w,x,y,z); error when absent

 private:
  void check_infinities(std::size_t first, std::size_t count, const float* out) const;

  std::string path_;
  std::string data_path_;  // the images' dataset, as named in the file
  detail::Handle file_;
  detail::Handle data_;
  int rank_ = 0;  // of data_: 2, 3 or 4
  bool has_orientations_ = false;
  DatasetInfo info_;
};

}  // namespace spire::io
