#pragma once
// Errors that reach the user: one exception type whose message names the problem and,
// where there is one, the file (and dataset or line) it came from.
#include <stdexcept>
#include <string>

namespace spire {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// An allocation that failed (what std::bad_alloc says, with the size): callers that know
// the setting behind it catch it to name that setting.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what) : Error(what) {}
};

// "FILE: problem" when a file is involved, otherwise just the problem.
[[noreturn]] void fail(const std::string& problem);
[[noreturn]] void fail_in(const std::string& file, const std::string& problem);

}  // namespace spire
