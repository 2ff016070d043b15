#include "nufft/spread_interp.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace spire::nufft {
namespace {

template <typename T>
using V = xsimd::batch<T>;

constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Points ahead whose value (type 1) or output slot (type 2) is prefetched: the caller's
// arrays are read and written in bin order, which is random in memory.
constexpr std::int64_t kPrefetch = 16;

// Index of the first grid point a kernel of width W centred at X touches, and the Horner
// variable t in [-1, 1) of the fractional offset.
template <typename T, int W>
inline std::int64_t first_point(T X, T& t) {
  const T left = X - T(W) / 2;
  const T i0 = std::ceil(left);
  t = 2 * (i0 - left) - 1;
  return static_cast<std::int64_t>(i0);
}

// Kernel values at the W offsets, through the Horner table (NK vectors of lanes).
template <typename T, int W>
inline void kernel_values(const SpreadContext<T>& ctx, T t, T* out) {
  constexpr int L = V<T>::size;
  constexpr int NK = ceil_div(W, L);
  const int deg = ctx.kernel.degree;
  const V<T> tv(t);
  for (int v = 0; v < NK; ++v) {
    const T* c = ctx.coeff + v * L;
    V<T> acc = V<T>::load_aligned(c + deg * ctx.coeff_stride);
    for (int p = deg - 1; p >= 0; --p) acc = xsimd::fma(acc, tv, V<T>::load_aligned(c + p * ctx.coeff_stride));
    acc.store_aligned(out + v * L);
  }
}

// Kernel values duplicated into (re, im) lane pairs: 2W lanes in NV vectors.
template <typename T, int W>
inline void kernel_values_dup(const SpreadContext<T>& ctx, T t, V<T>* out) {
  constexpr int L = V<T>::size;
  constexpr int NV = ceil_div(2 * W, L);
  const int deg = ctx.kernel.degree;
  const V<T> tv(t);
  for (int v = 0; v < NV; ++v) {
    const T* c = ctx.coeff_dup + v * L;
    V<T> acc = V<T>::load_aligned(c + deg * ctx.coeff_dup_stride);
    for (int p = deg - 1; p >= 0; --p)
      acc = xsimd::fma(acc, tv, V<T>::load_aligned(c + p * ctx.coeff_dup_stride));
    out[v] = acc;
  }
}

inline std::int64_t wrap(std::int64_t i, std::int64_t n) {
  if (i < 0) return i + n;
  if (i >= n) return i - n;
  return i;
}

// ---- interpolation --------------------------------------------------------------------

// Points sharing their first grid point are interpolated together, as they are spread
// together: each grid row is loaded once for the group. Fewer points per group for wide
// rows, so the accumulators stay in registers.
template <typename T, int W>
constexpr int interp_group() {
  return ceil_div(2 * W, V<T>::size) >= 4 ? 2 : 4;
}

template <typename T, int W, int G>
inline void interp_group_rows(const T* g, std::int64_t ix, const std::int64_t* yoff, const std::int64_t* zoff,
                              const T (*ky)[ceil_div(W, V<T>::size) * V<T>::size],
                              const T (*kz)[ceil_div(W, V<T>::size) * V<T>::size], V<T> (*acc)[ceil_div(2 * W, V<T>::size)]) {
  constexpr int L = V<T>::size, NV = ceil_div(2 * W, L);
  for (int p = 0; p < G; ++p)
    for (int v = 0; v < NV; ++v) acc[p][v] = V<T>(T(0));
  for (int c = 0; c < W; ++c) {
    V<T> accz[G][NV];
    for (int p = 0; p < G; ++p)
      for (int v = 0; v < NV; ++v) accz[p][v] = V<T>(T(0));
    for (int b = 0; b < W; ++b) {
      const T* r = g + 2 * (zoff[c] + yoff[b] + ix);
      for (int v = 0; v < NV; ++v) {
        const V<T> row = V<T>::load_unaligned(r + v * L);
        for (int p = 0; p < G; ++p) accz[p][v] = xsimd::fma(V<T>(ky[p][b]), row, accz[p][v]);
      }
    }
    for (int p = 0; p < G; ++p)
      for (int v = 0; v < NV; ++v) acc[p][v] = xsimd::fma(V<T>(kz[p][c]), accz[p][v], acc[p][v]);
  }
}

template <typename T, int W>
void interp_simd(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                 std::int64_t end, std::complex<T>* out) {
  constexpr int L = V<T>::size;
  constexpr int NV = ceil_div(2 * W, L);
  constexpr int NK = ceil_div(W, L);
  constexpr int G = interp_group<T, W>();
  const auto [nx, ny, nz] = ctx.nf;
  const T* g = reinterpret_cast<const T*>(grid);
  alignas(64) T ky[G][NK * L], kz[G][NK * L], wrapped[NV * L], lanes[NV * L];
  std::fill(std::begin(wrapped), std::end(wrapped), T(0));
  std::int64_t yoff[W], zoff[W];
  V<T> kx[G][NV], acc[G][NV];
  std::int64_t j = begin;
  while (j < end) {
    std::int64_t start[3] = {0, 0, 0};
    int n = 0;  // points in this group
    for (; n < G && j + n < end; ++n) {
      T t[3];
      const std::int64_t i[3] = {first_point<T, W>(ctx.xs[j + n], t[0]), first_point<T, W>(ctx.ys[j + n], t[1]),
                                 first_point<T, W>(ctx.zs[j + n], t[2])};
      if (n == 0)
        std::copy(i, i + 3, start);
      else if (i[0] != start[0] || i[1] != start[1] || i[2] != start[2])
        break;
      kernel_values_dup<T, W>(ctx, t[0], kx[n]);
      kernel_values<T, W>(ctx, t[1], ky[n]);
      kernel_values<T, W>(ctx, t[2], kz[n]);
    }
    for (int m = 0; m < W; ++m) {
      yoff[m] = wrap(start[1] + m, ny) * nx;
      zoff[m] = wrap(start[2] + m, nz) * nx * ny;
    }
    const std::int64_t ix = start[0];
    if (ix >= 0 && ix + W <= nx) {
      if (n == G)
        interp_group_rows<T, W, G>(g, ix, yoff, zoff, ky, kz, acc);
      else
        for (int p = 0; p < n; ++p) interp_group_rows<T, W, 1>(g, ix, yoff, zoff, ky + p, kz + p, acc + p);
    } else {  // the kernel wraps around the x edge: gather each row, one point at a time
      for (int p = 0; p < n; ++p) {
        for (int v = 0; v < NV; ++v) acc[p][v] = V<T>(T(0));
        for (int c = 0; c < W; ++c) {
          V<T> accz[NV];
          for (int v = 0; v < NV; ++v) accz[v] = V<T>(T(0));
          for (int b = 0; b < W; ++b) {
            const std::int64_t row = zoff[c] + yoff[b];
            for (int m = 0; m < W; ++m) {
              const std::int64_t i = 2 * (row + wrap(ix + m, nx));
              wrapped[2 * m] = g[i];
              wrapped[2 * m + 1] = g[i + 1];
            }
            for (int v = 0; v < NV; ++v)
              accz[v] = xsimd::fma(V<T>(ky[p][b]), V<T>::load_aligned(wrapped + v * L), accz[v]);
          }
          for (int v = 0; v < NV; ++v) acc[p][v] = xsimd::fma(V<T>(kz[p][c]), accz[v], acc[p][v]);
        }
      }
    }
    for (int p = 0; p < n; ++p) {
      for (int v = 0; v < NV; ++v) (acc[p][v] * kx[p][v]).store_aligned(lanes + v * L);
      T re = 0, im = 0;
      for (int m = 0; m < W; ++m) {
        re += lanes[2 * m];
        im += lanes[2 * m + 1];
      }
      if (j + p + kPrefetch < end) __builtin_prefetch(out + ctx.perm[j + p + kPrefetch], 1);
      out[ctx.perm[j + p]] = std::complex<T>(re, im);
    }
    j += n;
  }
}

// The plain path: exact kernel, scalar loops, accumulation in T.
template <typename T>
void kernel_exact(const KernelParams& k, T X, std::int64_t& i0, double* vals) {
  const int w = k.width;
  const double left = static_cast<double>(X) - w / 2.0;
  i0 = static_cast<std::int64_t>(std::ceil(left));
  for (int m = 0; m < w; ++m)
    vals[m] = es_kernel((static_cast<double>(i0 + m) - static_cast<double>(X)) / (w / 2.0), k.beta);
}

template <typename T>
void interp_scalar(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                   std::int64_t end, std::complex<T>* out) {
  const int w = ctx.kernel.width;
  const auto [nx, ny, nz] = ctx.nf;
  double kx[16], ky[16], kz[16];
  for (std::int64_t j = begin; j < end; ++j) {
    std::int64_t ix, iy, iz;
    kernel_exact(ctx.kernel, ctx.xs[j], ix, kx);
    kernel_exact(ctx.kernel, ctx.ys[j], iy, ky);
    kernel_exact(ctx.kernel, ctx.zs[j], iz, kz);
    std::complex<T> sum = 0;
    for (int c = 0; c < w; ++c)
      for (int b = 0; b < w; ++b)
        for (int a = 0; a < w; ++a) {
          const std::int64_t i = wrap(ix + a, nx) + nx * (wrap(iy + b, ny) + ny * wrap(iz + c, nz));
          sum += grid[i] * static_cast<T>(kx[a] * ky[b] * kz[c]);
        }
    out[ctx.perm[j]] = sum;
  }
}

// ---- interpolation with the gradient ----------------------------------------------------

// Kernel values and their derivatives in t at the W offsets (Horner on value and derivative
// together), plain (NK vectors) or duplicated into (re, im) lanes (NV vectors).
template <typename T>
inline void kernel_values_d(const T* table, int stride, int deg, int vectors, T t, T* value, T* derivative) {
  constexpr int L = V<T>::size;
  const V<T> tv(t);
  for (int v = 0; v < vectors; ++v) {
    const T* c = table + v * L;
    V<T> acc = V<T>::load_aligned(c + deg * stride), dacc(T(0));
    for (int p = deg - 1; p >= 0; --p) {
      dacc = xsimd::fma(dacc, tv, acc);
      acc = xsimd::fma(acc, tv, V<T>::load_aligned(c + p * stride));
    }
    acc.store_aligned(value + v * L);
    dacc.store_aligned(derivative + v * L);
  }
}

// One row of 2W lanes (W complex grid values) starting at x index ix of a grid row, through
// `wrapped` where the kernel wraps around the x edge.
template <typename T, int W>
inline const T* grid_row(const T* g, std::int64_t row, std::int64_t ix, std::int64_t nx, T* wrapped) {
  if (ix >= 0 && ix + W <= nx) return g + 2 * (row + ix);
  for (int m = 0; m < W; ++m) {
    const std::int64_t i = 2 * (row + wrap(ix + m, nx));
    wrapped[2 * m] = g[i];
    wrapped[2 * m + 1] = g[i + 1];
  }
  return wrapped;
}

// Sums of the (re, im) lane pairs of NV vectors times `k`.
template <typename T, int NV>
inline std::complex<T> lane_sum(const V<T>* acc, const V<T>* k, T* lanes, int w) {
  constexpr int L = V<T>::size;
  for (int v = 0; v < NV; ++v) (acc[v] * k[v]).store_aligned(lanes + v * L);
  T re = 0, im = 0;
  for (int m = 0; m < w; ++m) re += lanes[2 * m], im += lanes[2 * m + 1];
  return {re, im};
}

template <typename T, int W>
void interp_gradient_simd(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                          std::int64_t end, const T* scale, std::complex<T>* out, std::complex<T>* gradient) {
  constexpr int L = V<T>::size, NV = ceil_div(2 * W, L), NK = ceil_div(W, L);
  const auto [nx, ny, nz] = ctx.nf;
  const T* g = reinterpret_cast<const T*>(grid);
  const int deg = ctx.kernel.degree;
  alignas(64) T ky[NK * L], dky[NK * L], kz[NK * L], dkz[NK * L], kx[NV * L], dkx[NV * L];
  alignas(64) T wrapped[NV * L] = {}, lanes[NV * L];
  for (std::int64_t j = begin; j < end; ++j) {
    T t[3];
    const std::int64_t ix = first_point<T, W>(ctx.xs[j], t[0]), iy = first_point<T, W>(ctx.ys[j], t[1]),
                       iz = first_point<T, W>(ctx.zs[j], t[2]);
    kernel_values_d<T>(ctx.coeff_dup, ctx.coeff_dup_stride, deg, NV, t[0], kx, dkx);
    kernel_values_d<T>(ctx.coeff, ctx.coeff_stride, deg, NK, t[1], ky, dky);
    kernel_values_d<T>(ctx.coeff, ctx.coeff_stride, deg, NK, t[2], kz, dkz);
    // a: sum ky kz row, ay: sum dky kz row, az: sum ky dkz row; then x by kx or dkx.
    V<T> a[NV], ay[NV], az[NV];
    for (int v = 0; v < NV; ++v) a[v] = ay[v] = az[v] = V<T>(T(0));
    for (int c = 0; c < W; ++c) {
      V<T> r[NV], dr[NV];
      for (int v = 0; v < NV; ++v) r[v] = dr[v] = V<T>(T(0));
      const std::int64_t zoff = wrap(iz + c, nz) * nx * ny;
      for (int b = 0; b < W; ++b) {
        const T* row = grid_row<T, W>(g, zoff + wrap(iy + b, ny) * nx, ix, nx, wrapped);
        for (int v = 0; v < NV; ++v) {
          const V<T> values = V<T>::load_unaligned(row + v * L);
          r[v] = xsimd::fma(V<T>(ky[b]), values, r[v]);
          dr[v] = xsimd::fma(V<T>(dky[b]), values, dr[v]);
        }
      }
      for (int v = 0; v < NV; ++v) {
        a[v] = xsimd::fma(V<T>(kz[c]), r[v], a[v]);
        ay[v] = xsimd::fma(V<T>(kz[c]), dr[v], ay[v]);
        az[v] = xsimd::fma(V<T>(dkz[c]), r[v], az[v]);
      }
    }
    V<T> kxv[NV], dkxv[NV];
    for (int v = 0; v < NV; ++v) kxv[v] = V<T>::load_aligned(kx + v * L), dkxv[v] = V<T>::load_aligned(dkx + v * L);
    const std::int64_t o = ctx.perm[j];
    out[o] = lane_sum<T, NV>(a, kxv, lanes, W);
    gradient[3 * o] = scale[0] * lane_sum<T, NV>(a, dkxv, lanes, W);
    gradient[3 * o + 1] = scale[1] * lane_sum<T, NV>(ay, kxv, lanes, W);
    gradient[3 * o + 2] = scale[2] * lane_sum<T, NV>(az, kxv, lanes, W);
  }
}

// The plain path: exact kernel and its derivative in X (d/dX psi((i - X)/(w/2))).
template <typename T>
void kernel_exact_d(const KernelParams& k, T X, std::int64_t& i0, double* vals, double* ders) {
  const int w = k.width;
  i0 = static_cast<std::int64_t>(std::ceil(static_cast<double>(X) - w / 2.0));
  for (int m = 0; m < w; ++m) {
    const double z = (static_cast<double>(i0 + m) - static_cast<double>(X)) / (w / 2.0);
    vals[m] = es_kernel(z, k.beta);
    ders[m] = std::abs(z) < 1 ? vals[m] * k.beta * z / std::sqrt(1 - z * z) / (w / 2.0) : 0.0;
  }
}

template <typename T>
void interp_gradient_scalar(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                            std::int64_t end, const T* scale, std::complex<T>* out, std::complex<T>* gradient) {
  const int w = ctx.kernel.width;
  const auto [nx, ny, nz] = ctx.nf;
  double k[3][16], dk[3][16];
  for (std::int64_t j = begin; j < end; ++j) {
    std::int64_t i0[3];
    kernel_exact_d(ctx.kernel, ctx.xs[j], i0[0], k[0], dk[0]);
    kernel_exact_d(ctx.kernel, ctx.ys[j], i0[1], k[1], dk[1]);
    kernel_exact_d(ctx.kernel, ctx.zs[j], i0[2], k[2], dk[2]);
    std::complex<double> sum = 0, d[3] = {0, 0, 0};
    for (int c = 0; c < w; ++c)
      for (int b = 0; b < w; ++b)
        for (int a = 0; a < w; ++a) {
          const std::int64_t i = wrap(i0[0] + a, nx) + nx * (wrap(i0[1] + b, ny) + ny * wrap(i0[2] + c, nz));
          const std::complex<double> v(grid[i].real(), grid[i].imag());
          sum += v * (k[0][a] * k[1][b] * k[2][c]);
          d[0] += v * (dk[0][a] * k[1][b] * k[2][c]);
          d[1] += v * (k[0][a] * dk[1][b] * k[2][c]);
          d[2] += v * (k[0][a] * k[1][b] * dk[2][c]);
        }
    const std::int64_t o = ctx.perm[j];
    out[o] = std::complex<T>(sum);
    for (int e = 0; e < 3; ++e) gradient[3 * o + e] = std::complex<T>(d[e] * static_cast<double>(scale[e]));
  }
}

// ---- spreading --------------------------------------------------------------------------

struct SubgridBox {
  std::array<std::int64_t, 3> origin;  // grid index of the subgrid's first point
  std::array<std::int64_t, 3> extent;  // points the bin's kernels can touch
  std::array<std::int64_t, 3> dims;    // allocated dimensions (x padded for vector stores)
};

SubgridBox subgrid_box(const Bins& bins, int bin, int width) {
  SubgridBox box;
  std::array<int, 3> b = {bin % bins.count[0], (bin / bins.count[0]) % bins.count[1],
                          bin / (bins.count[0] * bins.count[1])};
  for (int d = 0; d < 3; ++d) {
    const std::int64_t lo = bins.edge[d][b[d]], hi = bins.edge[d][b[d] + 1];
    // first_point of X in [lo, hi) lies in [ceil(lo - w/2), ceil(hi - w/2)].
    box.origin[d] = static_cast<std::int64_t>(std::ceil(static_cast<double>(lo) - width / 2.0));
    box.extent[d] = (hi - lo) + width + 1;
    box.dims[d] = bins.max_size[d] + width + 1;
  }
  return box;
}

// Adds the subgrid into the periodic grid, row by row, splitting rows at the x edge.
template <typename T>
void add_subgrid(const SubgridBox& box, std::array<std::int64_t, 3> nf,
                 const std::complex<T>* sub, std::complex<T>* grid) {
  for (std::int64_t c = 0; c < box.extent[2]; ++c) {
    const std::int64_t gz = ((box.origin[2] + c) % nf[2] + nf[2]) % nf[2];
    for (std::int64_t b = 0; b < box.extent[1]; ++b) {
      const std::int64_t gy = ((box.origin[1] + b) % nf[1] + nf[1]) % nf[1];
      std::complex<T>* grow = grid + nf[0] * (gy + nf[1] * gz);
      const std::complex<T>* srow = sub + box.dims[0] * (b + box.dims[1] * c);
      std::int64_t a = 0;
      while (a < box.extent[0]) {
        const std::int64_t gx = ((box.origin[0] + a) % nf[0] + nf[0]) % nf[0];
        const std::int64_t run = std::min(box.extent[0] - a, nf[0] - gx);
        T* gp = reinterpret_cast<T*>(grow + gx);
        const T* sp = reinterpret_cast<const T*>(srow + a);
        for (std::int64_t i = 0; i < 2 * run; ++i) gp[i] += sp[i];
        a += run;
      }
    }
  }
}

// Points that share their first grid point (set_points orders each bin so that they are
// consecutive) are spread together: each grid row is loaded and stored once for the group
// instead of once per point.
constexpr int kGroup = 4;

template <typename T, int W>
struct PointKernels {
  static constexpr int L = V<T>::size, NV = ceil_div(2 * W, L), NK = ceil_div(W, L);
  V<T> kx[NV];  // x kernel times the point's value, (re, im) lanes
  alignas(64) T ky[NK * L], kz[NK * L];
};

template <typename T, int W, int G>
inline void spread_group(const PointKernels<T, W>* k, T* sub, std::int64_t sx, std::int64_t sxy) {
  constexpr int L = V<T>::size, NV = PointKernels<T, W>::NV;
  for (int c = 0; c < W; ++c) {
    V<T> kxz[G][NV];  // x kernel times value times z kernel: one FMA per vector per row
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < NV; ++v) kxz[g][v] = k[g].kx[v] * V<T>(k[g].kz[c]);
    T* plane = sub + 2 * sxy * c;
    for (int b = 0; b < W; ++b) {
      T* r = plane + 2 * sx * b;
      for (int v = 0; v < NV; ++v) {
        V<T> row = V<T>::load_unaligned(r + v * L);
        for (int g = 0; g < G; ++g) row = xsimd::fma(V<T>(k[g].ky[b]), kxz[g][v], row);
        row.store_unaligned(r + v * L);
      }
    }
  }
}

