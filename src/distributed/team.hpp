#pragma once
// The ranks of one run and what the M-TIP loop needs from them, with MPI hidden behind it.
//
// Session: MPI's lifetime for a program (MPI_Init_thread asking for MPI_THREAD_MULTIPLE, so
// that every stream of OrientationSearch may fetch on its own; with less, streams take turns
// at MPI under a lock, and below MPI_THREAD_SERIALIZED only one stream is allowed). Built
// without MPI, or started without mpirun, a Session is one rank and nothing else changes.
//
// Team: every rank of MPI_COMM_WORLD, its node and its node's ranks. Nodes come from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or, with ranks_per_node > 0, are emulated as
// groups of that many consecutive world ranks (to exercise the multi-node design on one
// machine; an emulated node must lie within one real node, else spire::Error). A
// default-constructed Team is one rank alone, with or without MPI (what tests use for the
// single-process reference run).
//
// Collectives are called by every rank of the team in the same order (MPI's rule):
//  - sum: in-place MPI_Allreduce in double: every rank gets the same values.
//  - broadcast: from the lead (rank 0) to all.
//  - gather: every rank's values, concatenated in rank order, on the lead (empty elsewhere).
// Images are split over ranks in contiguous ranges (images(N)), so each rank reads only its
// range of a file; offset() tells a rank where its images start among all of them.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "distributed/plan.hpp"
#include "geometry/orientations.hpp"

namespace spire::distributed {

// Whether spire was built with MPI.
bool built_with_mpi();

class Session {
 public:
  Session(int& argc, char**& argv);  // initialises MPI (when built with it)
  ~Session();                        // finalises it, if this Session initialised it
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ends every rank with this exit code (MPI_Abort) when there are several; a failing rank
  // would otherwise leave the others waiting in a collective.
  [[noreturn]] void abort(int code) const;

 private:
  bool initialised_ = false;
  int rank_ = 0, size_ = 1;
};

struct Comms;  // MPI handles (team.cpp); used by OrientationSearch

class Team {
 public:
  Team();  // one rank alone
  // Every rank of MPI_COMM_WORLD (MPI must be initialised; a build without MPI or a program
  // without a Session gives one rank). ranks_per_node 0: real nodes.
  static Team world(int ranks_per_node = 0);

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool lead() const { return rank_ == 0; }
  int node() const { return node_; }
  int n_nodes() const { return static_cast<int>(layout_.nodes.size()); }
  int rank_in_node() const { return rank_in_node_; }
  int node_size() const { return static_cast<int>(layout_.nodes[static_cast<std::size_t>(node_)].size()); }
  const Layout& layout() const { return layout_; }
  bool emulated_nodes() const { return emulated_; }
  // MPI's thread level (MPI_THREAD_* value; 3 = multiple when alone).
  int thread_level() const;

  void barrier() const;
  void sum(std::span<double> values) const;
  double sum(double value) const;
  void broadcast(std::span<double> values) const;
  template <typename T>
  T broadcast_value(T value) const {
    if (size_ > 1) {
      double v = static_cast<double>(value);
      broadcast(std::span<double>(&v, 1));
      value = static_cast<T>(v);
    }
    return value;
  }
  double max(double value) const;
  std::vector<double> gather(std::span<const double> values) const;
  std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> values) const;

  // This rank's contiguous part of n items; and, for n_local items per rank, where this
  // rank's start and how many there are in all.
  Range images(std::int64_t n) const { return share(n, size_, rank_); }
  struct Offset {
    std::int64_t first = 0, total = 0;
  };
  Offset offset(std::int64_t n_local) const;

  const Comms* comms() const { return comms_.get(); }

 private:
  int rank_ = 0, size_ = 1, node_ = 0, rank_in_node_ = 0;
  bool emulated_ = false;
  Layout layout_{{{0}}};
  std::shared_ptr<const Comms> comms_;  // null when alone
};

}  // namespace spire::distributed
