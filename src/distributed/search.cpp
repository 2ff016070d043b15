#include "distributed/search.hpp"

#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "distributed/comms.hpp"
#include "matching/blas_threads.hpp"
#include "matching/search.hpp"

namespace spire::distributed {
namespace {

using clock_type = std::chrono::steady_clock;
double seconds(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Length of the union of intervals.
double union_length(std::vector<std::pair<double, double>> v) {
  std::sort(v.begin(), v.end());
  double total = 0, start = 0, end = -1;
  for (const auto& [a, b] : v) {
    if (a > end) {
      if (end > start) total += end - start;
      start = a;
      end = b;
    } else {
      end = std::max(end, b);
    }
  }
  if (end > start) total += end - start;
  return total;
}

// Length of the union of `a` outside the union of `b`.
double exposed_length(const std::vector<std::pair<double, double>>& a, const std::vector<std::pair<double, double>>& b) {
  std::vector<std::pair<double, double>> both = a;
  both.insert(both.end(), b.begin(), b.end());
  return union_length(both) - union_length(b);
}

}  // namespace

void merge_top_k(std::int64_t n, std::int64_t k, const std::vector<std::vector<std::int64_t>>& indices,
                 const std::vector<std::vector<float>>& scores, std::vector<std::int64_t>& out_indices,
                 std::vector<float>& out_scores) {
  out_indices.assign(static_cast<std::size_t>(n * k), -1);
  out_scores.assign(static_cast<std::size_t>(n * k), std::numeric_limits<float>::infinity());
  std::vector<std::pair<float, std::int64_t>> row;
  for (std::int64_t i = 0; i < n; ++i) {
    row.clear();
    for (std::size_t s = 0; s < indices.size(); ++s)
      for (std::int64_t j = 0; j < k; ++j) {
        const auto at = static_cast<std::size_t>(i * k + j);
        if (indices[s][at] >= 0) row.emplace_back(scores[s][at], indices[s][at]);
      }
    const auto keep = std::min<std::size_t>(row.size(), static_cast<std::size_t>(k));
    std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(keep), row.end());
    for (std::size_t j = 0; j < keep; ++j) {
      out_scores[static_cast<std::size_t>(i * k) + j] = row[j].first;
      out_indices[static_cast<std::size_t>(i * k) + j] = row[j].second;
    }
  }
}

struct OrientationSearch::State {
  const Team* team = nullptr;
  Plan plan;
  SearchOptions options;
  int rank = 0, streams = 1;
  std::int64_t n_images = 0, P = 0, batch = 0;
  Range held;
  bool streaming = true, remote = false;
  std::optional<matching::SliceSearch> local;  // a streaming rank's search (it holds references)
  std::unique_ptr<slicing::Slicer<float>> slicer;  // a storing rank's held slices
  std::vector<std::unique_ptr<matching::NearestSlices<float>>> nearest;  // per stream (storing ranks)
  std::vector<std::int64_t> indices;
  std::vector<float> scores;
  SearchStats stats;
  Memory allocated;
  float* segment = nullptr;  // this rank's held slices (stored ranks)
  std::vector<const float*> node_segment;  // per world rank: its segment if on this node
  std::vector<float*> transfer;            // per stream, batch x P floats
  bool lock_mpi = false;
  std::mutex mpi_mutex;
#ifdef SPIRE_HAVE_MPI
  MPI_Win shared = MPI_WIN_NULL, world = MPI_WIN_NULL;
#endif

