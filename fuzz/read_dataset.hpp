#pragma once
// The reads the dataset targets (dataset, dataset_structure) run on a SpiniFEL-layout file:
// open (validates the layout), up to 4 images, the orientations and volume when present, and
// `spire info`'s summary. A spire::Error is the documented rejection and is caught.
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/dataset.hpp"

namespace spire::fuzz {

inline void read_dataset(const std::string& path) {
  try {
    io::DatasetReader reader(path);
    const auto& info = reader.info();
    const std::size_t count = std::min<std::size_t>(info.n_images, 4);
    std::vector<float> images(count * info.pixels());
    reader.read_images(0, count, images.data());
    if (reader.has_orientations()) (void)reader.read_orientations();
    if (reader.has_volume()) (void)reader.read_volume();
  } catch (const Error&) {
  }
  try {
    (void)io::describe(path);
  } catch (const Error&) {
  }
}

}  // namespace spire::fuzz
