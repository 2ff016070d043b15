#include <unistd.h>

#include <fstream>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace spire::cli {

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) fail_in(path.string(), "cannot write");
  }
  std::filesystem::rename(tmp, path);
}

void put_resolution(nlohmann::json& summary, const std::string& key, const resolution::ResolutionAt& r) {
  summary[key + "_angstrom"] = r.angstrom;
  summary[key + "_beyond_grid_edge"] = r.beyond_grid_edge;
}

}  // namespace spire::cli
