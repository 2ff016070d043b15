#pragma once
// Who holds which reference slices, and in which order every rank reads them: pure
// functions of the node layout and the settings (no MPI here), so that every combination of
// nodes, ranks per node, strategy, split_size and streams can be tested on one process.
//
// Holders. The M reference orientations are split into contiguous ranges of WHOLE batches
// (the single-process run's batches, [b B, (b+1) B), B = batch_size); each rank computes the
// slices of its range (its "held" range) once per generation and keeps them in its part of
// its node's shared window. Whole batches keep every matching GEMM the same shape and
// content as in one process: scores come out bit for bit the same, and orientations with
// them (what cutting batches elsewhere did: docs/distributed.md).
// A node group is a set of nodes that together hold ONE full copy of the M references;
// groups replicate each other (they compute the same slices).
//  - replicated:  every node is a group: the node's ranks split the batches evenly.
//  - distributed: all nodes form one group: all ranks split the batches evenly (node-major
//                 rank order), so every slice is computed once in the whole job.
//  - hybrid:      split_size = the references ONE NODE holds, rounded up to whole batches
//                 (s batches). A copy spans g = ceil(ceil(M / B) / s) consecutive nodes, node
//                 j of a group holding batches [j s, (j+1) s), split evenly over its ranks;
//                 the n_nodes / g groups replicate each other. split_size >= M is
//                 replicated; split_size = M / n_nodes (even nodes) is distributed.
//                 n_nodes must be a multiple of g, and g <= n_nodes (else spire::Error).
// A rank reads slices only from the holders of its own group (T "targets", itself included),
// so the groups never contend with each other.
//
// Schedule (low-contention linear shift). Within a group of T ranks, number the readers
// node-major (node, then rank in node): i = 0..T-1, and the targets "local-major" (rank in
// node, then node): position p = 0..T-1. At step t = 0..T-1 reader i reads the target at
// position (i + t) mod T. So
//  - at every step no two ranks read the same target (i -> i + t is a bijection mod T);
//  - every rank reads every target of its group exactly once (t runs over all T shifts);
//  - the ranks of one node start at different offsets (i differs), and with equal node sizes
//    k <= number of group nodes, the k ranks of one node read k DIFFERENT nodes at each step
//    (consecutive positions are consecutive nodes in local-major order), which spreads the
//    load over the network instead of having a whole node read one node at a time.
// Streams. n_streams pipelines per rank split the rank's steps round robin: stream s takes
// steps t = s, s + S, s + 2S, ...; at its u-th fetch every rank's stream s is at step
// u S + s, so for each stream no two ranks read the same target at the same stream step.
// A stream whose share is empty (S > T) idles; that is allowed.
//
// Streaming. A rank whose group is itself alone (T = 1: replicated with one rank per node,
// or a single-rank run) needs no window: it slices a batch and matches it at once, with
// memory O(batch) as in the single-process loop, and n_streams does not apply.
//
// Memory per rank (bytes; P pixels, B = batch_size, S = n_streams, N_r the rank's images,
// H_r its held references, k = top_k; what Memory reports):
//   window   = 4 H_r P                   (stored ranks; 0 when streaming)
//   transfer = 4 S B P                   (when a target is on another node; else 0)
//   slicing  = (keep_points ? 20 H_r P : 20 B P) + 8 B P (+ 4 B P when streaming): the sorted
//              points (3 floats and an 8-byte index each), a batch of complex values, and
//              when streaming a batch of real slices; 0 when H_r = 0
//   matching = S' (4 N_r B + 12 N_r k)   (each stream's cross-term block and top-k lists;
//              S' = S when stored, 1 when streaming)
// window and transfer are exactly what OrientationSearch allocates (tested); slicing and
// matching are the dominant terms of the stages' own buffers (NUFFT fine grid not counted:
// 8 (2n)^3 bytes).
#include <cstdint>
#include <string>
#include <vector>

#include "core/names.hpp"

namespace spire::distributed {

enum class Strategy { replicated, distributed, hybrid };
inline constexpr NameTable<Strategy, 3> kStrategyNames{
    {{Strategy::replicated, "replicated"}, {Strategy::distributed, "distributed"}, {Strategy::hybrid, "hybrid"}}};

// A contiguous range [first, first + count).
struct Range {
  std::int64_t first = 0, count = 0;
};
// Part `part` of `parts` nearly equal contiguous parts of n: [n part / parts, n (part+1) / parts).
Range share(std::int64_t n, std::int64_t parts, std::int64_t part);

// Which world ranks share a node: nodes[j] lists node j's ranks in ascending order; every
// rank 0..n_ranks-1 appears exactly once. Nodes may differ in size.
struct Layout {
  std::vector<std::vector<int>> nodes;
  int n_ranks() const;
};
// Nodes of ranks_per_node consecutive ranks (the last one may be smaller).
Layout emulated_layout(int n_ranks, int ranks_per_node);

struct PlanOptions {
  Strategy strategy = Strategy::distributed;
  std::int64_t references = 0;  // M >= 1
  std::int64_t split_size = 0;  // hybrid: references per node (>= 1)
  int n_streams = 1;            // >= 1
  std::int64_t batch_size = 1;  // >= 1: holdings are cut at multiples of it
};

struct Plan {
  int n_groups = 0, nodes_per_group = 0;
  // Per world rank:
  std::vector<int> node, group;
  std::vector<Range> held;                // references the rank slices and keeps
  std::vector<std::vector<int>> order;    // targets (world ranks) in schedule order
  int n_streams = 1;

  bool streaming(int rank) const { return order[rank].size() == 1; }
  bool same_node(int a, int b) const { return node[a] == node[b]; }
  // The steps of stream s of rank r: order[r][s], order[r][s + S], ...
  std::vector<int> stream_targets(int rank, int stream) const;
};

// Fails (spire::Error naming the setting) where the combination cannot work.
Plan make_plan(const Layout& layout, const PlanOptions& settings);

struct Memory {
  std::int64_t window = 0, transfer = 0, slicing = 0, matching = 0;
  std::int64_t total() const { return window + transfer + slicing + matching; }
};
// The formula above for one rank.
Memory memory_per_rank(const Plan& plan, int rank, std::int64_t n_pixels, std::int64_t batch_size,
                       std::int64_t n_images, std::int64_t top_k, bool keep_points);

}  // namespace spire::distributed
