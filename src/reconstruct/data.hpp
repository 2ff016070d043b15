#pragma once
// The images a run reconstructs from, as the loop and its back ends take them.
//
// With a Team of several ranks (mpirun), Data holds THIS rank's images: a contiguous range
// of the images used, in rank order (Team::images), with their truth. The derived fields
// (describe()) are over EVERY rank's images, the same on all ranks.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

struct Data {
  std::int64_t n_images = 0, n_pixels = 0;
  std::vector<float> images;                       // n_images x n_pixels
  std::vector<std::array<double, 3>> pixels;       // reciprocal positions (any unit)
  std::vector<geometry::Quaternion> truth;         // empty when the file has none

  // Derived by describe():
  std::int64_t first = 0;         // this rank's first image among all ranks'
  std::int64_t total = 0;         // images over all ranks (0: not described yet)
  double extent = 0;              // largest pixel |s| (the unit of pixels)
  bool counts = false;            // photon counts: every value of every rank an integer
  double photons_per_image = 0;   // mean sum of an image, over all ranks
};

// Fills the derived fields (collective over the team: every rank calls it).
void describe(Data& data, const distributed::Team& team = distributed::Team());

// How many images the settings select (data.first, data.images) from the file (over all
// ranks) and their pixels, from the file's header alone: what a run needs is known before
// any image is read. The same errors as load_data, naming the file.
struct DataShape {
  std::int64_t images = 0, pixels = 0;
};
DataShape data_shape(const std::string& path, const Settings::Data& range, const distributed::Team& team);

// Reads this rank's share of the images the settings select (data.first, data.images) from a
// dataset file (io/dataset.hpp), with their truth if the file has it, and describes them.
// Errors name the file: a range outside it, fewer images than ranks, bad values.
Data load_data(const std::string& path, const Settings::Data& range, const distributed::Team& team);

}  // namespace spire::reconstruct