template <typename T, int W>
void spread_simd(const SpreadContext<T>& ctx, const SubgridBox& box, std::int64_t begin,
                 std::int64_t end, const std::complex<T>* cin, std::complex<T>* subgrid) {
  constexpr int L = V<T>::size;
  constexpr int NV = PointKernels<T, W>::NV;
  alignas(64) T parity[L];
  for (int i = 0; i < L; ++i) parity[i] = T(i % 2);
  const V<T> odd = V<T>::load_aligned(parity), even = V<T>(T(1)) - odd;
  T* sub = reinterpret_cast<T*>(subgrid);
  const std::int64_t sx = box.dims[0], sxy = box.dims[0] * box.dims[1];
  PointKernels<T, W> k[kGroup];
  std::int64_t j = begin;
  while (j < end) {
    std::int64_t start[3] = {0, 0, 0};
    int g = 0;
    for (; g < kGroup && j + g < end; ++g) {
      const std::int64_t p = j + g;
      T t[3];
      const std::int64_t i[3] = {first_point<T, W>(ctx.xs[p], t[0]), first_point<T, W>(ctx.ys[p], t[1]),
                                 first_point<T, W>(ctx.zs[p], t[2])};
      if (g == 0)
        std::copy(i, i + 3, start);
      else if (i[0] != start[0] || i[1] != start[1] || i[2] != start[2])
        break;
      kernel_values_dup<T, W>(ctx, t[0], k[g].kx);
      kernel_values<T, W>(ctx, t[1], k[g].ky);
      kernel_values<T, W>(ctx, t[2], k[g].kz);
      // The strengths sit in the caller's order: fetch ahead, or each point waits on a miss.
      if (p + kPrefetch < end) __builtin_prefetch(cin + ctx.perm[p + kPrefetch]);
      const std::complex<T> cj = cin[ctx.perm[p]];
      const V<T> cv = xsimd::fma(V<T>(cj.real()), even, V<T>(cj.imag()) * odd);
      for (int v = 0; v < NV; ++v) k[g].kx[v] *= cv;
    }
    T* corner = sub + 2 * ((start[0] - box.origin[0]) + sx * (start[1] - box.origin[1]) +
                           sxy * (start[2] - box.origin[2]));
    switch (g) {
      case 1: spread_group<T, W, 1>(k, corner, sx, sxy); break;
      case 2: spread_group<T, W, 2>(k, corner, sx, sxy); break;
      case 3: spread_group<T, W, 3>(k, corner, sx, sxy); break;
      default: spread_group<T, W, 4>(k, corner, sx, sxy); break;
    }
    j += g;
  }
}

