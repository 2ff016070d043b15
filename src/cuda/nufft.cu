// GPU NUFFT (see nufft.hpp): fold and bin, CUB radix sort, ES-kernel interpolation and
// shared-memory or atomic spreading, cuFFT, deconvolution.
#include "cuda/nufft.hpp"

#include <cub/device/device_radix_sort.cuh>
#include <cufft.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "cuda/check.hpp"
#include "cuda/launch.cuh"

namespace spire::cuda {
namespace {

struct Grid3 {
  int nx, ny, nz;
};
struct Bins3 {
  int sx, sy, sz;  // bin size
  int cx, cy, cz;  // bin count
};

// Folded fine-grid coordinate of one point, exactly as the CPU (nufft/plan.cpp): in double,
// wrapped into [0, nf), rounded to float, nf itself mapped to 0.
__device__ inline bool fold(float x, int nf, float& out) {
  const float three_pi = 3 * 3.14159265358979323846f;
  if (!(x >= -three_pi && x < three_pi)) return false;
  const double nfd = nf;
  double g = static_cast<double>(x) * (nfd / (2 * 3.14159265358979323846));
  while (g < 0) g += nfd;
  while (g >= nfd) g -= nfd;
  float t = static_cast<float>(g);
  if (t >= static_cast<float>(nf)) t = 0;
  out = t;
  return true;
}

__global__ void fold_and_bin(std::int64_t n, const float* x, const float* y, const float* z, Grid3 g, Bins3 b,
                             float* fx, float* fy, float* fz, std::int32_t* keys, std::int32_t* index,
                             unsigned long long* bad) {
  const std::int64_t j = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (j >= n) return;
  float X, Y, Z;
  if (!fold(x[j], g.nx, X) || !fold(y[j], g.ny, Y) || !fold(z[j], g.nz, Z)) {
    atomicMin(bad, static_cast<unsigned long long>(j));
    X = Y = Z = 0;
  }
  const int bx = min(static_cast<int>(X) / b.sx, b.cx - 1), by = min(static_cast<int>(Y) / b.sy, b.cy - 1),
            bz = min(static_cast<int>(Z) / b.sz, b.cz - 1);
  fx[j] = X;
  fy[j] = Y;
  fz[j] = Z;
  keys[j] = bx + b.cx * (by + b.cy * bz);
  index[j] = static_cast<std::int32_t>(j);
}

__global__ void gather_sorted(std::int64_t n, const std::int32_t* perm, const float* fx, const float* fy,
                              const float* fz, float* xs, float* ys, float* zs) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  const std::int32_t j = perm[i];
  xs[i] = fx[j];
  ys[i] = fy[j];
  zs[i] = fz[j];
}

__global__ void count_bins(std::int64_t n, const std::int32_t* sorted_keys, std::int32_t* counts) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  // The last point of each run of equal keys writes the run's length.
  const std::int32_t k = sorted_keys[i];
  if (i + 1 == n || sorted_keys[i + 1] != k) {
    std::int64_t lo = 0, hi = i;  // first index with key k: binary search (keys ascend)
    while (lo < hi) {
      const std::int64_t mid = (lo + hi) / 2;
      if (sorted_keys[mid] < k) lo = mid + 1; else hi = mid;
    }
    counts[k] = static_cast<std::int32_t>(i + 1 - lo);
  }
}

// ES kernel values at the W grid points from the first one touched, i0 = ceil(X - W/2).
template <int W>
__device__ inline int kernel_values(float X, float beta, float* k) {
  const float left = X - 0.5f * W;
  const float i0 = ceilf(left);
  constexpr float inv_half = 2.0f / W;
#pragma unroll
  for (int m = 0; m < W; ++m) {
    const float zz = (i0 + m - X) * inv_half;
    const float q = 1.0f - zz * zz;
    k[m] = q > 0 ? expf(beta * (sqrtf(q) - 1.0f)) : 0.0f;
  }
  return static_cast<int>(i0);
}

