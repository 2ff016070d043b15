#include "distributed/team.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "core/error.hpp"
#include "distributed/comms.hpp"

namespace spire::distributed {

bool built_with_mpi() {
#ifdef SPIRE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

#ifdef SPIRE_HAVE_MPI
namespace {

// Started by a launcher (mpirun, srun, hydra): otherwise spire stays a plain process and does
// not pay MPI's singleton start-up.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

MPI_Datatype mpi_type(const double*) { return MPI_DOUBLE; }

}  // namespace

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(fmt::format("MPI: {} failed: {}", call, std::string(text, static_cast<std::size_t>(length))));
}

Comms::~Comms() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  if (world != MPI_COMM_NULL) MPI_Comm_free(&world);
}
#endif

Session::Session(int& argc, char**& argv) {
#ifdef SPIRE_HAVE_MPI
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised && launched_by_mpi()) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    initialised_ = true;
    initialised = 1;
  }
  if (initialised) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
#else
  (void)argc;
  (void)argv;
#endif
}

Session::~Session() {
#ifdef SPIRE_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialised_ && !finalized) MPI_Finalize();
#endif
}

void Session::abort(int code) const {
#ifdef SPIRE_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

Team::Team() = default;

Team Team::world(int ranks_per_node) {
  Team team;
  if (ranks_per_node < 0) fail(fmt::format("ranks per emulated node = {} must not be negative", ranks_per_node));
#ifdef SPIRE_HAVE_MPI
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (!initialised || finalized) return team;
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (size == 1) return team;

  auto c = std::make_shared<Comms>();
  MPI_Query_thread(&c->thread_level);
  check(MPI_Comm_dup(MPI_COMM_WORLD, &c->world), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
  MPI_Comm real = MPI_COMM_NULL;
  check(MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &real), "MPI_Comm_split_type");
  // A node is named by its lowest world rank.
  int real_id = rank;
  check(MPI_Allreduce(MPI_IN_PLACE, &real_id, 1, MPI_INT, MPI_MIN, real), "MPI_Allreduce");
  if (ranks_per_node > 0) {
    MPI_Comm_free(&real);
    check(MPI_Comm_split(c->world, rank / ranks_per_node, rank, &c->node), "MPI_Comm_split");
    // An emulated node must lie within a real one: its windows are shared memory.
    int lo = real_id, hi = real_id;
    check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, c->node), "MPI_Allreduce");
    check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, c->node), "MPI_Allreduce");
    int spans = lo != hi;
    check(MPI_Allreduce(MPI_IN_PLACE, &spans, 1, MPI_INT, MPI_MAX, c->world), "MPI_Allreduce");
    if (spans)
      fail(fmt::format("ranks per emulated node = {}: an emulated node would span two real nodes (shared memory "
                       "cannot); use a divisor of the ranks per real node, or 0",
                       ranks_per_node));
    team.emulated_ = true;
  } else {
    c->node = real;
  }
  int node_id = rank;
  check(MPI_Allreduce(MPI_IN_PLACE, &node_id, 1, MPI_INT, MPI_MIN, c->node), "MPI_Allreduce");
  std::vector<int> ids(static_cast<std::size_t>(size));
  check(MPI_Allgather(&node_id, 1, MPI_INT, ids.data(), 1, MPI_INT, c->world), "MPI_Allgather");
  std::map<int, std::vector<int>> nodes;  // by lowest rank; ranks ascending
  for (int r = 0; r < size; ++r) nodes[ids[static_cast<std::size_t>(r)]].push_back(r);
  team.layout_.nodes.clear();
  for (auto& [id, ranks] : nodes) {
    if (id == node_id) team.node_ = static_cast<int>(team.layout_.nodes.size());
    team.layout_.nodes.push_back(std::move(ranks));
  }
  MPI_Comm_rank(c->node, &team.rank_in_node_);
  team.rank_ = rank;
  team.size_ = size;
  team.comms_ = std::move(c);
#endif
  return team;
}