template <typename T>
void spread_scalar(const SpreadContext<T>& ctx, const SubgridBox& box, std::int64_t begin,
                   std::int64_t end, const std::complex<T>* cin, std::complex<T>* subgrid) {
  const int w = ctx.kernel.width;
  const std::int64_t sx = box.dims[0], sxy = box.dims[0] * box.dims[1];
  double kx[16], ky[16], kz[16];
  for (std::int64_t j = begin; j < end; ++j) {
    std::int64_t ix, iy, iz;
    kernel_exact(ctx.kernel, ctx.xs[j], ix, kx);
    kernel_exact(ctx.kernel, ctx.ys[j], iy, ky);
    kernel_exact(ctx.kernel, ctx.zs[j], iz, kz);
    ix -= box.origin[0];
    iy -= box.origin[1];
    iz -= box.origin[2];
    const std::complex<T> cj = cin[ctx.perm[j]];
    for (int c = 0; c < w; ++c)
      for (int b = 0; b < w; ++b)
        for (int a = 0; a < w; ++a)
          subgrid[(ix + a) + sx * (iy + b) + sxy * (iz + c)] += cj * static_cast<T>(kx[a] * ky[b] * kz[c]);
  }
}

// Calls f.template operator()<W>() for the runtime width: the kernels are compiled for
// each width so that every loop over the kernel's extent unrolls.
template <typename F>
void with_width(int w, F&& f) {
  switch (w) {
    case 2: return f.template operator()<2>();
    case 3: return f.template operator()<3>();
    case 4: return f.template operator()<4>();
    case 5: return f.template operator()<5>();
    case 6: return f.template operator()<6>();
    case 7: return f.template operator()<7>();
    case 8: return f.template operator()<8>();
    case 9: return f.template operator()<9>();
    case 10: return f.template operator()<10>();
    case 11: return f.template operator()<11>();
    case 12: return f.template operator()<12>();
    case 13: return f.template operator()<13>();
    case 14: return f.template operator()<14>();
    case 15: return f.template operator()<15>();
    case 16: return f.template operator()<16>();
    default: fail("unsupported NUFFT kernel width " + std::to_string(w));
  }
}

}  // namespace

