#pragma once
// Progress of long work, for the person waiting on it: what runs now, how far it is, how
// long it has taken and about how long it has left. (Debian packages no C++ progress
// library; this is a counter and a rate-limited line.)
//
// Contract:
//  - A Progress is silent (default-constructed) or writes to one stream. The work that knows
//    its size calls begin(what, total) and then add(units) as units finish; add() is
//    thread-safe and cheap (an atomic add; a clock read and maybe a line at most once per
//    `kCheckEvery` units or per call when units are large), so OpenMP workers may call it.
//  - On a terminal the task's line is rewritten in place (\r, erase line) at most 4 times a
//    second; elsewhere (pipe, file) a full line at most every `pipe_interval` seconds
//    (default 5), each one flushed. A task that ends before its first line is due prints
//    nothing: only work of more than a few seconds shows.
//  - note() prints a permanent line (clearing an in-place one first), flushed at once.
//  - The time left of a task is its elapsed time x (total - done) / done; "-" until 2% or
//    a second of it has passed.
//  - Printing never changes a result; under MPI only the lead rank is given a non-silent one.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace spire {

class Progress {
 public:
  Progress() = default;  // silent
  // To `out`; terminal: in-place lines (isatty on its descriptor) unless forced either way.
  explicit Progress(std::FILE* out, double pipe_interval = 5.0);
  Progress(std::FILE* out, bool terminal, double pipe_interval);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return out_ != nullptr; }
  bool terminal() const { return terminal_; }
  std::int64_t done() const { return done_.load(); }  // units of the current task so far

  // Prefix of every task line, e.g. "generation 3 of at most 30".
  void set_context(std::string context);
  // A task of `total` units (> 0) begins; a previous one ends.
  void begin(std::string what, std::int64_t total);
  // `units` more of the task are done (any thread).
  void add(std::int64_t units = 1);
  // The task is over: its in-place line is cleared.
  void end();
  // A permanent line.
  void note(const std::string& line);

  // Seconds between lines in a pipe: SPIRE_PROGRESS_INTERVAL from the environment (a number
  // >= 0; for log files that want more or fewer lines), else 5.
  static double pipe_interval_from_environment();
  // "12 s", "3 min 05 s", "1 h 02 min".
  static std::string duration(double seconds);

 private:
  using clock = std::chrono::steady_clock;
  void maybe_print(std::int64_t done);
  void clear_line();  // with mutex_ held

  std::FILE* out_ = nullptr;
  bool terminal_ = false;
  double interval_ = 5.0;
  std::mutex mutex_;
  std::string context_, what_;
  std::int64_t total_ = 0;
  std::atomic<std::int64_t> done_{0};
  std::atomic<std::int64_t> next_check_{0};
  clock::time_point started_{}, last_{};
  bool drawn_ = false;  // an in-place line is on the terminal
};

}  // namespace spire
