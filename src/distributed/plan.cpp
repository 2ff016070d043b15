#include "distributed/plan.hpp"

#include <algorithm>
#include <fmt/core.h>

#include "core/error.hpp"

namespace spire::distributed {

Range share(std::int64_t n, std::int64_t parts, std::int64_t part) {
  const std::int64_t a = n * part / parts, b = n * (part + 1) / parts;
  return {a, b - a};
}

int Layout::n_ranks() const {
  int r = 0;
  for (const auto& n : nodes) r += static_cast<int>(n.size());
  return r;
}

Layout emulated_layout(int n_ranks, int ranks_per_node) {
  if (n_ranks < 1) fail("distribution: no ranks");
  if (ranks_per_node < 1) fail(fmt::format("ranks per node = {} must be at least 1", ranks_per_node));
  Layout layout;
  for (int r = 0; r < n_ranks; ++r) {
    if (r % ranks_per_node == 0) layout.nodes.emplace_back();
    layout.nodes.back().push_back(r);
  }
  return layout;
}

std::vector<int> Plan::stream_targets(int rank, int stream) const {
  std::vector<int> t;
  const auto& o = order[static_cast<std::size_t>(rank)];
  for (std::size_t i = static_cast<std::size_t>(stream); i < o.size(); i += static_cast<std::size_t>(n_streams))
    t.push_back(o[i]);
  return t;
}

namespace {

void check_plan_inputs(const Layout& layout, const PlanOptions& st) {
  const int R = layout.n_ranks();
  if (layout.nodes.empty() || R < 1) fail("distribution: no ranks");
  if (st.references < 1) fail(fmt::format("distribution: {} reference orientations (at least 1 needed)", st.references));
  if (st.batch_size < 1) fail(fmt::format("distribution: batch_size = {} must be at least 1", st.batch_size));
  if (st.n_streams < 1) fail(fmt::format("streams per rank (n_streams) = {} must be at least 1", st.n_streams));
  std::vector<int> seen(static_cast<std::size_t>(R), 0);
  for (const auto& node : layout.nodes) {
    if (node.empty()) fail("distribution: a node without ranks");
    for (int r : node) {
      if (r < 0 || r >= R || seen[static_cast<std::size_t>(r)]++)
        fail(fmt::format("distribution: rank {} is missing or listed twice in the node layout", r));
    }
  }
}

// Nodes per group (one full copy of the references).
int nodes_per_group(const PlanOptions& st, int n_nodes, std::int64_t n_batches) {
  const std::int64_t M = st.references, B = st.batch_size;
  switch (st.strategy) {
    case Strategy::replicated: return 1;
    case Strategy::distributed: return n_nodes;
    case Strategy::hybrid: break;
  }
  if (st.split_size < 1)
    fail(fmt::format("references per node (split_size) = {}: the hybrid strategy needs at least 1", st.split_size));
  const std::int64_t per_node = (st.split_size + B - 1) / B;  // whole batches
  const std::int64_t need = (n_batches + per_node - 1) / per_node;
  if (need > n_nodes)
    fail(fmt::format("references per node (split_size) = {}: one copy of the {} references needs {} nodes, but there are only {} "
                     "(raise split_size to at least {}, or use more nodes)",
                     st.split_size, M, need, n_nodes, (n_batches + n_nodes - 1) / n_nodes * B));
  if (n_nodes % need != 0)
    fail(fmt::format("references per node (split_size) = {}: one copy of the {} references spans {} nodes, and the {} nodes do not "
                     "form whole groups of {} (choose split_size so that {} is a multiple of ceil(M / split_size))",
                     st.split_size, M, need, n_nodes, need, n_nodes));
  return static_cast<int>(need);
}

// Group grp's ranks: their group, held ranges and streaming order.
void plan_group(Plan& plan, const Layout& layout, const PlanOptions& st, int grp, std::int64_t n_batches) {
  const int g = plan.nodes_per_group;
  const std::int64_t M = st.references, B = st.batch_size;
  // Everything is cut at the single-process run's batch boundaries (multiples of B).
  const auto batches_to_refs = [&](std::int64_t first_batch, std::int64_t count) {
    const std::int64_t a = std::min(M, first_batch * B), b = std::min(M, (first_batch + count) * B);
    return Range{a, b - a};
  };
  const auto node_of = [&](int j) -> const std::vector<int>& { return layout.nodes[static_cast<std::size_t>(grp * g + j)]; };
  // Readers node-major; targets local-major (rank in node, then node).
  std::vector<int> readers;
  std::vector<std::pair<int, int>> by_local;  // (rank in node, node within group) -> sorted
  for (int j = 0; j < g; ++j)
    for (std::size_t l = 0; l < node_of(j).size(); ++l) {
      readers.push_back(node_of(j)[l]);
      by_local.emplace_back(static_cast<int>(l), j);
      plan.group[static_cast<std::size_t>(node_of(j)[l])] = grp;
    }
  std::sort(by_local.begin(), by_local.end());
  std::vector<int> targets;
  for (const auto& [l, j] : by_local) targets.push_back(node_of(j)[static_cast<std::size_t>(l)]);
  const int T = static_cast<int>(readers.size());
  // Held ranges.
  if (st.strategy == Strategy::hybrid) {
    const std::int64_t per_node = (st.split_size + B - 1) / B;
    for (int j = 0; j < g; ++j) {
      const std::int64_t first = std::min(n_batches, j * per_node), last = std::min(n_batches, (j + 1) * per_node);
      const auto k = static_cast<std::int64_t>(node_of(j).size());
      for (std::int64_t l = 0; l < k; ++l) {
        const Range part = share(last - first, k, l);
        plan.held[static_cast<std::size_t>(node_of(j)[static_cast<std::size_t>(l)])] =
            batches_to_refs(first + part.first, part.count);
      }
    }
  } else {
    for (int i = 0; i < T; ++i) {
      const Range part = share(n_batches, T, i);
      plan.held[static_cast<std::size_t>(readers[static_cast<std::size_t>(i)])] = batches_to_refs(part.first, part.count);
    }
  }
  // The linear shift.
  for (int i = 0; i < T; ++i) {
    auto& o = plan.order[static_cast<std::size_t>(readers[static_cast<std::size_t>(i)])];
    for (int t = 0; t < T; ++t) o.push_back(targets[static_cast<std::size_t>((i + t) % T)]);
  }
}

}  // namespace

Plan make_plan(const Layout& layout, const PlanOptions& st) {
  check_plan_inputs(layout, st);
  const int R = layout.n_ranks(), n_nodes = static_cast<int>(layout.nodes.size());
  const std::int64_t n_batches = (st.references + st.batch_size - 1) / st.batch_size;
  Plan plan;
  plan.n_streams = st.n_streams;
  plan.node.assign(static_cast<std::size_t>(R), 0);
  plan.group.assign(static_cast<std::size_t>(R), 0);
  plan.held.assign(static_cast<std::size_t>(R), Range{});
  plan.order.assign(static_cast<std::size_t>(R), {});
  for (int j = 0; j < n_nodes; ++j)
    for (int r : layout.nodes[static_cast<std::size_t>(j)]) plan.node[static_cast<std::size_t>(r)] = j;
  plan.nodes_per_group = nodes_per_group(st, n_nodes, n_batches);
  plan.n_groups = n_nodes / plan.nodes_per_group;
  for (int grp = 0; grp < plan.n_groups; ++grp) plan_group(plan, layout, st, grp, n_batches);
  return plan;
}

Memory memory_per_rank(const Plan& plan, int rank, std::int64_t n_pixels, std::int64_t batch_size,
                       std::int64_t n_images, std::int64_t top_k, bool keep_points) {
  const auto r = static_cast<std::size_t>(rank);
  const std::int64_t H = plan.held[r].count, P = n_pixels, S = plan.n_streams;
  const bool streaming = plan.streaming(rank);
  const std::int64_t B = std::max<std::int64_t>(1, std::min(batch_size, std::max<std::int64_t>(H, 1)));
  bool remote = false;
  for (int t : plan.order[r]) remote = remote || !plan.same_node(rank, t);
  Memory m;
  m.window = streaming ? 0 : 4 * H * P;
  m.transfer = remote ? 4 * S * batch_size * P : 0;
  m.slicing = H > 0 ? (keep_points ? 20 * H * P : 20 * B * P) + 8 * B * P + (streaming ? 4 * B * P : 0) : 0;
  m.matching = (streaming ? 1 : S) * (4 * n_images * batch_size + 12 * n_images * top_k);
  return m;
}

}  // namespace spire::distributed
