#pragma once
// Private to src/distributed: the MPI handles behind a Team (only with SPIRE_HAVE_MPI).
#ifdef SPIRE_HAVE_MPI
// The C API only (no deprecated C++ bindings, which need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace spire::distributed {

struct Comms {
  MPI_Comm world = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD
  MPI_Comm node = MPI_COMM_NULL;   // the ranks of this (real or emulated) node
  int thread_level = MPI_THREAD_SINGLE;
  Comms() = default;
  Comms(const Comms&) = delete;
  Comms& operator=(const Comms&) = delete;
  ~Comms();
};

// MPI errors are returned (MPI_ERRORS_RETURN on the communicators) and turned into a
// spire::Error naming the call.
void check(int code, const char* call);

}  // namespace spire::distributed
#endif