  void run_streaming(std::span<const float> autocorrelation);
  void make_matchers(std::span<const geometry::Quaternion> references, std::span<const std::array<double, 3>> pixels,
                     double s_ext, std::int64_t n, const matching::ImageSet<float>& images);
  void run_stored();
  void fetch(int target, std::int64_t first_value, std::int64_t count, float* out);
};

OrientationSearch::OrientationSearch(const Team& team, std::span<const geometry::Quaternion> references,
                                     std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                                     const matching::ImageSet<float>& images, const SearchOptions& options)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.team = &team;
  s.options = options;
  s.rank = team.rank();
  s.n_images = images.n_images;
  const std::int64_t n_images = images.n_images;
  s.P = static_cast<std::int64_t>(pixels.size());
  const auto M = static_cast<std::int64_t>(references.size());
  s.batch = std::max<std::int64_t>(1, std::min(options.slicing.batch_size, M));
  s.plan = make_plan(team.layout(), {options.strategy, M, options.split_size, options.n_streams, s.batch});
  const auto r = static_cast<std::size_t>(s.rank);
  s.held = s.plan.held[r];
  s.streaming = s.plan.streaming(s.rank);
  for (int t : s.plan.order[r]) s.remote = s.remote || !s.plan.same_node(s.rank, t);
  s.streams = s.streaming ? 1 : options.n_streams;
#ifdef SPIRE_HAVE_MPI
  if (team.comms()) {
    if (s.streams > 1 && team.thread_level() < MPI_THREAD_SERIALIZED)
      fail(fmt::format("{} streams per rank need MPI_THREAD_SERIALIZED or more; this MPI gives level {}",
                       options.n_streams, team.thread_level()));
    s.lock_mpi = team.thread_level() < MPI_THREAD_MULTIPLE;
  }
#endif

  s.make_matchers(references, pixels, s_ext, n, images);

  s.node_segment.assign(static_cast<std::size_t>(team.size()), nullptr);
#ifdef SPIRE_HAVE_MPI
  if (const Comms* c = team.comms()) {
    const MPI_Aint bytes = s.streaming ? 0 : static_cast<MPI_Aint>(s.held.count * s.P) * MPI_Aint{4};
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    void* base = nullptr;
    check(MPI_Win_allocate_shared(bytes, 4, info, c->node, &base, &s.shared), "MPI_Win_allocate_shared");
    MPI_Info_free(&info);
    s.segment = static_cast<float*>(base);
    check(MPI_Win_create(base, bytes, 4, MPI_INFO_NULL, c->world, &s.world), "MPI_Win_create");
    MPI_Win_set_errhandler(s.world, MPI_ERRORS_RETURN);
    MPI_Win_set_errhandler(s.shared, MPI_ERRORS_RETURN);
    const auto& node = team.layout().nodes[static_cast<std::size_t>(team.node())];
    for (std::size_t l = 0; l < node.size(); ++l) {
      MPI_Aint size = 0;
      int unit = 0;
      void* p = nullptr;
      check(MPI_Win_shared_query(s.shared, static_cast<int>(l), &size, &unit, &p), "MPI_Win_shared_query");
      s.node_segment[static_cast<std::size_t>(node[l])] = static_cast<const float*>(p);
    }
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, s.shared), "MPI_Win_lock_all");
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, s.world), "MPI_Win_lock_all");
    s.allocated.window = static_cast<std::int64_t>(bytes);
    if (s.remote) {
      for (int i = 0; i < s.streams; ++i) {
        void* p = nullptr;
        const auto tb = static_cast<MPI_Aint>(s.batch * s.P) * MPI_Aint{4};
        check(MPI_Alloc_mem(tb, MPI_INFO_NULL, &p), "MPI_Alloc_mem");
        s.transfer.push_back(static_cast<float*>(p));
        s.allocated.transfer += static_cast<std::int64_t>(tb);
      }
    }
  }
#endif
  const Memory formula = memory_per_rank(s.plan, s.rank, s.P, s.batch, n_images, options.matching.top_k, options.slicing.keep_points);
  s.allocated.slicing = formula.slicing;
  s.allocated.matching = formula.matching;
}

OrientationSearch::~OrientationSearch() {
#ifdef SPIRE_HAVE_MPI
  if (!s_) return;
  State& s = *s_;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (float* p : s.transfer) MPI_Free_mem(p);
  if (s.world != MPI_WIN_NULL) {
    MPI_Win_unlock_all(s.world);
    MPI_Win_free(&s.world);
  }
  if (s.shared != MPI_WIN_NULL) {
    MPI_Win_unlock_all(s.shared);
    MPI_Win_free(&s.shared);
  }
#endif
}

