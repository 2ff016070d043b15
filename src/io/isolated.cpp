#include "io/isolated.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "core/error.hpp"

namespace spire::io {

namespace {

constexpr const char* kLimitVariable = "SPIRE_PROBE_SECONDS";

// The child: runs work, sends its error message (if any) down the pipe, exits without
// running the parent's exit handlers or destructors (_exit).
[[noreturn]] void child(int out, const std::function<void()>& work) {
  // A crash ends the child by its signal in every build (AddressSanitizer's handler would
  // turn it into exit code 1 after its report).
  for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, SIG_DFL);
  int code = 0;
  std::string message;
  try {
    work();
  } catch (const std::exception& e) {
    message = e.what();
    code = 1;
  } catch (...) {
    message = "unknown error";
    code = 1;
  }
  for (std::size_t sent = 0; sent < message.size();) {
    const ssize_t n = ::write(out, message.data() + sent, message.size() - sent);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::close(out);
  ::_exit(code);
}

// Reads the child's message until it closes the pipe or the deadline passes; false on the
// deadline.
bool read_until_closed(int in, std::chrono::steady_clock::time_point deadline, std::string& message) {
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{in, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60'000))) <= 0) continue;  // EINTR, or wait on
    const ssize_t n = ::read(in, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    message.append(buffer, static_cast<std::size_t>(n));
  }
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

std::chrono::seconds probe_limit() {
  const char* text = std::getenv(kLimitVariable);
  if (!text || !*text) return std::chrono::seconds(120);
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0)
    fail(fmt::format("{}={}: not a number of seconds (0 turns the isolated check of input files off)", kLimitVariable,
                     text));
  return std::chrono::seconds(value);
}

void run_isolated(const std::string& file, std::chrono::seconds limit, const std::function<void()>& work) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_in(file, fmt::format("cannot check the file: pipe: {}", std::strerror(errno)));
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    fail_in(file, fmt::format("cannot check the file: fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1], work);
  }
  ::close(fds[1]);
  std::string message;
  const bool finished = read_until_closed(fds[0], deadline, message);
  ::close(fds[0]);
  if (!finished) ::kill(pid, SIGKILL);
  const int status = wait_for(pid);
  if (!finished)
    fail_in(file, fmt::format("reading the file's structure did not finish in {} s: a corrupt file the HDF5 library "
                              "loops on, or a very slow file system ({}=SECONDS allows longer, 0 turns this check off)",
                              limit.count(), kLimitVariable));
  if (WIFSIGNALED(status))
    fail_in(file, fmt::format("reading the file crashed (signal {}, {}; in a separate process, before any work): a "
                              "corrupt file the HDF5 library does not check (docs/fuzzing.md)",
                              WTERMSIG(status), strsignal(WTERMSIG(status))));
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    // A sanitizer's report of a crash ends the child with an exit code and no message.
    if (message.empty())
      fail_in(file, fmt::format("reading the file failed in a separate process (exit code {}, no message): a corrupt "
                                "file the HDF5 library does not check (docs/fuzzing.md)",
                                WEXITSTATUS(status)));
    throw Error(message);
  }
}

void probe_images(const std::string& path, const OpenOptions& options) {
  const auto limit = probe_limit();
  if (limit.count() == 0) return;
  run_isolated(path, limit, [&] {
    const auto file = open_images(path, options);
    std::vector<float> first(file->info().pixels());
    if (file->info().n_images > 0) file->read_images(0, 1, first.data());
    if (file->has_orientations()) (void)file->read_orientations();
    if (file->has_volume()) (void)file->volume_shape();
  });
}

}  // namespace spire::io