__device__ inline int wrap(int i, int n) { return i < 0 ? i + n : (i >= n ? i - n : i); }

template <int W, bool RealOut>
__global__ void interp_kernel(std::int64_t n, const float* xs, const float* ys, const float* zs,
                              const std::int32_t* perm, Grid3 g, float beta, const float2* grid, float2* out,
                              float* out_real) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  float kx[W], ky[W], kz[W];
  const int ix = kernel_values<W>(xs[i], beta, kx);
  const int iy = kernel_values<W>(ys[i], beta, ky);
  const int iz = kernel_values<W>(zs[i], beta, kz);
  int xi[W];
#pragma unroll
  for (int a = 0; a < W; ++a) xi[a] = wrap(ix + a, g.nx);
  float re = 0, im = 0;
#pragma unroll
  for (int c = 0; c < W; ++c) {
    const std::int64_t plane = std::int64_t{wrap(iz + c, g.nz)} * g.ny;
    float pre = 0, pim = 0;
#pragma unroll
    for (int b = 0; b < W; ++b) {
      const float2* row = grid + (plane + wrap(iy + b, g.ny)) * g.nx;
      float rre = 0, rim = 0;
#pragma unroll
      for (int a = 0; a < W; ++a) {
        const float2 v = row[xi[a]];
        rre = fmaf(kx[a], v.x, rre);
        rim = fmaf(kx[a], v.y, rim);
      }
      pre = fmaf(ky[b], rre, pre);
      pim = fmaf(ky[b], rim, pim);
    }
    re = fmaf(kz[c], pre, re);
    im = fmaf(kz[c], pim, im);
  }
  if constexpr (RealOut)
    out_real[perm[i]] = re;
  else
    out[perm[i]] = make_float2(re, im);
}

template <int W>
__global__ void spread_global(std::int64_t n, const float* xs, const float* ys, const float* zs,
                              const std::int32_t* perm, Grid3 g, float beta, const float2* c, float2* grid) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  float kx[W], ky[W], kz[W];
  const int ix = kernel_values<W>(xs[i], beta, kx);
  const int iy = kernel_values<W>(ys[i], beta, ky);
  const int iz = kernel_values<W>(zs[i], beta, kz);
  const float2 v = c[perm[i]];
  for (int cc = 0; cc < W; ++cc) {
    const std::int64_t plane = std::int64_t{wrap(iz + cc, g.nz)} * g.ny;
    for (int b = 0; b < W; ++b) {
      float* row = reinterpret_cast<float*>(grid + (plane + wrap(iy + b, g.ny)) * g.nx);
      const float kyz = ky[b] * kz[cc];
#pragma unroll
      for (int a = 0; a < W; ++a) {
        const int x = wrap(ix + a, g.nx);
        const float k = kx[a] * kyz;
        atomicAdd(row + 2 * x, k * v.x);
        atomicAdd(row + 2 * x + 1, k * v.y);
      }
    }
  }
}

