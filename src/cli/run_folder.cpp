#include "cli/run_folder.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <sstream>
#include <vector>

#include "core/error.hpp"

namespace spire::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLockName = "spire.lock";

std::string this_host() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

std::optional<LockHolder> read_holder(int fd) {
  std::array<char, 512> buf{};
  const ssize_t got = ::pread(fd, buf.data(), buf.size() - 1, 0);
  if (got <= 0) return std::nullopt;
  std::istringstream in(std::string(buf.data(), static_cast<std::size_t>(got)));
  LockHolder h;
  if (!(in >> h.pid >> h.host) || h.pid <= 0) return std::nullopt;
  return h;
}

bool alive_here(const LockHolder& h) {
  return h.host == this_host() && (::kill(static_cast<pid_t>(h.pid), 0) == 0 || errno == EPERM);
}

std::string describe(const std::optional<LockHolder>& h) {
  return h ? fmt::format("pid {} on host {}", h->pid, h->host) : std::string("a run that is starting");
}

[[noreturn]] void refuse(const fs::path& dir, const std::optional<LockHolder>& h) {
  const bool elsewhere = h && h->host != this_host();
  fail(fmt::format("reconstruct: another run is writing {} ({}; lock file {}): wait for it to end or give another "
                   "--out{}",
                   dir.string(), describe(h), (dir / kLockName).string(),
                   elsewhere ? " (if that run has ended, remove the lock file)" : ""));
}

enum class Flock { taken, held, unsupported };

Flock try_flock(int fd, int how) {
  if (::flock(fd, how | LOCK_NB) == 0) return Flock::taken;
  return errno == EWOULDBLOCK ? Flock::held : Flock::unsupported;
}

// Whether fd is still the file at path (its holder may have removed it since we opened it).
bool still_there(int fd, const fs::path& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// An empty lock file this old was left by a run killed before it wrote its pid.
bool abandoned(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && ::time(nullptr) - st.st_mtime > 10;
}

void write_holder(int fd, const fs::path& path) {
  const std::string text = fmt::format("{} {}\n", ::getpid(), this_host());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    fail_in(path.string(), std::string("cannot write the lock file: ") + std::strerror(errno));
}

// Removes OUT/generations/NNN/ folders (a fresh run starts at 000), then generations/ if empty.
void remove_generation_folders(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> old;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      old.push_back(e.path());
  }
  for (const auto& p : old) fs::remove_all(p);
  if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

}  // namespace

FolderLock::FolderLock(const fs::path& dir) : path_(dir / kLockName) {
  fs::create_directories(dir);
  for (int attempt = 0; attempt < 20; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      // Blocking: one that probes the new, empty file lets go at once.
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
      write_holder(fd_, path_);
      return;
    }
    if (errno != EEXIST) fail_in(path_.string(), std::string("cannot create the lock file: ") + std::strerror(errno));
    if (take_over(dir)) return;
  }
  fail_in(path_.string(), "cannot take the lock: it keeps changing hands");
}

// The lock file exists: refused if its run lives, taken over if stale, false to try again.
bool FolderLock::take_over(const fs::path& dir) {
  const int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;  // just removed: create it again
    fail_in(path_.string(), std::string("cannot open the lock file: ") + std::strerror(errno));
  }
  const Flock state = try_flock(fd, LOCK_EX);
  const auto holder = read_holder(fd);
  const bool live = state == Flock::held || (!holder && !(state == Flock::taken && abandoned(fd))) ||
                    (holder &&
                    state == Flock::unsupported && (alive_here(*holder) || holder->host != this_host()));
  if (live || !still_there(fd, path_)) {
    ::close(fd);
    if (live) refuse(dir, holder);
    return false;
  }
  fmt::print(stderr, "spire reconstruct: note: taking over {}, left by {}, which no longer runs\n", path_.string(),
             describe(holder));
  if (state == Flock::unsupported) {  // no flock here: a fresh O_EXCL file
    ::close(fd);
    ::unlink(path_.c_str());
    return false;
  }
  fd_ = fd;
  write_holder(fd_, path_);
  return true;
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  if (still_there(fd_, path_)) ::unlink(path_.c_str());
  ::close(fd_);
}

std::optional<LockHolder> lock_holder(const fs::path& dir) {
  const auto path = dir / kLockName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const Flock state = try_flock(fd, LOCK_SH);
  auto holder = read_holder(fd);
  ::close(fd);
  if (state == Flock::held) return holder ? holder : LockHolder{};
  if (state == Flock::unsupported && holder && (alive_here(*holder) || holder->host != this_host())) return holder;
  return std::nullopt;
}

void refuse_if_locked(const fs::path& dir) {
  if (auto h = lock_holder(dir)) refuse(dir, h->pid > 0 ? h : std::nullopt);
}

std::string earlier_run(const fs::path& dir) {
  std::string found;
  std::error_code ec;
  for (const char* name : {"checkpoint.h5", "summary.json"})
    if (fs::exists(dir / name, ec)) found += (found.empty() ? "" : ", ") + std::string(name);
  if (fs::is_directory(dir / "generations", ec)) found += (found.empty() ? "" : ", ") + std::string("generations/");
  return found;
}

void refuse_earlier_run(const fs::path& dir) {
  const std::string found = earlier_run(dir);
  if (found.empty()) return;
  fail(fmt::format("reconstruct: {} holds an earlier run ({}); --resume {} continues it, --force replaces it "
                   "(its results are deleted), or give another --out",
                   dir.string(), found, dir.string()));
}

void remove_earlier_run(const fs::path& dir) {
  // The checkpoint first: a run cut short here can no longer be resumed as the old one.
  for (const char* name : {"checkpoint.h5", "summary.json", "density.mrc", "density_aligned.mrc", "intensity.mrc",
                           "autocorrelation.mrc", "half_1.mrc", "half_2.mrc", "fsc.csv", "orientations.csv",
                           "orientations.h5", "settings.toml"})
    fs::remove(dir / name);
  for (const char* plot : {"fsc", "density_slices", "intensity_slices", "convergence", "coverage"})
    for (const char* ext : {".png", ".svg"}) fs::remove(dir / (std::string(plot) + ext));
  remove_generation_folders(dir / "generations");
}

}  // namespace spire::cli
