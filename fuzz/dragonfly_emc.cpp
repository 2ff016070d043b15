// Fuzz target: Dragonfly's photon files (io/dragonfly.hpp), any bytes as the photons: the
// binary .emc, or Dragonfly's HDF5 form when the bytes are HDF5 (open_images tells them
// apart by content). The detector is a valid text detector of the pixel count the binary
// header claims (1 to 4096; otherwise 16 pixels, as the HDF5 seeds have), so the fuzzer
// reaches the frame index and the photon lists. Every read runs: open, up to 4 images, the
// last image, and `spire info`'s summary.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "io/images.hpp"

namespace {

// A text detector of n pixels (rewritten when n changes), 0.5 voxel apart on a line, pixel 1
// marked bad (2) and pixel 2 not for orientation (1).
const std::string& detector_of(std::int32_t n) {
  static spire::fuzz::ScratchFile file(".dat");
  static std::int32_t written = -1;
  static std::string path;
  if (n != written) {
    std::string text = std::to_string(n) + " 100.000000 100.000000\n";
    for (std::int32_t p = 0; p < n; ++p)
      text += std::to_string(0.5 * p) + " 1.0 -0.01 1.0 " + (p == 1 ? "2" : p == 2 ? "1" : "0") + "\n";
    path = file.write(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    written = n;
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".emc");
  std::int32_t num_pix = 16;
  if (size >= 8) std::memcpy(&num_pix, data + 4, 4);
  if (num_pix < 1 || num_pix > 4096) num_pix = 16;
  const spire::io::OpenOptions options{.detector = detector_of(num_pix), .photon_energy = 6000, .mask = ""};
  const std::string& path = file.write(data, size);
  try {
    const auto images = spire::io::open_images(path, options);
    const auto& info = images->info();
    const std::size_t count = std::min<std::size_t>(info.n_images, 4);
    std::vector<float> out(count * info.pixels());
    images->read_images(0, count, out.data());
    if (info.n_images > 0) images->read_images(info.n_images - 1, 1, out.data());
  } catch (const spire::Error&) {
  }
  try {
    (void)spire::io::describe(path, options);
  } catch (const spire::Error&) {
  }
  return 0;
}
