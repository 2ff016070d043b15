#pragma once
// The memory a run needs, estimated from its settings and the data's shape before anything
// is allocated, so that an impossible size is refused with the setting to change instead of
// growing until the machine runs out (or ending in std::bad_alloc far into the run).
//
// Contract:
//  - estimate_memory: the bytes one rank holds at its peak, as named terms, each with the
//    settings behind it and what to change. P pixels (the loop's: DataShape::loop_pixels
//    where the loop works on cells, whose images are then a term of 4 N P of their own
//    beside the pixels'; merging counts every pixel: the final merge), N the rank's images, M =
//    orientations.references, H the references the rank slices (M on one process; its
//    share under MPI, distributed::memory_per_rank), B = orientations.batch_size (at most
//    H), n = grid.n, L = merging::toeplitz_fft_size(n), k = 1 (the top-k per image):
//      images              4 N P                       (float images; photon counts held
//                                                     sparse: (20 v + 8) N, v the nonzero
//                                                     values per image of the first images:
//                                                     8 v + 8 held, 12 v matching's
//                                                     pixel-major copy)
//      reference set       32 M                        (quaternions, every rank all of them)
//      sorted points       20 H P with slicing.keep_points, else 20 B P  (3 floats and an
//                          8-byte index per point: slicing/slicing.hpp)
//      slices of a batch   24 B P: the batch's rotated pixels before sorting (12), the NUFFT's
//                          complex output (8), the real slices (4)
//      MPI windows         window + transfer of distributed::memory_per_rank (0 alone)
//      matching            4 N B + 12 N k               (the GEMM's block, the top-k lists)
//      local refinement    64 B P when generations.local_max > 0: its own slicer's batch
//                          (points before and after sorting, values, slices, the sort's
//                          buffers; measured, docs/memory.md)
//      merging             8 F^3 + 16 (2n-1)^3 + s (3 L^3 + n L^2) + 44 min(256, N) P:
//                          the type-1 NUFFT's complex float fine grid (F = 2(2n-1)), the
//                          kernel sums, the Toeplitz spectrum and buffers (s = 4 or 8 bytes
//                          by merging.precision), a chunk of 256 images' points (coordinates,
//                          values, the sorted copy, the NUFFT input)
//      maps and phasing    256 n^3                      (phasing, maps, alignment, FFTs)
//      slicing grid        8 (2n)^3                     (slicing's fine grid)
//      program             kProgramBytes                (libraries, threads; measured)
//    Measured against the peak resident size of small runs in docs/memory.md (the
//    estimate is an upper bound there, within a factor 2).
//    With orientations.oracle nothing is sliced or matched: those terms are 0. The CUDA back
//    end is estimated as the CPU one (host memory; the GPU's own memory is not checked).
//  - Under MPI the ranks of one node share its memory: ranks_memory sums the terms of the
//    ranks given (a node's; with emulated nodes, distribution.ranks_per_node, all of them,
//    since they share this machine).
//  - available_memory: /proc/meminfo MemAvailable, lowered to the cgroup's limit less its
//    usage where one is set (containers, batch jobs); nullopt where neither can be read.
//  - memory_problem: the refusal when the estimate exceeds what is available: the figure,
//    the largest term with its settings, what is available and what to change; "" if it
//    fits.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "distributed/plan.hpp"
#include "reconstruct/data.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

inline constexpr double kProgramBytes = 40e6;

struct MemoryTerm {
  std::string what;    // "sorted points"
  double bytes = 0;
  std::string cause;   // "orientations.references = 100000000 with slicing.keep_points = true"
  std::string advice;  // "lower orientations.references or set slicing.keep_points = false"
};

struct MemoryEstimate {
  std::vector<MemoryTerm> terms;
  double total() const;
  const MemoryTerm& largest() const;
};

// One rank of `layout` (a single process: the default, one rank alone).
MemoryEstimate estimate_memory(const Settings& settings, const DataShape& shape,
                               const distributed::Layout& layout = {{{0}}}, int rank = 0);
// The ranks given together (terms summed by name).
MemoryEstimate ranks_memory(const Settings& settings, const DataShape& shape, const distributed::Layout& layout,
                            const std::vector<int>& ranks);

std::optional<double> available_memory();

// "2.1 TB" (decimal units).
std::string format_bytes(double bytes);

// The refusal, or "" when the estimate fits in `available`. `where`: "this machine" or
// "node 3 (4 ranks)".
std::string memory_problem(const MemoryEstimate& estimate, double available, const std::string& where);

}  // namespace spire::reconstruct
