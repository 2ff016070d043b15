// The distribution plan (who holds which slices, the read schedule, memory per rank) for
// many layouts, strategies, split sizes and stream counts, uneven ones included; and the
// merging of per-stream top-k lists. No MPI here: these are pure functions.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "distributed/plan.hpp"
#include "distributed/search.hpp"
#include "reconstruct/settings.hpp"

using namespace spire;
using namespace spire::distributed;

namespace {

Layout from_sizes(const std::vector<int>& sizes) {
  Layout l;
  int r = 0;
  for (int k : sizes) {
    l.nodes.emplace_back();
    for (int i = 0; i < k; ++i) l.nodes.back().push_back(r++);
  }
  return l;
}

// Ranks placed round robin over the nodes (as a cyclic mpirun mapping does).
Layout round_robin(int n_nodes, int ranks) {
  Layout l;
  l.nodes.resize(static_cast<std::size_t>(n_nodes));
  for (int r = 0; r < ranks; ++r) l.nodes[static_cast<std::size_t>(r % n_nodes)].push_back(r);
  return l;
}

std::string describe(const Layout& l, const PlanOptions& s) {
  std::string d = fmt::format("{} M={} B={} split={} streams={} nodes:", name_of(kStrategyNames, s.strategy), s.references,
                              s.batch_size, s.split_size, s.n_streams);
  for (const auto& n : l.nodes) d += fmt::format(" {}", n.size());
  return d;
}

// Every property plan.hpp promises.
void check_plan(const Layout& layout, const PlanOptions& st) {
  SCOPED_TRACE(describe(layout, st));
  const Plan plan = make_plan(layout, st);
  const int R = layout.n_ranks();
  std::map<int, std::vector<int>> groups;
  for (int r = 0; r < R; ++r) groups[plan.group[static_cast<std::size_t>(r)]].push_back(r);
  ASSERT_EQ(static_cast<int>(groups.size()), plan.n_groups);
  for (const auto& [g, members] : groups) {
    // One full copy per group: held ranges tile [0, M).
    std::vector<Range> held;
    for (int r : members) held.push_back(plan.held[static_cast<std::size_t>(r)]);
    std::sort(held.begin(), held.end(), [](Range a, Range b) { return a.first < b.first || (a.first == b.first && a.count < b.count); });
    std::int64_t next = 0;
    for (const auto& h : held) {
      if (h.count == 0) continue;
      EXPECT_EQ(h.first, next);
      EXPECT_EQ(h.first % st.batch_size, 0) << "holdings are whole batches";
      next = h.first + h.count;
    }
    EXPECT_EQ(next, st.references);
    // Each rank visits every target of its group once, the group's ranks and no others.
    const std::set<int> group_set(members.begin(), members.end());
    for (int r : members) {
      const auto& o = plan.order[static_cast<std::size_t>(r)];
      EXPECT_EQ(std::set<int>(o.begin(), o.end()), group_set);
      EXPECT_EQ(o.size(), members.size());
      EXPECT_EQ(plan.streaming(r), members.size() == 1);
    }
    // At every step no two ranks read the same target.
    for (std::size_t t = 0; t < members.size(); ++t) {
      std::set<int> read;
      for (int r : members) read.insert(plan.order[static_cast<std::size_t>(r)][t]);
      EXPECT_EQ(read.size(), members.size()) << "step " << t;
    }
    // The same per stream, at each stream step.
    for (int s = 0; s < st.n_streams; ++s) {
      std::vector<std::vector<int>> lists;
      for (int r : members) lists.push_back(plan.stream_targets(r, s));
      std::vector<int> all_targets;
      for (std::size_t u = 0; u < lists[0].size(); ++u) {
        std::set<int> read;
        for (const auto& l : lists) {
          ASSERT_EQ(l.size(), lists[0].size());
          read.insert(l[u]);
        }
        EXPECT_EQ(read.size(), lists.size()) << "stream " << s << " step " << u;
      }
    }
    // A rank's streams together read each target once.
    for (int r : members) {
      std::multiset<int> got;
      for (int s = 0; s < st.n_streams; ++s)
        for (int t : plan.stream_targets(r, s)) got.insert(t);
      EXPECT_EQ(got, std::multiset<int>(group_set.begin(), group_set.end()));
    }
  }
  // The ranks of one node start at different offsets (their first targets differ), and with
  // equal node sizes k <= nodes per group they read k different nodes at every step.
  std::set<std::size_t> sizes;
  for (const auto& n : layout.nodes) sizes.insert(n.size());
  for (const auto& node : layout.nodes) {
    std::set<int> first;
    for (int r : node) first.insert(plan.order[static_cast<std::size_t>(r)][0]);
    EXPECT_EQ(first.size(), node.size());
    if (sizes.size() == 1 && static_cast<int>(node.size()) <= plan.nodes_per_group)
      for (std::size_t t = 0; t < plan.order[static_cast<std::size_t>(node[0])].size(); ++t) {
        std::set<int> target_nodes;
        for (int r : node) target_nodes.insert(plan.node[static_cast<std::size_t>(plan.order[static_cast<std::size_t>(r)][t])]);
        EXPECT_EQ(target_nodes.size(), node.size()) << "step " << t;
      }
  }
  // Strategy shapes, in batches (the last batch may be short).
  const auto B = st.batch_size, n_batches = (st.references + B - 1) / B;
  for (int r = 0; r < R; ++r) {
    const auto h = (plan.held[static_cast<std::size_t>(r)].count + B - 1) / B;
    const auto& node = layout.nodes[static_cast<std::size_t>(plan.node[static_cast<std::size_t>(r)])];
    const auto k = static_cast<std::int64_t>(node.size());
    if (st.strategy == Strategy::distributed) {
      EXPECT_GE(h, n_batches / R);
      EXPECT_LE(h, (n_batches + R - 1) / R);
    } else if (st.strategy == Strategy::replicated) {
      EXPECT_GE(h, n_batches / k);
      EXPECT_LE(h, (n_batches + k - 1) / k);
    } else {
      const auto per_node = (st.split_size + B - 1) / B;
      EXPECT_LE(h, (per_node + k - 1) / k);
    }
  }
}

}  // namespace