// One block per subproblem: its points go into a shared subgrid covering the bin and the
// kernel's reach, which is then added into the periodic fine grid.
template <int W>
__global__ void spread_shared(const Subproblem* subs, const float* xs, const float* ys, const float* zs,
                              const std::int32_t* perm, Grid3 g, Bins3 bins, float beta, const float2* c,
                              float2* grid) {
  extern __shared__ float2 sub[];
  const Subproblem sp = subs[blockIdx.x];
  const int ex = bins.sx + W + 1, ey = bins.sy + W + 1, ez = bins.sz + W + 1;
  const int total = ex * ey * ez;
  for (int t = threadIdx.x; t < total; t += blockDim.x) sub[t] = make_float2(0, 0);
  const int bx = sp.bin % bins.cx, by = (sp.bin / bins.cx) % bins.cy, bz = sp.bin / (bins.cx * bins.cy);
  // ceil(lo - W/2) for integer lo.
  const int ox = bx * bins.sx - W / 2, oy = by * bins.sy - W / 2, oz = bz * bins.sz - W / 2;
  __syncthreads();
  for (int p = threadIdx.x; p < sp.count; p += blockDim.x) {
    const int i = sp.first + p;
    float kx[W], ky[W], kz[W];
    const int ix = kernel_values<W>(xs[i], beta, kx) - ox;
    const int iy = kernel_values<W>(ys[i], beta, ky) - oy;
    const int iz = kernel_values<W>(zs[i], beta, kz) - oz;
    const float2 v = c[perm[i]];
    for (int cc = 0; cc < W; ++cc)
      for (int b = 0; b < W; ++b) {
        float* row = reinterpret_cast<float*>(sub + ix + ex * ((iy + b) + ey * (iz + cc)));
        const float kyz = ky[b] * kz[cc];
#pragma unroll
        for (int a = 0; a < W; ++a) {
          const float k = kx[a] * kyz;
          atomicAdd(row + 2 * a, k * v.x);
          atomicAdd(row + 2 * a + 1, k * v.y);
        }
      }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < total; t += blockDim.x) {
    const float2 v = sub[t];
    if (v.x == 0 && v.y == 0) continue;
    const int a = t % ex, b = (t / ex) % ey, cc = t / (ex * ey);
    const int x = ((ox + a) % g.nx + g.nx) % g.nx, y = ((oy + b) % g.ny + g.ny) % g.ny,
              z = ((oz + cc) % g.nz + g.nz) % g.nz;
    float* dst = reinterpret_cast<float*>(grid + x + std::int64_t{g.nx} * (y + std::int64_t{g.ny} * z));
    atomicAdd(dst, v.x);
    atomicAdd(dst + 1, v.y);
  }
}

struct Modes3 {
  int n1, n2, n3;
};

// type 1: f[k] = grid[fine(k)] * corr (ToModes); type 2: grid[fine(k)] = f[k] * corr.
template <bool ToModes>
__global__ void deconvolve(Modes3 m, Grid3 g, const float* c1, const float* c2, const float* c3, float2* grid,
                           float2* f) {
  const std::int64_t total = std::int64_t{m.n1} * m.n2 * m.n3;
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const int k1 = static_cast<int>(i % m.n1), k2 = static_cast<int>((i / m.n1) % m.n2),
            k3 = static_cast<int>(i / (std::int64_t{m.n1} * m.n2));
  const int f1 = (k1 - m.n1 / 2 + g.nx) % g.nx, f2 = (k2 - m.n2 / 2 + g.ny) % g.ny,
            f3 = (k3 - m.n3 / 2 + g.nz) % g.nz;
  const float s = c1[k1] * c2[k2] * c3[k3];
  const std::int64_t gi = f1 + std::int64_t{g.nx} * (f2 + std::int64_t{g.ny} * f3);
  if constexpr (ToModes) {
    const float2 v = grid[gi];
    f[i] = make_float2(v.x * s, v.y * s);
  } else {
    const float2 v = f[i];
    grid[gi] = make_float2(v.x * s, v.y * s);
  }
}

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
    default: fail("GPU NUFFT: kernel width " + std::to_string(w) + " is not supported (2..9)");
  }
}

__global__ void rotate_kernel(std::int64_t total, std::int64_t n_pixels, const double* R, const double* s, double scale,
                              float* x, float* y, float* z) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const double* r = R + 9 * (i / n_pixels);
  const double* p = s + 3 * (i % n_pixels);
  const double pi = 3.14159265358979323846;
  float out[3];
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    const double v = __dmul_rn(scale, __dadd_rn(__dadd_rn(__dmul_rn(r[c], p[0]), __dmul_rn(r[3 + c], p[1])),
                                                __dmul_rn(r[6 + c], p[2])));
    out[c] = static_cast<float>(fmin(fmax(v, -pi), pi));
  }
  x[i] = out[0];
  y[i] = out[1];
  z[i] = out[2];
}

}  // namespace

