#pragma once
// Clocks every benchmark program reads: wall seconds since a time point, and the process's
// CPU seconds (user + system; on a shared machine wall time counts the other users' load,
// CPU time much less so).
#include <sys/resource.h>

#include <chrono>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace bench