TEST(Plan, ScheduleAndHoldingsForManyLayouts) {
  std::vector<Layout> layouts;
  for (int nodes = 1; nodes <= 6; ++nodes)
    for (int k = 1; k <= 5; ++k) layouts.push_back(emulated_layout(nodes * k, k));
  for (const auto& sizes : std::vector<std::vector<int>>{{3, 2}, {1, 4, 2}, {2, 2, 1}, {5, 1, 1, 3}, {2, 3, 2, 3}})
    layouts.push_back(from_sizes(sizes));
  layouts.push_back(emulated_layout(7, 3));  // 3 + 3 + 1
  layouts.push_back(round_robin(2, 4));
  layouts.push_back(round_robin(3, 7));
  int checked = 0;
  for (const auto& layout : layouts)
    for (std::int64_t M : {1, 7, 100, 1001})
      for (std::int64_t B : {1, 3, 40})
        for (int streams : {1, 2, 3, 5}) {
          check_plan(layout, {Strategy::replicated, M, 0, streams, B});
          check_plan(layout, {Strategy::distributed, M, 0, streams, B});
          const auto n_nodes = static_cast<std::int64_t>(layout.nodes.size()), n_batches = (M + B - 1) / B;
          // Every split size that works: a copy over g nodes, g dividing the node count.
          for (std::int64_t g = 1; g <= n_nodes; ++g) {
            if (n_nodes % g) continue;
            const std::int64_t per_node = (n_batches + g - 1) / g;
            if ((n_batches + per_node - 1) / per_node != g) continue;  // g not reachable for this M
            check_plan(layout, {Strategy::hybrid, M, per_node * B - (B > 1 ? 1 : 0), streams, B});  // rounds up
            ++checked;
          }
          checked += 2;
        }
  EXPECT_GT(checked, 3000);
}

TEST(Plan, HybridSpreadsACopyOverSplitSizeNodes) {
  // 4 nodes x 2 ranks, 1000 references, 500 per node: groups of 2 nodes, 2 copies.
  const Plan p = make_plan(emulated_layout(8, 2), {Strategy::hybrid, 1000, 500, 2, 50});
  EXPECT_EQ(p.n_groups, 2);
  EXPECT_EQ(p.nodes_per_group, 2);
  EXPECT_EQ(p.held[0].first, 0);
  EXPECT_EQ(p.held[0].count, 250);
  EXPECT_EQ(p.held[3].first, 750);
  EXPECT_EQ(p.held[4].first, 0);  // the second group's first node
  EXPECT_EQ(p.group[5], 1);
  // split_size >= M is replicated, M / n_nodes is distributed.
  const Plan rep = make_plan(emulated_layout(8, 2), {Strategy::hybrid, 1000, 1000, 1, 50});
  const Plan ref = make_plan(emulated_layout(8, 2), {Strategy::replicated, 1000, 0, 1, 50});
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(rep.held[static_cast<std::size_t>(r)].first, ref.held[static_cast<std::size_t>(r)].first);
    EXPECT_EQ(rep.order[static_cast<std::size_t>(r)], ref.order[static_cast<std::size_t>(r)]);
  }
  const Plan dis = make_plan(emulated_layout(8, 2), {Strategy::hybrid, 1000, 250, 1, 50});
  const Plan ded = make_plan(emulated_layout(8, 2), {Strategy::distributed, 1000, 0, 1, 50});
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(dis.held[static_cast<std::size_t>(r)].first, ded.held[static_cast<std::size_t>(r)].first);
    EXPECT_EQ(dis.held[static_cast<std::size_t>(r)].count, ded.held[static_cast<std::size_t>(r)].count);
  }
}