Bins make_bins(std::array<std::int64_t, 3> nf, int width) {
  Bins bins;
  const std::int64_t min_size = std::max(16, width + 2);
  for (int d = 0; d < 3; ++d) {
    std::int64_t count = nf[d] / min_size;
    if (count >= 2) count -= count % 2;  // even, so parity colours stay apart across the wrap
    count = std::max<std::int64_t>(count, 1);
    bins.count[d] = static_cast<int>(count);
    bins.edge[d].resize(count + 1);
    for (std::int64_t b = 0; b <= count; ++b) bins.edge[d][b] = b * nf[d] / count;
    bins.max_size[d] = 0;
    for (std::int64_t b = 0; b < count; ++b)
      bins.max_size[d] = std::max(bins.max_size[d], bins.edge[d][b + 1] - bins.edge[d][b]);
  }
  return bins;
}

std::int64_t subgrid_size(const Bins& bins, int width) {
  std::int64_t n = 1;
  for (int d = 0; d < 3; ++d) n *= bins.max_size[d] + width + 1;
  return n + kGridPadding;
}

template <typename T>
int simd_lanes() {
  return static_cast<int>(V<T>::size);
}

template <typename T>
void interp(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
            std::int64_t end, std::complex<T>* out) {
  if (!ctx.simd) return interp_scalar(ctx, grid, begin, end, out);
  with_width(ctx.kernel.width, [&]<int W>() { interp_simd<T, W>(ctx, grid, begin, end, out); });
}

