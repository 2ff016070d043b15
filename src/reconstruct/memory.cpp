#include "reconstruct/memory.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "merging/merging.hpp"

namespace spire::reconstruct {
namespace {

double d(std::int64_t v) { return static_cast<double>(v); }

// The references rank `rank` slices and what its MPI windows hold (one process: all, none).
struct Share {
  std::int64_t held = 0, batch = 1;
  double windows = 0;
  bool streaming = true;
};

Share share_of(const Settings& st, const DataShape& shape, const distributed::Layout& layout, int rank) {
  const std::int64_t M = st.orientations.references;
  Share s;
  s.batch = std::max<std::int64_t>(1, std::min(st.orientations.batch_size, M));
  if (layout.n_ranks() <= 1) {
    s.held = M;
    return s;
  }
  const auto plan = distributed::make_plan(layout, {st.distribution.strategy, M, st.distribution.split_size,
                                                    static_cast<int>(st.distribution.n_streams), s.batch});
  const std::int64_t pixels = shape.loop_pixels > 0 ? shape.loop_pixels : shape.pixels;  // what the loop slices
  const auto m = distributed::memory_per_rank(plan, rank, pixels, s.batch, 0, 1, st.slicing.keep_points);
  s.held = plan.held[static_cast<std::size_t>(rank)].count;
  s.streaming = plan.streaming(rank);
  s.windows = d(m.window + m.transfer);
  return s;
}

// Slicing, matching and local refinement: nothing in an oracle run.
void add_search(std::vector<MemoryTerm>& t, const Settings& st, const Share& s, std::int64_t N, std::int64_t P) {
  const std::int64_t M = st.orientations.references, B = std::min(s.batch, std::max<std::int64_t>(s.held, 1));
  const std::string batch = fmt::format("orientations.batch_size = {}", st.orientations.batch_size);
  if (st.slicing.keep_points)
    t.push_back({"sorted points", 20 * d(s.held) * d(P),
                 fmt::format("orientations.references = {} with slicing.keep_points = true", M),
                 "lower orientations.references or set slicing.keep_points = false"});
  else
    t.push_back({"sorted points", 20 * d(B) * d(P), batch, "lower orientations.batch_size"});
  t.push_back({"slices of a batch", 24 * d(B) * d(P), batch, "lower orientations.batch_size"});
  if (s.windows > 0)
    t.push_back({"MPI windows", s.windows,
                 fmt::format("orientations.references = {} with distribution.strategy = {}", M,
                             name_of(distributed::kStrategyNames, st.distribution.strategy)),
                 "lower orientations.references, use more nodes or distribution.strategy = distributed"});
  const double streams = s.streaming ? 1 : d(st.distribution.n_streams);
  t.push_back({"matching scores", streams * (4 * d(N) * d(B) + 12 * d(N)), batch,
               "lower orientations.batch_size"});
  if (st.generations.local_max > 0) {  // the gradient method adds 3 floats per slice value
    const double per_value = st.orientations.local_method == matching::LocalMethod::gradient ? 76 : 64;
    t.push_back({"local refinement", per_value * d(B) * d(P), batch, "lower orientations.batch_size"});
  }
  const double n = d(st.grid.n);
  t.push_back({"slicing grid", 64 * n * n * n, fmt::format("grid.n = {}", st.grid.n), "lower grid.n"});
}

std::optional<double> first_number(const std::string& path, const std::string& key = {}) {
  std::ifstream in(path);
  std::string word;
  while (in >> word) {
    if (!key.empty() && word != key) continue;
    if (!key.empty() && !(in >> word)) return std::nullopt;
    try {
      return std::stod(word);
    } catch (const std::exception&) {
      return std::nullopt;  // "max": no limit
    }
  }
  return std::nullopt;
}

// This process's memory cgroup folder (v2 unified, else v1's memory controller).
std::string cgroup_dir(bool& v2) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    v2 = controllers.empty();
    const std::string base = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    if (!v2 && controllers.find("memory") == std::string::npos) continue;
    // Inside a container the mount shows its own cgroup at the root.
    const std::string file = v2 ? "/memory.max" : "/memory.limit_in_bytes";
    if (std::ifstream(base + path + file)) return base + path;
    if (std::ifstream(base + file)) return base;
  }
  return {};
}

