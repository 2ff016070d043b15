#include <cmath>

#include "nufft/nufft.hpp"

namespace spire::nufft {
namespace {

// exp(sign i k x) for k = -N/2 .. by recurrence from e^{i x}: the inner loop is a complex
// multiply instead of a sin/cos per term.
void phase_table(double x, int sign, std::int64_t n, std::complex<double>* out) {
  const std::complex<double> step(std::cos(x), sign * std::sin(x));
  const std::int64_t k0 = -(n / 2);
  std::complex<double> e = std::polar(1.0, sign * x * static_cast<double>(k0));
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = e;
    e *= step;
    if ((i & 15) == 15)  // re-anchor to keep the recurrence exact to round-off
      e = std::polar(1.0, sign * x * static_cast<double>(k0 + i + 1));
  }
}

}  // namespace

template <typename T>
void direct_type1(std::int64_t n, const T* x, const T* y, const T* z, const std::complex<T>* c,
                  int sign, std::array<std::int64_t, 3> modes, std::complex<T>* f) {
  const auto [n1, n2, n3] = modes;
  std::vector<std::complex<double>> acc(static_cast<std::size_t>(n1 * n2 * n3));
#pragma omp parallel
  {
    std::vector<std::complex<double>> local(acc.size()), ex(n1), ey(n2), ez(n3);
#pragma omp for schedule(static)
    for (std::int64_t j = 0; j < n; ++j) {
      phase_table(x[j], sign, n1, ex.data());
      phase_table(y[j], sign, n2, ey.data());
      phase_table(z[j], sign, n3, ez.data());
      const std::complex<double> cj(c[j]);
      for (std::int64_t k3 = 0; k3 < n3; ++k3)
        for (std::int64_t k2 = 0; k2 < n2; ++k2) {
          const std::complex<double> a = cj * ez[k3] * ey[k2];
          std::complex<double>* row = &local[(k3 * n2 + k2) * n1];
          for (std::int64_t k1 = 0; k1 < n1; ++k1) row[k1] += a * ex[k1];
        }
    }
#pragma omp critical
    for (std::size_t i = 0; i < acc.size(); ++i) acc[i] += local[i];
  }
  for (std::size_t i = 0; i < acc.size(); ++i) f[i] = std::complex<T>(acc[i]);
}

template <typename T>
void direct_type2(std::int64_t n, const T* x, const T* y, const T* z, std::complex<T>* c,
                  int sign, std::array<std::int64_t, 3> modes, const std::complex<T>* f) {
  const auto [n1, n2, n3] = modes;
#pragma omp parallel
  {
    std::vector<std::complex<double>> ex(n1), ey(n2), ez(n3);
#pragma omp for schedule(static)
    for (std::int64_t j = 0; j < n; ++j) {
      phase_table(x[j], sign, n1, ex.data());
      phase_table(y[j], sign, n2, ey.data());
      phase_table(z[j], sign, n3, ez.data());
      std::complex<double> sum = 0;
      for (std::int64_t k3 = 0; k3 < n3; ++k3)
        for (std::int64_t k2 = 0; k2 < n2; ++k2) {
          std::complex<double> row = 0;
          const std::complex<T>* fr = &f[(k3 * n2 + k2) * n1];
          for (std::int64_t k1 = 0; k1 < n1; ++k1) row += std::complex<double>(fr[k1]) * ex[k1];
          sum += row * ey[k2] * ez[k3];
        }
      c[j] = std::complex<T>(sum);
    }
  }
}

#define SPIRE_INSTANTIATE(T)                                                               \
  template void direct_type1<T>(std::int64_t, const T*, const T*, const T*,                \
                                const std::complex<T>*, int, std::array<std::int64_t, 3>,  \
                                std::complex<T>*);                                         \
  template void direct_type2<T>(std::int64_t, const T*, const T*, const T*,                \
                                std::complex<T>*, int, std::array<std::int64_t, 3>,        \
                                const std::complex<T>*);
SPIRE_INSTANTIATE(float)
SPIRE_INSTANTIATE(double)
#undef SPIRE_INSTANTIATE

}  // namespace spire::nufft
