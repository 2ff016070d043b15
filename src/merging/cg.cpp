#include "merging/cg.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace spire::merging {
namespace {

// conjugate_gradient's operations on host arrays of n values: the elementwise updates and
// dot products over `threads` OpenMP threads (static schedule), the residual's start and the
// true residual on one.
template <typename S>
struct HostOps {
  const std::function<void(const S*, S*)>& m;
  std::int64_t n;
  int threads;

  void apply(const S* in, S* out) { m(in, out); }
  double dot(const S* a, const S* b) const {
    double s = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : s) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return s;
  }
  void zero(S* x) const { std::fill_n(x, n, S(0)); }
  void start(const S* b, const S* q, S* r, S* p) const {
    for (std::int64_t i = 0; i < n; ++i) r[i] = b[i] - q[i];
    std::copy_n(r, n, p);
  }
  void step(S alpha, const S* p, const S* q, S* x, S* r) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      x[i] += alpha * p[i];
      r[i] -= alpha * q[i];
    }
  }
  void direction(S beta, const S* r, S* p) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) p[i] = r[i] + beta * p[i];
  }
  double distance2(const S* b, const S* q, S*) const {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(b[i]) - static_cast<double>(q[i]);
      s += d * d;
    }
    return s;
  }
};

template <typename S>
struct PreconditionedHostOps : HostOps<S> {
  const std::function<void(const S*, S*)>& c;
  void precondition(const S* r, S* z) { c(r, z); }
};

}  // namespace

template <typename S>
CgResult conjugate_gradient(const std::function<void(const S*, S*)>& apply_m,
                            std::span<const S> b, std::span<S> x, int max_iterations,
                            double tolerance, const std::function<void(const S*, S*)>& precondition) {
  if (x.size() != b.size()) fail("CG: x and b differ in size");
  HostOps<S> ops{apply_m, static_cast<std::int64_t>(b.size()), omp_get_max_threads()};
  std::vector<S> r(b.size()), p(b.size()), q(b.size());
  if (!precondition)
    return conjugate_gradient<S>(ops, b.data(), x.data(), r.data(), p.data(), q.data(), max_iterations, tolerance);
  PreconditionedHostOps<S> pre{ops, precondition};
  std::vector<S> z(b.size());
  return conjugate_gradient<S>(pre, b.data(), x.data(), r.data(), p.data(), q.data(), max_iterations, tolerance,
                               z.data());
}

template CgResult conjugate_gradient<float>(const std::function<void(const float*, float*)>&,
                                            std::span<const float>, std::span<float>, int, double,
                                            const std::function<void(const float*, float*)>&);
template CgResult conjugate_gradient<double>(const std::function<void(const double*, double*)>&,
                                             std::span<const double>, std::span<double>, int, double,
                                             const std::function<void(const double*, double*)>&);

}  // namespace spire::merging