void rotated_points(std::int64_t n_orient, const double* R, std::int64_t n_pixels, const double* s, double scale,
                    float* x, float* y, float* z, stream_t stream) {
  const std::int64_t total = n_orient * n_pixels;
  if (total == 0) return;
  rotate_kernel<<<blocks(total), kBlock, 0, stream>>>(total, n_pixels, R, s, scale, x, y, z);
  check_launch("rotate_kernel");
}

struct DeviceNufft::State {
  NufftLayout layout;
  stream_t stream = nullptr;
  cufftHandle fft = 0;
  bool have_fft = false;
  bool global_spread = false;
  bool accumulating = false;
  DeviceBuffer<float2> grid;
  DeviceBuffer<float> corr[3];
  DevicePoints current;
  // Sorting workspace, kept between calls.
  DeviceBuffer<float> fx, fy, fz;
  DeviceBuffer<std::int32_t> keys, keys_sorted, index, counts;
  DeviceBuffer<unsigned long long> bad;
  DeviceBuffer<unsigned char> temp;

  Grid3 g() const {
    return {static_cast<int>(layout.nf[0]), static_cast<int>(layout.nf[1]), static_cast<int>(layout.nf[2])};
  }
  Bins3 b() const {
    return {layout.bin_size[0], layout.bin_size[1], layout.bin_size[2],
            layout.bin_count[0], layout.bin_count[1], layout.bin_count[2]};
  }
  Modes3 m() const {
    return {static_cast<int>(layout.modes[0]), static_cast<int>(layout.modes[1]), static_cast<int>(layout.modes[2])};
  }
  float beta() const { return static_cast<float>(layout.kernel.beta); }

  void check_points(const DevicePoints& p) const {
    if (p.n > 0 && (p.nf != layout.nf || p.width != layout.kernel.width))
      fail("GPU NUFFT: points were sorted for a plan with another fine grid or kernel");
  }
  void fft_exec() {
    check_fft(cufftExecC2C(fft, reinterpret_cast<cufftComplex*>(grid.data()),
                           reinterpret_cast<cufftComplex*>(grid.data()), layout.sign < 0 ? CUFFT_FORWARD : CUFFT_INVERSE),
              "cufftExecC2C");
  }
};

DeviceNufft::DeviceNufft(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
                         stream_t stream, double upsampling)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.layout = make_nufft_layout(type, modes, sign, tolerance, upsampling);
  if (s.layout.kernel.width < 2 || s.layout.kernel.width > 9)
    fail("GPU NUFFT: kernel width " + std::to_string(s.layout.kernel.width) + " is not supported (2..9)");
  require_device();
  s.stream = stream;
  for (int d = 0; d < 3; ++d) {
    if (s.layout.nf[d] > (1 << 20)) fail("GPU NUFFT: fine grid too large");
    s.corr[d].upload(s.layout.correction[d].data(), s.layout.correction[d].size(), stream);
  }
  s.grid.resize(static_cast<std::size_t>(s.layout.grid_size()));
  s.grid.zero(stream);
  check_fft(cufftPlan3d(&s.fft, static_cast<int>(s.layout.nf[2]), static_cast<int>(s.layout.nf[1]),
                        static_cast<int>(s.layout.nf[0]), CUFFT_C2C),
            "cufftPlan3d");
  s.have_fft = true;
  check_fft(cufftSetStream(s.fft, stream), "cufftSetStream");
  if (s.layout.shared_spread)
    with_width(s.layout.kernel.width, [&]<int W>() {
      check(cudaFuncSetAttribute(spread_shared<W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(s.layout.shared_bytes)),
            "cudaFuncSetAttribute");
    });
}

DeviceNufft::~DeviceNufft() {
  if (s_ && s_->have_fft) cufftDestroy(s_->fft);
}
DeviceNufft::DeviceNufft(DeviceNufft&&) noexcept = default;
DeviceNufft& DeviceNufft::operator=(DeviceNufft&&) noexcept = default;

