// Dragonfly's sparse photon files (images.hpp): being written (issue 15).
#include "core/error.hpp"
#include "io/images.hpp"

namespace spire::io {

std::unique_ptr<ImageFile> open_dragonfly(const std::string& path, Format, const OpenOptions&) {
  fail_in(path, "Dragonfly photon files cannot be read yet");
}

}  // namespace spire::io
