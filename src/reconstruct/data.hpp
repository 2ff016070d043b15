#pragma once
// The images a run reconstructs from, as the loop and its back ends take them.
//
// With a Team of several ranks (mpirun), Data holds THIS rank's images: a contiguous range
// of the images used, in rank order (Team::images), with their truth. The derived fields
// (prepare()) are over EVERY rank's images, the same on all ranks.
//
// Units: nothing in the loop may depend on the unit the detector reports (photons, ADU,
// keV). Photon counts (every value an integer) are counts and keep their scale: the
// Poisson likelihood needs them. Any other images are divided by their mean pixel value
// (`scale`) when prepared, so the loop sees unit-mean images whatever the unit; maps in
// these units are brought back to the data's with in_data_units() (an autocorrelation or
// intensity scales with `scale`, a density with its square root). Scaling the data by a
// power of two gives bit-identical maps up to that scale (tests/reconstruct).
//
// Pixels: only the usable ones reach Data. The file's mask, data.mask and the resolution
// range (data.resolution_low/high) exclude pixels for every image; they are dropped when
// read (n_pixels counts the kept ones, `pixels` holds their positions), so an excluded
// pixel has no influence at all and costs nothing. A NaN or Inf in one image is a bad pixel
// of that image: held as 0 in `images` and listed in bad_offsets/bad_pixels, which every
// step leaves out exactly (matching and refinement score over the good pixels, merging
// gives them weight 0).
//
// Values: photon counts are integers >= 0 (every value of every rank). Other values are
// intensities and may be negative (dark-subtracted detectors): kept as they are, counted in
// `negative_values`; the euclidean metric takes them, the poisson metric refuses them.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "io/images.hpp"
#include "matching/matching.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

struct Data {
  std::int64_t n_images = 0, n_pixels = 0;
  std::vector<float> images;                       // n_images x n_pixels; empty when sparse
  // Photon counts held sparse (when that is smaller: load_data), matching::ImageSet's
  // compressed rows: image i's nonzero counts are sparse_values[sparse_offsets[i] ..
  // sparse_offsets[i+1]) at sparse_pixels[...]. Empty when dense.
  std::vector<std::int64_t> sparse_offsets;
  std::vector<std::int32_t> sparse_pixels;
  std::vector<float> sparse_values;
  std::vector<std::array<double, 3>> pixels;       // reciprocal positions (any unit)
  // Per pixel of photon counts on the detector's cells (cells.hpp): the detector pixels each
  // sums (matching::ImageSet::pixel_weights); empty: every pixel is one.
  std::vector<float> pixel_weights;
  std::vector<geometry::Quaternion> truth;         // empty when the file has none
  // Bad pixels per image (compressed rows, matching::BadPixels): image i's are
  // bad_pixels[bad_offsets[i] .. bad_offsets[i+1]); both empty when there are none.
  std::vector<std::int64_t> bad_offsets;
  std::vector<std::int32_t> bad_pixels;
  std::int64_t detector_pixels = 0;   // pixels per image in the file, masked ones included
  std::int64_t negative_values = 0;   // values below 0 among this rank's images
  // Evaluation only, never seen by the loop's steps: a model map on the run's grid (n^3,
  // centred) for each generation's FSC against it; empty: none.
  std::vector<double> reference;

  // Derived by prepare():
  std::int64_t first = 0;         // this rank's first image among all ranks'
  std::int64_t total = 0;         // images over all ranks (0: not described yet)
  double extent = 0;              // largest pixel |s| (the unit of pixels)
  bool counts = false;            // photon counts: every value of every rank an integer
  double photons_per_image = 0;   // mean sum of an image, over all ranks (the data's units)
  double photons_spread = 0;      // standard deviation of the images' sums, over all ranks (same units)
  double scale = 1;               // the images' unit, divided out (1 for photon counts)
  std::int64_t bad_total = 0;       // bad pixels over all ranks' images
  std::int64_t negative_total = 0;  // negative values over all ranks' images
  // The images' spherically averaged intensity (in the loop's units): profile[b] is the mean
  // value over every rank's images of the pixels with |u| in [b, b + 1) profile_du, u = |s| /
  // (2 extent) in cycles per grid voxel (0 to 1/2 at the largest |s|), bad pixels left out;
  // bins without a pixel interpolated linearly between their neighbours (the first pixel's
  // value below it). The loop's box comes from it (phasing::support_radius_of_profile).
  static constexpr int kProfileBins = 256;
  static constexpr double profile_du = 0.5 / kProfileBins;
  std::vector<double> profile;
};