DevicePoints DeviceNufft::sort_points(std::int64_t n, const float* x, const float* y, const float* z) {
  State& s = *s_;
  if (n < 0) fail("GPU NUFFT: point count must not be negative");
  if (n >= (std::int64_t{1} << 31) - 1) fail("GPU NUFFT: more than 2^31 points in one set; sort them in parts");
  DevicePoints p;
  p.n = n;
  p.nf = s.layout.nf;
  p.width = s.layout.kernel.width;
  if (n == 0) return p;
  const auto un = static_cast<std::size_t>(n);
  s.fx.resize(un);
  s.fy.resize(un);
  s.fz.resize(un);
  s.keys.resize(un);
  s.keys_sorted.resize(un);
  s.index.resize(un);
  s.bad.resize(1);
  check(cudaMemsetAsync(s.bad.data(), 0xff, sizeof(unsigned long long), s.stream), "memset");
  fold_and_bin<<<blocks(n), kBlock, 0, s.stream>>>(n, x, y, z, s.g(), s.b(), s.fx.data(), s.fy.data(),
                                                          s.fz.data(), s.keys.data(), s.index.data(), s.bad.data());
  check_launch("fold_and_bin");
  p.perm.resize(un);
  const std::int64_t nb = s.layout.n_bins();
  int end_bit = 1;
  while ((std::int64_t{1} << end_bit) < nb) ++end_bit;
  std::size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, s.keys.data(), s.keys_sorted.data(), s.index.data(),
                                        p.perm.data(), n, 0, end_bit, s.stream),
        "cub::DeviceRadixSort (size)");
  s.temp.resize(temp_bytes);
  check(cub::DeviceRadixSort::SortPairs(s.temp.data(), temp_bytes, s.keys.data(), s.keys_sorted.data(),
                                        s.index.data(), p.perm.data(), n, 0, end_bit, s.stream),
        "cub::DeviceRadixSort");
  p.xs.resize(un);
  p.ys.resize(un);
  p.zs.resize(un);
  gather_sorted<<<blocks(n), kBlock, 0, s.stream>>>(n, p.perm.data(), s.fx.data(), s.fy.data(), s.fz.data(),
                                                           p.xs.data(), p.ys.data(), p.zs.data());
  check_launch("gather_sorted");
  unsigned long long bad = 0;
  s.bad.download(&bad, 1, s.stream);
  if (bad != ~0ull) {
    float v[3];
    copy_to_host(&v[0], x + bad, sizeof(float), s.stream);
    copy_to_host(&v[1], y + bad, sizeof(float), s.stream);
    copy_to_host(&v[2], z + bad, sizeof(float), s.stream);
    fail("GPU NUFFT point " + std::to_string(bad) + " has coordinates (" + std::to_string(v[0]) + ", " +
         std::to_string(v[1]) + ", " + std::to_string(v[2]) + "), outside [-3pi, 3pi)");
  }
  if (s.layout.type == 1 && s.layout.shared_spread) {
    s.counts.resize(static_cast<std::size_t>(nb));
    s.counts.zero(s.stream);
    count_bins<<<blocks(n), kBlock, 0, s.stream>>>(n, s.keys_sorted.data(), s.counts.data());
    check_launch("count_bins");
    std::vector<std::int32_t> counts(static_cast<std::size_t>(nb));
    s.counts.download(counts.data(), counts.size(), s.stream);
    const auto subs = split_bins(counts, kMaxSubproblemPoints);
    p.subproblems.upload(subs.data(), subs.size(), s.stream);
    p.n_subproblems = static_cast<std::int64_t>(subs.size());
  }
  synchronize(s.stream);
  return p;
}

void DeviceNufft::set_points(std::int64_t n, const float* x, const float* y, const float* z) {
  s_->current = sort_points(n, x, y, z);
}
const DevicePoints& DeviceNufft::points() const { return s_->current; }

void DeviceNufft::execute(cfloat* c, cfloat* f) { execute(s_->current, c, f); }

void DeviceNufft::execute(const DevicePoints& points, cfloat* c, cfloat* f) {
  if (s_->layout.type == 1) {
    s_->grid.zero(s_->stream);
    s_->accumulating = true;
    spread_add(points, c);
    finish(f);
  } else {
    load_modes(f);
    interpolate(points, c);
  }
}