template <typename T>
void interp_gradient(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                     std::int64_t end, const std::array<T, 3>& scale, std::complex<T>* out,
                     std::complex<T>* gradient) {
  if (!ctx.simd) return interp_gradient_scalar(ctx, grid, begin, end, scale.data(), out, gradient);
  // d/dX of the Horner variable t = 2 (i0 - X + W/2) - 1 is -2.
  const std::array<T, 3> s{-2 * scale[0], -2 * scale[1], -2 * scale[2]};
  with_width(ctx.kernel.width,
             [&]<int W>() { interp_gradient_simd<T, W>(ctx, grid, begin, end, s.data(), out, gradient); });
}

template <typename T>
void spread_bin(const SpreadContext<T>& ctx, const Bins& bins, const std::int64_t* start, int bin,
                const std::complex<T>* c, std::complex<T>* subgrid, std::complex<T>* grid) {
  const std::int64_t begin = start[bin], end = start[bin + 1];
  if (begin == end) return;
  const SubgridBox box = subgrid_box(bins, bin, ctx.kernel.width);
  std::fill(subgrid, subgrid + subgrid_size(bins, ctx.kernel.width), std::complex<T>(0));
  if (ctx.simd)
    with_width(ctx.kernel.width,
               [&]<int W>() { spread_simd<T, W>(ctx, box, begin, end, c, subgrid); });
  else
    spread_scalar(ctx, box, begin, end, c, subgrid);
  add_subgrid(box, ctx.nf, subgrid, grid);
}

template void interp<float>(const SpreadContext<float>&, const std::complex<float>*, std::int64_t,
                            std::int64_t, std::complex<float>*);
template void interp<double>(const SpreadContext<double>&, const std::complex<double>*,
                             std::int64_t, std::int64_t, std::complex<double>*);
template void interp_gradient<float>(const SpreadContext<float>&, const std::complex<float>*, std::int64_t,
                                     std::int64_t, const std::array<float, 3>&, std::complex<float>*,
                                     std::complex<float>*);
template void interp_gradient<double>(const SpreadContext<double>&, const std::complex<double>*, std::int64_t,
                                      std::int64_t, const std::array<double, 3>&, std::complex<double>*,
                                      std::complex<double>*);
template void spread_bin<float>(const SpreadContext<float>&, const Bins&, const std::int64_t*, int,
                                const std::complex<float>*, std::complex<float>*,
                                std::complex<float>*);
template void spread_bin<double>(const SpreadContext<double>&, const Bins&, const std::int64_t*, int,
                                 const std::complex<double>*, std::complex<double>*,
                                 std::complex<double>*);
template int simd_lanes<float>();
template int simd_lanes<double>();

}  // namespace spire::nufft
