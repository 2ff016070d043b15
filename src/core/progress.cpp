#include "core/progress.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace spire {

Progress::Progress(std::FILE* out, double pipe_interval)
    : Progress(out, out != nullptr && ::isatty(::fileno(out)) != 0, pipe_interval) {}

Progress::Progress(std::FILE* out, bool terminal, double pipe_interval)
    : out_(out), terminal_(terminal), interval_(pipe_interval) {}

double Progress::pipe_interval_from_environment() {
  const char* text = std::getenv("SPIRE_PROGRESS_INTERVAL");
  if (!text || !*text) return 5.0;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  return end && *end == '\0' && v >= 0 && std::isfinite(v) ? v : 5.0;
}

std::string Progress::duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "-";
  const auto t = static_cast<std::int64_t>(std::llround(s));
  if (t < 60) return fmt::format("{} s", t);
  if (t < 3600) return fmt::format("{} min {:02d} s", t / 60, t % 60);
  return fmt::format("{} h {:02d} min", t / 3600, (t % 3600) / 60);
}

void Progress::set_context(std::string context) {
  if (!out_) return;
  std::lock_guard lock(mutex_);
  context_ = std::move(context);
}

void Progress::begin(std::string what, std::int64_t total) {
  if (!out_) return;
  std::lock_guard lock(mutex_);
  clear_line();
  what_ = std::move(what);
  total_ = std::max<std::int64_t>(total, 1);
  done_.store(0);
  next_check_.store(0);
  started_ = last_ = clock::now();
}

void Progress::add(std::int64_t units) {
  if (!out_) return;
  const std::int64_t done = done_.fetch_add(units) + units;
  if (done < next_check_.load(std::memory_order_relaxed)) return;
  next_check_.store(done + std::max<std::int64_t>(1, total_ / 1000), std::memory_order_relaxed);
  maybe_print(done);
}

void Progress::maybe_print(std::int64_t done) {
  std::unique_lock lock(mutex_, std::try_to_lock);  // a busy printer: skip, the next add prints
  if (!lock.owns_lock()) return;
  const auto now = clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if (since_last < (terminal_ ? 0.25 : interval_)) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double fraction = static_cast<double>(std::min(done, total_)) / static_cast<double>(total_);
  const std::string left =
      fraction >= 0.02 || elapsed >= 1 ? duration(elapsed * (1 - fraction) / std::max(fraction, 1e-9)) : "-";
  const std::string line =
      fmt::format("{}{}{}: {} of {} ({:.0f}%), {} elapsed, about {} left", context_.empty() ? "" : "  ", context_,
                  context_.empty() ? what_ : ", " + what_, std::min(done, total_), total_, 100 * fraction,
                  duration(elapsed), left);
  if (terminal_) {
    fmt::print(out_, "\r\033[K{}", line);
    drawn_ = true;
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

void Progress::clear_line() {
  if (drawn_) {
    fmt::print(out_, "\r\033[K");
    std::fflush(out_);
    drawn_ = false;
  }
}

void Progress::end() {
  if (!out_) return;
  std::lock_guard lock(mutex_);
  clear_line();
  what_.clear();
}

void Progress::note(const std::string& line) {
  if (!out_) return;
  std::lock_guard lock(mutex_);
  clear_line();
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace spire
