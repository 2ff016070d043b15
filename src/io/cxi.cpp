// CXI files as CXIDB serves them (images.hpp): being written (issue 15).
#include "core/error.hpp"
#include "io/images.hpp"

namespace spire::io {

std::unique_ptr<ImageFile> open_cxi(const std::string& path, const OpenOptions&) {
  fail_in(path, "CXI files cannot be read yet");
}

}  // namespace spire::io