TEST(Plan, ImpossibleCombinationsSayWhy) {
  auto message = [](const Layout& l, const PlanOptions& s) -> std::string {
    try {
      make_plan(l, s);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const auto four = emulated_layout(4, 1), three = emulated_layout(6, 2);
  EXPECT_NE(message(four, {Strategy::hybrid, 1000, 0, 1}).find("split_size"), std::string::npos);
  // 1000 / 200 = 5 nodes for a copy, only 4.
  EXPECT_NE(message(four, {Strategy::hybrid, 1000, 200, 1}).find("only 4"), std::string::npos);
  // A copy over 2 nodes, 3 nodes do not form whole groups.
  EXPECT_NE(message(three, {Strategy::hybrid, 1000, 500, 1}).find("whole groups"), std::string::npos);
  EXPECT_NE(message(four, {Strategy::distributed, 1000, 0, 0}).find("n_streams"), std::string::npos);
  EXPECT_NE(message(four, {Strategy::distributed, 0, 0, 1}).find("reference"), std::string::npos);
  EXPECT_NE(message(four, {Strategy::distributed, 10, 0, 1, 0}).find("batch_size"), std::string::npos);
  // Whole batches: 1000 references in batches of 300 are 4 batches; 250 per node rounds up
  // to one batch, so a copy needs 4 nodes; 3 nodes cannot form whole groups of 4.
  EXPECT_NE(message(emulated_layout(3, 1), {Strategy::hybrid, 1000, 250, 1, 300}).find("only 3"), std::string::npos);
  Layout twice = four;
  twice.nodes[1] = {0};
  EXPECT_NE(message(twice, {Strategy::distributed, 10, 0, 1}).find("twice"), std::string::npos);
  EXPECT_FALSE(value_of(kStrategyNames, "scattered"));
  EXPECT_THROW(emulated_layout(4, 0), Error);
}

TEST(Plan, MemoryPerRankFormula) {
  // 2 nodes x 2 ranks, distributed, 1000 references of 100 pixels, batches of 50, 2 streams.
  const Plan p = make_plan(emulated_layout(4, 2), {Strategy::distributed, 1000, 0, 2, 50});
  const Memory m = memory_per_rank(p, 1, 100, 50, 30, 1, false);
  EXPECT_EQ(m.window, 4 * 250 * 100);
  EXPECT_EQ(m.transfer, 4 * 2 * 50 * 100);
  EXPECT_EQ(m.slicing, 20 * 50 * 100 + 8 * 50 * 100);
  EXPECT_EQ(m.matching, 2 * (4 * 30 * 50 + 12 * 30));
  EXPECT_EQ(memory_per_rank(p, 1, 100, 50, 30, 1, true).slicing, 20 * 250 * 100 + 8 * 50 * 100);
  // Replicated on one node: no transfer buffers; one rank per node: streaming, no window.
  const Plan one_node = make_plan(emulated_layout(4, 4), {Strategy::replicated, 1000, 0, 2, 50});
  EXPECT_EQ(memory_per_rank(one_node, 0, 100, 50, 30, 1, false).transfer, 0);
  const Plan alone = make_plan(emulated_layout(2, 1), {Strategy::replicated, 1000, 0, 2, 50});
  const Memory a = memory_per_rank(alone, 0, 100, 50, 30, 1, false);
  EXPECT_EQ(a.window, 0);
  EXPECT_EQ(a.transfer, 0);
  EXPECT_EQ(a.matching, 4 * 30 * 50 + 12 * 30);
}

TEST(Plan, StreamsMergeTheirTopKByScoreThenIndex) {
  // Two images, k = 2; stream lists as NearestSlices leaves them (-1: empty).
  std::vector<std::vector<std::int64_t>> idx = {{5, 9, 3, -1}, {2, 7, 8, 1}};
  std::vector<std::vector<float>> sc = {{1.0f, 2.0f, 0.5f, 1e30f}, {1.0f, 1.5f, 0.5f, 0.7f}};
  sc[0][3] = std::numeric_limits<float>::infinity();
  std::vector<std::int64_t> out_idx;
  std::vector<float> out_sc;
  merge_top_k(2, 2, idx, sc, out_idx, out_sc);
  EXPECT_EQ(out_idx, (std::vector<std::int64_t>{2, 5, 3, 8}));  // ties at 1.0 and 0.5: lower index first
  EXPECT_EQ(out_sc, (std::vector<float>{1.0f, 1.0f, 0.5f, 0.5f}));
}

TEST(Plan, DistributionSettings) {
  const auto st = reconstruct::load_settings("", {"distribution.strategy=hybrid", "distribution.split_size=5000",
                                                  "distribution.n_streams=3", "distribution.ranks_per_node=2"});
  EXPECT_EQ(st.distribution.strategy, Strategy::hybrid);
  EXPECT_EQ(st.distribution.split_size, 5000);
  EXPECT_EQ(st.distribution.n_streams, 3);
  EXPECT_EQ(st.distribution.ranks_per_node, 2);
  EXPECT_THROW(reconstruct::load_settings("", {"distribution.strategy=scattered"}), Error);
  EXPECT_THROW(reconstruct::load_settings("", {"distribution.n_streams=0"}), Error);
  EXPECT_THROW(reconstruct::load_settings("", {"distribution.strategy=hybrid"}), Error);  // no split_size
  EXPECT_NE(reconstruct::schema_toml().find("[distribution]"), std::string::npos);
}