void OrientationSearch::State::fetch(int target, std::int64_t first_value, std::int64_t count, float* out) {
#ifdef SPIRE_HAVE_MPI
  std::unique_lock<std::mutex> guard(mpi_mutex, std::defer_lock);
  if (lock_mpi) guard.lock();
  constexpr std::int64_t part = std::int64_t{1} << 30;  // MPI counts are int
  for (std::int64_t done = 0; done < count; done += part) {
    const auto c = static_cast<int>(std::min(part, count - done));
    check(MPI_Get(out + done, c, MPI_FLOAT, target, static_cast<MPI_Aint>(first_value + done), c, MPI_FLOAT, world),
          "MPI_Get");
  }
  check(MPI_Win_flush(target, world), "MPI_Win_flush");
#else
  (void)target;
  (void)first_value;
  (void)count;
  (void)out;
  fail("distributed: a fetch without MPI");
#endif
}

// Streaming ranks (and one process) slice a batch and match it at once (matching::SliceSearch);
// storing ranks slice their held references into the window and match every rank's.
void OrientationSearch::State::make_matchers(std::span<const geometry::Quaternion> references,
                                             std::span<const std::array<double, 3>> pixels, double s_ext,
                                             std::int64_t n, const matching::ImageSet<float>& images) {
  slicing::Options so = options.slicing;
  so.batch_size = batch;
  matching::Options mo = options.matching;
  const int threads = mo.threads > 0 ? mo.threads : omp_get_max_threads();
  mo.threads = std::max(1, threads / streams);
  const auto mine = references.subspan(static_cast<std::size_t>(held.first), static_cast<std::size_t>(held.count));
  if (streaming && held.count > 0) {
    local.emplace(mine, held.first, pixels, s_ext, n, images, so, mo);
    return;
  }
  if (held.count > 0) {
    slicer = std::make_unique<slicing::Slicer<float>>(mine, pixels, s_ext, n, so);
    slicer->set_pixel_weights(images.pixel_weights);
  }
  for (int i = 0; i < streams; ++i)
    nearest.push_back(std::make_unique<matching::NearestSlices<float>>(images, mo));
}

void OrientationSearch::State::run_streaming(std::span<const float> autocorrelation) {
  if (!local) {  // nothing held: no candidates
    nearest[0]->reset();
    return;
  }
  Progress silent;  // several ranks: no progress line inside the search
  local->run(autocorrelation, silent);
  stats.slicing_s = local->slicing_s();
  stats.matching_s = stats.compute_s = local->matching_s();
  stats.batches = local->batches();
}

void OrientationSearch::State::run_stored() {
  // Every rank's stream s walks its targets; per stream the compute and fetch intervals.
  struct StreamLog {
    double fetch_s = 0, compute_s = 0;
    std::int64_t fetched = 0, local = 0, batches = 0;
    std::vector<std::pair<double, double>> fetching, computing;
  };
  std::vector<StreamLog> logs(static_cast<std::size_t>(streams));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(streams));
  const auto start = clock_type::now();
  auto work = [&](int stream) {
    try {
      auto& near = *nearest[static_cast<std::size_t>(stream)];
      auto& log = logs[static_cast<std::size_t>(stream)];
      near.reset();
      for (int target : plan.stream_targets(rank, stream)) {
        const Range h = plan.held[static_cast<std::size_t>(target)];
        const float* in_place = plan.same_node(rank, target) ? node_segment[static_cast<std::size_t>(target)] : nullptr;
        for (std::int64_t b = 0; b < h.count; b += batch) {
          const std::int64_t count = std::min(batch, h.count - b);
          const float* slices = nullptr;
          if (in_place) {
            slices = in_place + b * P;
            log.local += 4 * count * P;
          } else {
            const auto t0 = clock_type::now();
            fetch(target, b * P, count * P, transfer[static_cast<std::size_t>(stream)]);
            const auto t1 = clock_type::now();
            log.fetch_s += seconds(t0, t1);
            log.fetching.emplace_back(seconds(start, t0), seconds(start, t1));
            log.fetched += 4 * count * P;
            slices = transfer[static_cast<std::size_t>(stream)];
          }
          const auto t0 = clock_type::now();
          near.add_batch(h.first + b, count, std::span<const float>(slices, static_cast<std::size_t>(count * P)));
          const auto t1 = clock_type::now();
          log.compute_s += seconds(t0, t1);
          log.computing.emplace_back(seconds(start, t0), seconds(start, t1));
          ++log.batches;
        }
      }
    } catch (...) {
      errors[static_cast<std::size_t>(stream)] = std::current_exception();
    }
  };
  {
    const matching::OneBlasThread one;
    std::vector<std::thread> threads;
    for (int i = 1; i < streams; ++i) threads.emplace_back(work, i);
    work(0);
    for (auto& t : threads) t.join();
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  stats.pipeline_s = seconds(start, clock_type::now());
  std::vector<std::pair<double, double>> fetching, computing;
  for (const auto& log : logs) {
    stats.fetch_s += log.fetch_s;
    stats.compute_s += log.compute_s;
    stats.bytes_fetched += log.fetched;
    stats.bytes_local += log.local;
    stats.batches += log.batches;
    fetching.insert(fetching.end(), log.fetching.begin(), log.fetching.end());
    computing.insert(computing.end(), log.computing.begin(), log.computing.end());
  }
  stats.fetch_busy_s = union_length(fetching);
  stats.fetch_exposed_s = exposed_length(fetching, computing);
}

