// Fuzz target: the CXI reader (io/cxi.hpp), any bytes as an HDF5 file image (the reader opens
// a path, so the image is written to a file in /dev/shm first, as fuzz/dataset.cpp does).
// Every read the reader offers runs: open (validates the layout and geometry; once more
// with a photon energy from the options when the first open fails), up to 4 images, the
// orientations when present, and `spire info`'s summary of the open file.
#include <algorithm>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "io/cxi.hpp"

namespace {

std::unique_ptr<spire::io::ImageFile> open(const std::string& path) {
  try {
    return spire::io::open_cxi(path, {});
  } catch (const spire::Error&) {
  }
  spire::io::OpenOptions options;
  options.photon_energy = 6000;
  return spire::io::open_cxi(path, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".cxi");
  const std::string& path = file.write(data, size);
  try {
    const auto reader = open(path);
    const auto& info = reader->info();
    const std::size_t count = std::min<std::size_t>(info.n_images, 4);
    std::vector<float> images(count * info.pixels());
    reader->read_images(0, count, images.data());
    if (reader->has_orientations()) (void)reader->read_orientations();
    (void)spire::io::describe(*reader);
  } catch (const spire::Error&) {
  }
  return 0;
}
