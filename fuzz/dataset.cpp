// Fuzz target: the HDF5 dataset reader (io/dataset.hpp), any bytes as an HDF5 file image
// (the reader opens a path, so the image is written to a file in /dev/shm first).
// Every read the reader offers runs: open (validates the layout), up to 4 images, the
// orientations and volume when present, and `spire info`'s summary.
#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "fuzz/read_dataset.hpp"
#include "io/dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".h5");
  const std::string& path = file.write(data, size);
  spire::fuzz::read_dataset(path);
  return 0;
}