void DeviceNufft::load_modes(const cfloat* f) {
  State& s = *s_;
  if (s.layout.type != 2) fail("GPU NUFFT: load_modes is for type 2 plans");
  s.accumulating = false;
  s.grid.zero(s.stream);
  deconvolve<false><<<blocks(s.layout.n_modes()), kBlock, 0, s.stream>>>(
      s.m(), s.g(), s.corr[0].data(), s.corr[1].data(), s.corr[2].data(), s.grid.data(),
      const_cast<float2*>(reinterpret_cast<const float2*>(f)));
  check_launch("deconvolve (type 2)");
  s.fft_exec();
}

void DeviceNufft::interpolate(const DevicePoints& p, cfloat* c) const {
  const State& s = *s_;
  s.check_points(p);
  if (p.n == 0) return;
  with_width(s.layout.kernel.width, [&]<int W>() {
    interp_kernel<W, false><<<blocks(p.n), kBlock, 0, s.stream>>>(
        p.n, p.xs.data(), p.ys.data(), p.zs.data(), p.perm.data(), s.g(), s.beta(), s.grid.data(),
        reinterpret_cast<float2*>(c), nullptr);
  });
  check_launch("interp_kernel");
}

void DeviceNufft::interpolate_real(const DevicePoints& p, float* out) const {
  const State& s = *s_;
  s.check_points(p);
  if (p.n == 0) return;
  with_width(s.layout.kernel.width, [&]<int W>() {
    interp_kernel<W, true><<<blocks(p.n), kBlock, 0, s.stream>>>(
        p.n, p.xs.data(), p.ys.data(), p.zs.data(), p.perm.data(), s.g(), s.beta(), s.grid.data(), nullptr, out);
  });
  check_launch("interp_kernel (real)");
}

void DeviceNufft::spread_add(const DevicePoints& p, const cfloat* c) {
  State& s = *s_;
  if (s.layout.type != 1) fail("GPU NUFFT: spread_add is for type 1 plans");
  s.check_points(p);
  if (!s.accumulating) {
    s.grid.zero(s.stream);
    s.accumulating = true;
  }
  if (p.n == 0) return;
  const auto* cv = reinterpret_cast<const float2*>(c);
  const bool shared = s.layout.shared_spread && !s.global_spread && p.n_subproblems > 0;
  with_width(s.layout.kernel.width, [&]<int W>() {
    if (shared) {
      spread_shared<W><<<static_cast<unsigned>(p.n_subproblems), kBlock, s.layout.shared_bytes, s.stream>>>(
          p.subproblems.data(), p.xs.data(), p.ys.data(), p.zs.data(), p.perm.data(), s.g(), s.b(), s.beta(), cv,
          s.grid.data());
    } else {
      spread_global<W><<<blocks(p.n), kBlock, 0, s.stream>>>(p.n, p.xs.data(), p.ys.data(), p.zs.data(),
                                                                   p.perm.data(), s.g(), s.beta(), cv, s.grid.data());
    }
  });
  check_launch("spread");
}

void DeviceNufft::finish(cfloat* f) {
  State& s = *s_;
  if (s.layout.type != 1) fail("GPU NUFFT: finish is for type 1 plans");
  if (!s.accumulating) s.grid.zero(s.stream);
  s.fft_exec();
  deconvolve<true><<<blocks(s.layout.n_modes()), kBlock, 0, s.stream>>>(
      s.m(), s.g(), s.corr[0].data(), s.corr[1].data(), s.corr[2].data(), s.grid.data(), reinterpret_cast<float2*>(f));
  check_launch("deconvolve (type 1)");
  s.accumulating = false;
}

void DeviceNufft::force_global_spread(bool on) { s_->global_spread = on; }
const NufftLayout& DeviceNufft::layout() const { return s_->layout; }
stream_t DeviceNufft::stream() const { return s_->stream; }

}  // namespace spire::cuda