int Team::thread_level() const {
#ifdef SPIRE_HAVE_MPI
  if (comms_) return comms_->thread_level;
#endif
  return 3;
}

void Team::barrier() const {
#ifdef SPIRE_HAVE_MPI
  if (comms_) check(MPI_Barrier(comms_->world), "MPI_Barrier");
#endif
}

namespace {
template <typename T>
void sum_in_place(const Comms* c, std::span<T> values) {
#ifdef SPIRE_HAVE_MPI
  if (!c) return;
  // MPI counts are int: large arrays go in parts.
  constexpr std::size_t part = std::size_t{1} << 28;
  for (std::size_t first = 0; first < values.size(); first += part) {
    const auto count = static_cast<int>(std::min(part, values.size() - first));
    check(MPI_Allreduce(MPI_IN_PLACE, values.data() + first, count, mpi_type(values.data()), MPI_SUM, c->world),
          "MPI_Allreduce");
  }
#else
  (void)c;
  (void)values;
#endif
}
template <typename T>
void broadcast_in_place(const Comms* c, std::span<T> values) {
#ifdef SPIRE_HAVE_MPI
  if (!c) return;
  constexpr std::size_t part = std::size_t{1} << 28;
  for (std::size_t first = 0; first < values.size(); first += part) {
    const auto count = static_cast<int>(std::min(part, values.size() - first));
    check(MPI_Bcast(values.data() + first, count, mpi_type(values.data()), 0, c->world), "MPI_Bcast");
  }
#else
  (void)c;
  (void)values;
#endif
}
}  // namespace

void Team::sum(std::span<double> values) const { sum_in_place(comms_.get(), values); }
double Team::sum(double value) const {
  sum(std::span<double>(&value, 1));
  return value;
}
void Team::broadcast(std::span<double> values) const { broadcast_in_place(comms_.get(), values); }

double Team::max(double value) const {
#ifdef SPIRE_HAVE_MPI
  if (comms_) check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, comms_->world), "MPI_Allreduce");
#endif
  return value;
}

std::vector<double> Team::gather(std::span<const double> values) const {
  if (!comms_) return {values.begin(), values.end()};
  std::vector<double> all;
#ifdef SPIRE_HAVE_MPI
  const int count = static_cast<int>(values.size());
  if (values.size() > static_cast<std::size_t>(1 << 30)) fail("distributed: gather of more than 2^30 values per rank");
  std::vector<int> counts(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_));
  check(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comms_->world), "MPI_Gather");
  if (lead()) {
    std::int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<std::size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<std::size_t>(r)];
    }
    if (total > std::int64_t{1} << 31) fail("distributed: gather of more than 2^31 values");
    all.resize(static_cast<std::size_t>(total));
  }
  check(MPI_Gatherv(values.data(), count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0,
                    comms_->world),
        "MPI_Gatherv");
#endif
  return all;
}

std::vector<geometry::Quaternion> Team::gather(std::span<const geometry::Quaternion> values) const {
  std::vector<double> flat;
  flat.reserve(4 * values.size());
  for (const auto& q : values) flat.insert(flat.end(), {q.w, q.x, q.y, q.z});
  const auto all = gather(std::span<const double>(flat));
  std::vector<geometry::Quaternion> out(all.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = {all[4 * i], all[4 * i + 1], all[4 * i + 2], all[4 * i + 3]};
  return out;
}

Team::Offset Team::offset(std::int64_t n_local) const {
  if (!comms_) return {0, n_local};
  Offset o;
#ifdef SPIRE_HAVE_MPI
  check(MPI_Exscan(&n_local, &o.first, 1, MPI_INT64_T, MPI_SUM, comms_->world), "MPI_Exscan");
  if (rank_ == 0) o.first = 0;  // MPI_Exscan leaves rank 0's undefined
  o.total = n_local;
  check(MPI_Allreduce(MPI_IN_PLACE, &o.total, 1, MPI_INT64_T, MPI_SUM, comms_->world), "MPI_Allreduce");
#endif
  return o;
}

}  // namespace spire::distributed
