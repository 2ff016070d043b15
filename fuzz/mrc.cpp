// Fuzz target: the MRC map reader (io/mrc.hpp), any bytes as a file.
#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "io/mrc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".mrc");
  try {
    const auto map = spire::io::read_mrc(file.write(data, size));
    if (map.data.size() != std::size_t(map.nx) * std::size_t(map.ny) * std::size_t(map.nz))
      __builtin_trap();
  } catch (const spire::Error&) {
  }
  return 0;
}