void OrientationSearch::run(std::span<const float> autocorrelation) {
  State& s = *s_;
  s.stats = SearchStats{};
  const auto t0 = clock_type::now();
  if (s.streaming) {
    s.run_streaming(autocorrelation);
  } else if (s.slicer) {
    s.slicer->set_autocorrelation(autocorrelation);
    for (std::int64_t b = 0; b < s.slicer->n_batches(); ++b) s.slicer->slice_batch(b, s.segment + s.slicer->batch_first(b) * s.P);
  }
#ifdef SPIRE_HAVE_MPI
  if (s.team->comms()) {
    // Slices written: visible to the node (loads) and to other nodes (gets) after this.
    check(MPI_Win_sync(s.shared), "MPI_Win_sync");
    check(MPI_Win_sync(s.world), "MPI_Win_sync");
    s.team->barrier();
  }
#endif
  const auto t1 = clock_type::now();
  if (!s.streaming) {
    s.stats.slicing_s = seconds(t0, t1);
    s.run_stored();
    s.team->barrier();  // nobody rewrites its slices while another rank reads them
    s.stats.matching_s = seconds(t1, clock_type::now());
  } else if (s.team->comms()) {
    s.team->barrier();  // the stored ranks' second barrier
  }
  if (s.local) {
    s.indices = s.local->indices();
    s.scores = s.local->scores();
  } else if (s.streams == 1) {
    s.indices = s.nearest[0]->indices();
    s.scores = s.nearest[0]->scores();
  } else {
    std::vector<std::vector<std::int64_t>> idx;
    std::vector<std::vector<float>> sc;
    for (const auto& nr : s.nearest) {
      idx.push_back(nr->indices());
      sc.push_back(nr->scores());
    }
    merge_top_k(s.n_images, s.nearest[0]->top_k(), idx, sc, s.indices, s.scores);
  }
}

const std::vector<std::int64_t>& OrientationSearch::indices() const { return s_->indices; }
const std::vector<float>& OrientationSearch::scores() const { return s_->scores; }

std::vector<double> OrientationSearch::reference_sums() const {
  const State& s = *s_;
  if (s.local) return s.local->reference_sums();
  std::vector<double> out;
  for (const auto& nr : s.nearest) {
    const auto& sums = nr->reference_sums();
    if (out.size() < sums.size()) out.resize(sums.size(), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t j = 0; j < sums.size(); ++j)
      if (!std::isnan(sums[j])) out[j] = sums[j];
  }
  return out;
}
const SearchStats& OrientationSearch::stats() const { return s_->stats; }
const Plan& OrientationSearch::plan() const { return s_->plan; }
Memory OrientationSearch::allocated() const { return s_->allocated; }

}  // namespace spire::distributed
