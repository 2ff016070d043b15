#include "core/files.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace spire {
namespace {

namespace fs = std::filesystem;

// The pid of NAME = PREFIX<digits>; 0 when NAME is not of that form.
pid_t pid_of(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return 0;
  const std::string_view digits = name.substr(prefix.size());
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  return ec == std::errc{} && end == digits.data() + digits.size() ? pid : 0;
}

bool running(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

void remove_stale(const fs::path& path) {
  const std::string prefix = path.filename().string() + ".tmp-";
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t pid = pid_of(it->path().filename().string(), prefix);
    if (pid > 0 && pid != ::getpid() && !running(pid)) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace

std::string temporary_path(const std::string& path) {
  remove_stale(path);
  return path + ".tmp-" + std::to_string(::getpid());
}

}  // namespace spire