// The images as matching takes them, dense or sparse.
inline matching::ImageSet<float> image_set(const Data& data) {
  return {data.n_images,           data.n_pixels,    data.images,       data.sparse_offsets,
          data.sparse_pixels,      data.sparse_values, data.pixel_weights};
}

// The values held: the dense images or the sparse counts (every stored value once).
inline std::vector<float>& held_values(Data& data) { return data.sparse_offsets.empty() ? data.images : data.sparse_values; }
inline const std::vector<float>& held_values(const Data& data) {
  return data.sparse_offsets.empty() ? data.images : data.sparse_values;
}

// The bad pixels as matching takes them (empty when there are none).
inline matching::BadPixels bad_pixels_of(const Data& data) { return {data.bad_offsets, data.bad_pixels}; }

// How a data file is opened under these settings (data.detector, photon_energy, mask).
io::OpenOptions open_options(const Settings::Data& data);

// The pixels of `info` the mask and the resolution range keep, ascending (errors name the
// file: none kept).
std::vector<std::int64_t> kept_pixels(const std::string& path, const io::DatasetInfo& info, const Settings::Data& data);

// Fills the derived fields (the profile last) and divides non-count images by their mean pixel value
// (collective over the team: every rank calls it). Fails, naming no file, when the mean is
// not positive and finite (images all zero, or negative on average).
void prepare(Data& data, const distributed::Team& team = distributed::Team());

// Too few photons per image carry no orientation, and more images make up for fewer photons
// only so far: the photons per image random starts were measured to need for `images` images
// (docs/sparse.md, "The frontier": 2cex on 128 x 128 pixels; log-log interpolation between
// the measured image counts, the nearest one's outside them).
double photons_needed(double images);
// The warning (README "Signal and convergence") for photon counts below what their number
// needs on average (photons_needed, or orientations.min_photons where that is set), or ""
// (also for images that are not counts and with orientations.oracle). spire reconstruct and
// spire simulate both say it.
std::string sparse_warning(bool counts, double photons_per_image, std::int64_t images, const Settings& settings);

// What a map computed from prepared images is in the data's units: a density (power 0.5),
// an autocorrelation or intensity (power 1).
std::vector<double> in_data_units(std::span<const double> map, const Data& data, double power);

// How many images the settings select (data.first, data.images) from the file (over all
// ranks) and their pixels, from the file's header alone: what a run needs is known before
// any image is read. The same errors as load_data, naming the file.
// sparse_values: the values per image held sparse (load_data's rule, judged on the first
// up to 100 images), 0 when the images will be held dense.
struct DataShape {
  std::int64_t images = 0, pixels = 0;
  double sparse_values = 0;
  // The pixels the loop slices and matches: the detector's cells (cells.hpp), known once the
  // images are read; 0: every pixel (data_shape's, an upper bound).
  std::int64_t loop_pixels = 0;
};
DataShape data_shape(const std::string& path, const Settings::Data& data, const distributed::Team& team);

// Reads this rank's share of the images the settings select (data.first, data.images) from a
// dataset file (io/dataset.hpp), with their truth if the file has it, and describes them.
// Errors name the file: a range outside it, fewer images than ranks, bad values.
// Photon counts with under a quarter of their values nonzero (judged on the first block read)
// are held sparse; a later image that is not counts turns them dense. block_values: values
// read at once (64 MB of floats; tests read less).
Data load_data(const std::string& path, const Settings::Data& data, const distributed::Team& team,
               std::int64_t block_values = std::int64_t{1} << 24);

}  // namespace spire::reconstruct
