// Fuzz target: Dragonfly's detector file (io/dragonfly.hpp), any bytes as the text form or,
// when they are HDF5, the HDF5 form; a detector read is then turned into spire's geometry
// (positions in 1/m at 6000 eV, the mask) as open_images does.
#include <string>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "io/dragonfly.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".dat");
  const std::string& path = file.write(data, size);
  try {
    const auto det = spire::io::read_dragonfly_detector(path);
    spire::io::DatasetInfo info;
    spire::io::fill_dragonfly_geometry(info, det, 6000, path);
  } catch (const spire::Error&) {
  }
  return 0;
}
