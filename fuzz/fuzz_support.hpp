#pragma once
// Shared by the fuzz targets (fuzz/<target>.cpp) and their replay program (replay.cpp).
//
// Each target defines LLVMFuzzerTestOneInput. A spire::Error is the parser's documented way
// to reject an input and is caught there; anything else (a crash, a sanitizer report, any
// other exception escaping, which libFuzzer reports as a deadly signal) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <unistd.h>

namespace spire::fuzz {

// The readers of MRC maps and HDF5 datasets take a path: the input goes to a file of this
// process in /dev/shm (memory) when it exists, else in the temporary directory; it is
// rewritten for every input and removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& extension) {
    std::filesystem::path dir = "/dev/shm";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) dir = std::filesystem::temp_directory_path();
    path_ = (dir / ("spire-fuzz-" + std::to_string(::getpid()) + extension)).string();
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Writes the bytes (replacing the file) and returns its path.
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    if (std::fclose(f) != 0) std::abort();
    return path_;
  }

 private:
  std::string path_;
};

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace spire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
