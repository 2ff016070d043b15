#include "core/error.hpp"

namespace spire {

void fail(const std::string& problem) { throw Error(problem); }

void fail_in(const std::string& file, const std::string& problem) {
  throw Error(file + ": " + problem);
}

}  // namespace spire
