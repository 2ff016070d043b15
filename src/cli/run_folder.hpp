#pragma once
// The output folder of `spire reconstruct`: one run at a time writes it, and a fresh run
// never replaces an earlier run's results unless asked (--force).
//
// Contract:
//  - FolderLock: OUT/spire.lock, created with O_EXCL and held with flock() while the run
//    writes OUT; it holds "PID HOST". Another run into OUT is refused (spire::Error naming
//    the folder, the pid and the host) while the holder lives. The kernel drops a flock when
//    its process dies (kill -9 included), so a lock file left behind is stale: the next run
//    takes it over and says so. Where the file system has no flock (some Lustre mounts),
//    the pid decides: a dead pid on this host is stale; a pid on another host is refused
//    (remove the file by hand if that run has ended). The destructor removes the file.
//  - earlier_run: what in OUT belongs to an earlier run: checkpoint.h5, summary.json,
//    generations/. A fresh run refuses such a folder (refuse_earlier_run) unless --force,
//    which removes the files a run writes (remove_earlier_run: its outputs, checkpoint and
//    generations/NNN/ only, never another file) before the new run starts.
#include <filesystem>
#include <optional>
#include <string>

namespace spire::cli {

struct LockHolder {
  long pid = 0;
  std::string host;
};

class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir);  // creates dir
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  bool take_over(const std::filesystem::path& dir);

  std::filesystem::path path_;
  int fd_ = -1;
};

// The live run that holds dir's lock, if any (creates nothing).
std::optional<LockHolder> lock_holder(const std::filesystem::path& dir);
// spire::Error naming dir and the holder when a live run holds dir's lock.
void refuse_if_locked(const std::filesystem::path& dir);

// "checkpoint.h5, summary.json, generations/" as far as dir holds them; empty: no earlier run.
std::string earlier_run(const std::filesystem::path& dir);
// spire::Error when dir holds an earlier run: --resume continues it, --force replaces it.
void refuse_earlier_run(const std::filesystem::path& dir);
// Removes the earlier run's files (those a run writes), the checkpoint first.
void remove_earlier_run(const std::filesystem::path& dir);

}  // namespace spire::cli
