#pragma once
// One generation's slicing and matching (M-TIP steps 1-2) on a Team: every rank's images
// matched against ALL reference orientations, each slice computed by one rank of each node
// group (distributed/plan.hpp: who holds what, and the read order).
//
// Per run (constructor, collective over the team): the plan, a Slicer over this rank's held
// references, one matching::NearestSlices per stream over this rank's images (the images
// are not copied), and, with more than one rank, two MPI-3 windows over the SAME memory:
//  - a node-shared window (MPI_Win_allocate_shared over the node's ranks): this rank's
//    segment holds its held slices, H_r x P floats, reference-major; the node's other ranks
//    read it in place (MPI_Win_shared_query), no copy;
//  - a world window (MPI_Win_create over that segment), which ranks on other nodes read with
//    one-sided MPI_Get in a passive-target epoch (MPI_Win_lock_all once, MPI_Win_flush per
//    batch) into their streams' transfer buffers (MPI_Alloc_mem, batch_size x P floats).
// Per generation (run(), collective): every rank slices its held references into its segment
// (batch_size at a time), MPI_Win_sync + barrier, then its n_streams threads walk the plan's
// schedule, stream s taking steps s, s + S, ...; each target's slices go batch by batch
// (fetched or read in place) into the stream's NearestSlices; a barrier at the end keeps
// the next generation from overwriting slices another rank is still reading. While one
// stream matches a batch the other fetches its next one: transfer and compute overlap.
// Streaming ranks (plan: a group of one) slice a batch and match it at once, as one process
// does (matching::SliceSearch, which they use).
//
// Result: per image of this rank, the top_k (reference index, score) pairs over all M
// references, ordered by (score, index): the streams' lists are merged in that order, so the
// result does not depend on n_streams, and ties go to the lowest index as in NearestSlices.
// Every batch is one of the single-process run's (plan.hpp: holdings are whole batches), so
// on given ranks every strategy and stream count gives bit-identical results (tested). Against
// one process the GEMMs see fewer images per call, and OpenBLAS picks its kernels by matrix
// size: scores agree to float round-off, and an image whose two best references score
// within that round-off may take the other one (how often: docs/distributed.md).
//
// Threads: the slicing NUFFT uses matching.threads = slicing.threads OpenMP threads; each
// stream's matching max(1, threads / n_streams), with OpenBLAS held at one thread for the
// whole matching phase (NearestSlices' own switch is process-wide and would race between
// streams). MPI calls from the streams need MPI_THREAD_MULTIPLE; with SERIALIZED they take a
// lock (fetches then take turns, matching still overlaps); below that n_streams must be 1.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "distributed/plan.hpp"
#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "slicing/slicing.hpp"

namespace spire::distributed {

struct SearchOptions {
  Strategy strategy = Strategy::distributed;
  std::int64_t split_size = 0;  // hybrid: references per node
  int n_streams = 1;
  slicing::Options slicing;     // batch_size is also the matching and transfer batch;
                                // keep_points false for held sets whose points do not fit
  matching::Options matching;   // threads: the rank's threads (0: OpenMP's default)
};

// Of the last run(), on this rank.
// Stored ranks: slicing_s runs until every rank's slices are in place (its own slicing and
// the wait at the barrier), matching_s from then to the end barrier, so that the two add up
// to the generation's wall time. Streaming ranks: the slicing and matching calls alone.
struct SearchStats {
  double slicing_s = 0;
  double matching_s = 0;
  double pipeline_s = 0;       // wall time of the streams (stored ranks)
  double fetch_s = 0;          // summed over streams: MPI_Get + flush of remote batches
  double compute_s = 0;        // summed over streams: NearestSlices::add_batch
  double fetch_busy_s = 0;     // wall time during which some stream was fetching
  double fetch_exposed_s = 0;  // ... and no stream was matching: transfer NOT hidden
  std::int64_t bytes_fetched = 0;  // from other nodes
  std::int64_t bytes_local = 0;    // read in place from this node's shared window
  std::int64_t batches = 0;
  // Fraction of the transfer time hidden behind matching (0 with one stream: it fetches,
  // then matches); 1 when nothing was fetched.
  double hidden_fraction() const { return fetch_busy_s > 0 ? 1 - fetch_exposed_s / fetch_busy_s : 1; }
};

class OrientationSearch {
 public:
  // images: THIS rank's (dense or sparse, matching::ImageSet), kept by reference; their pixel
  // weights weight every slice (the same on every rank). references: all M.
  OrientationSearch(const Team& team, std::span<const geometry::Quaternion> references,
                    std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                    const matching::ImageSet<float>& images, const SearchOptions& options);
  ~OrientationSearch();  // collective (frees the windows)
  OrientationSearch(const OrientationSearch&) = delete;
  OrientationSearch& operator=(const OrientationSearch&) = delete;

  // One generation against the slices of `autocorrelation` (n^3, as Slicer takes it).
  void run(std::span<const float> autocorrelation);

  const std::vector<std::int64_t>& indices() const;  // n_images x top_k
  const std::vector<float>& scores() const;
  // matching::NearestSlices::reference_sums of the references THIS rank matched against
  // (NaN for the others): combined over ranks by the caller.
  std::vector<double> reference_sums() const;
  const SearchStats& stats() const;
  const Plan& plan() const;
  // What this rank allocated for the window segment and transfer buffers (bytes), to check
  // against memory_per_rank(); slicing and matching as the formula estimates them.
  Memory allocated() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Merges per-stream top-k lists (each n x k, best first) into one, by (score, index).
void merge_top_k(std::int64_t n, std::int64_t k, const std::vector<std::vector<std::int64_t>>& indices,
                 const std::vector<std::vector<float>>& scores, std::vector<std::int64_t>& out_indices,
                 std::vector<float>& out_scores);

}  // namespace spire::distributed
