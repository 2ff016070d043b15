#pragma once
// OpenBLAS held at one thread for a scope, for code that runs its GEMMs on threads of its
// own (OpenMP's in matching.cpp, the streams' in distributed/search.cpp), so that OpenBLAS's
// pool never competes with them for the cores (what it cost: docs/matching.md).
//
// Contract: the constructor saves openblas_get_num_threads() and sets 1 where it differs; the
// destructor restores the saved count. The count is process-wide and the guard is not
// thread-safe: hold ONE guard around every thread that may run a GEMM (guards nested inside
// it, on any thread, then find 1 and change nothing), never one per concurrent thread.
#include <cblas.h>

namespace spire::matching {

class OneBlasThread {
 public:
  OneBlasThread() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~OneBlasThread() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int saved_;
};

}  // namespace spire::matching