// The cgroup's limit less what it uses (page cache that can be dropped not counted).
std::optional<double> cgroup_room() {
  bool v2 = false;
  const std::string dir = cgroup_dir(v2);
  if (dir.empty()) return std::nullopt;
  const auto limit = first_number(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
  const auto used = first_number(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"));
  if (!limit || !used || *limit > 1e18) return std::nullopt;
  const auto cache = first_number(dir + "/memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  return std::max(0.0, *limit - *used + cache.value_or(0));
}

// Merging, phasing and the maps: set by grid.n.
void add_grids(std::vector<MemoryTerm>& t, const Settings& st, std::int64_t N, std::int64_t P) {
  const std::int64_t n = st.grid.n, k = 2 * n - 1, F = 2 * k, L = merging::toeplitz_fft_size(static_cast<int>(n));
  const double s = st.merging.precision == merging::CgPrecision::float64 ? 8 : 4;
  const double merging = 8 * d(F) * d(F) * d(F) + 16 * d(k) * d(k) * d(k) + s * (3 * d(L) * d(L) * d(L) + d(n) * d(L) * d(L)) +
                         44 * d(std::min<std::int64_t>(256, N)) * d(P);
  const std::string grid = fmt::format("grid.n = {}", n);
  t.push_back({"merging grids", merging, grid, "lower grid.n"});
  t.push_back({"maps and phasing", 256 * d(n) * d(n) * d(n), grid, "lower grid.n"});
}

}  // namespace

double MemoryEstimate::total() const {
  double sum = 0;
  for (const auto& term : terms) sum += term.bytes;
  return sum;
}

const MemoryTerm& MemoryEstimate::largest() const {
  if (terms.empty()) fail("MemoryEstimate: no terms");
  return *std::max_element(terms.begin(), terms.end(), [](const auto& a, const auto& b) { return a.bytes < b.bytes; });
}

MemoryEstimate estimate_memory(const Settings& st, const DataShape& shape, const distributed::Layout& layout, int rank) {
  const int ranks = std::max(layout.n_ranks(), 1);
  const std::int64_t N = distributed::share(shape.images, ranks, rank).count, P = shape.pixels;
  MemoryEstimate e;
  auto& t = e.terms;
  if (shape.sparse_values > 0)  // photon counts held sparse: 8 bytes per value, 8 per image (data.hpp),
                                // and matching's pixel-major copy of them, 12 per value (matching.cpp)
    t.push_back({"images", (20 * shape.sparse_values + 8) * d(N),
                 fmt::format("{} images of {:.0f} nonzero values (sparse photon counts) of {} pixels", N,
                             shape.sparse_values, P),
                 "use fewer images (data.images) or more MPI ranks on more nodes"});
  else
    t.push_back({"images", 4 * d(N) * d(P), fmt::format("{} images of {} pixels", N, P),
                 "use fewer images (data.images) or more MPI ranks on more nodes"});
  t.push_back({"reference set", 32 * d(st.orientations.references),
               fmt::format("orientations.references = {}", st.orientations.references),
               "lower orientations.references"});
  const std::int64_t loop_pixels = shape.loop_pixels > 0 ? shape.loop_pixels : P;
  if (loop_pixels != P)
    t.push_back({"images on cells", 4 * d(N) * d(loop_pixels), fmt::format("{} images of {} cells", N, loop_pixels),
                 "use fewer images (data.images) or more MPI ranks on more nodes"});
  if (!st.orientations.oracle) add_search(t, st, share_of(st, shape, layout, rank), N, loop_pixels);
  add_grids(t, st, N, P);
  t.push_back({"program", kProgramBytes, "the program and its libraries", "use a larger machine"});
  return e;
}

MemoryEstimate ranks_memory(const Settings& st, const DataShape& shape, const distributed::Layout& layout,
                            const std::vector<int>& ranks) {
  MemoryEstimate sum;
  for (int r : ranks) {
    const auto one = estimate_memory(st, shape, layout, r);
    for (const auto& term : one.terms) {
      auto it = std::find_if(sum.terms.begin(), sum.terms.end(), [&](const auto& x) { return x.what == term.what; });
      if (it == sum.terms.end())
        sum.terms.push_back(term);
      else
        it->bytes += term.bytes;
    }
  }
  return sum;
}

std::optional<double> available_memory() {
  std::optional<double> room;
  if (const auto kb = first_number("/proc/meminfo", "MemAvailable:")) room = *kb * 1024;
  if (const auto c = cgroup_room()) room = room ? std::min(*room, *c) : *c;
  return room;
}

std::string format_bytes(double bytes) {
  static constexpr std::array<const char*, 5> units = {"B", "kB", "MB", "GB", "TB"};
  std::size_t u = 0;
  while (bytes >= 1000 && u + 1 < units.size()) bytes /= 1000, ++u;
  if (u == 0) return fmt::format("{:.0f} {}", bytes, units[u]);
  return fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string memory_problem(const MemoryEstimate& e, double available, const std::string& where) {
  if (e.total() <= available) return {};
  // The terms one setting drives, together: the one to change is the largest group.
  std::vector<MemoryTerm> groups;
  for (const auto& t : e.terms) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.cause == t.cause; });
    if (it == groups.end())
      groups.push_back(t);
    else
      it->bytes += t.bytes, it->what += " and " + t.what;
  }
  const MemoryTerm big = MemoryEstimate{groups}.largest();
  return fmt::format("needs {} ({}: {} of {}); {} has {} available; {}", format_bytes(e.total()), big.cause,
                     format_bytes(big.bytes), big.what, where, format_bytes(available), big.advice);
}

}  // namespace spire::reconstruct
