#pragma once
// Spreading (type 1: points -> fine grid) and interpolation (type 2: fine grid -> points)
// with the ES kernel, on points already sorted into bins by set_points.
//
// Contract:
//  - Coordinates are fine-grid units folded into [0, nf) per dimension; the grid is
//    periodic, x fastest, complex, padded at its end by kGridPadding zeros (vector loads
//    may read past a row end; the kernel's zero lanes cancel what they read).
//  - interp writes out[perm[j]] for j in [begin, end): any split over threads gives the
//    same result.
//  - spread_bin adds one bin's points into a private subgrid and the subgrid into the grid;
//    bins of one colour never touch the same grid points, so a colour's bins run in
//    parallel without locks and the result does not depend on the thread count.
//  - The SIMD path evaluates the kernel by Horner; the scalar path by the exact formula.
#include <array>
#include <complex>
#include <cstdint>
#include <vector>

#include "nufft/kernel.hpp"

namespace spire::nufft {

inline constexpr std::int64_t kGridPadding = 64;  // complex values after the grid

struct Bins {
  std::array<int, 3> count{};                    // bins per dimension
  std::array<std::vector<std::int64_t>, 3> edge; // edge[d][b] .. edge[d][b+1]: bin b
  std::array<std::int64_t, 3> max_size{};        // largest bin extent per dimension
};

// Bins of at least max(16, w + 2) grid points and an even count per dimension (or one),
// so that the eight parity colours never overlap (see spread_bin).
Bins make_bins(std::array<std::int64_t, 3> nf, int width);

template <typename T>
struct SpreadContext {
  std::array<std::int64_t, 3> nf{};
  KernelParams kernel;
  const T* coeff = nullptr;       // Horner table, lanes per degree = coeff_stride
  int coeff_stride = 0;
  const T* coeff_dup = nullptr;   // same, each value twice (re, im lanes)
  int coeff_dup_stride = 0;
  const T* xs = nullptr;          // sorted, folded fine-grid coordinates
  const T* ys = nullptr;
  const T* zs = nullptr;
  const std::int64_t* perm = nullptr;  // sorted position -> caller's index
  bool simd = true;
};

template <typename T>
void interp(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
            std::int64_t end, std::complex<T>* out);

// interp, and the derivatives of the interpolant in each fine-grid coordinate times
// scale[d] (fine-grid units per unit of the caller's coordinate) into gradient[3 perm[j] + d]: the
// kernel's derivative on the same grid values (the Horner polynomials differentiated on the
// SIMD path, the exact ES derivative on the plain one).
template <typename T>
void interp_gradient(const SpreadContext<T>& ctx, const std::complex<T>* grid, std::int64_t begin,
                     std::int64_t end, const std::array<T, 3>& scale, std::complex<T>* out,
                     std::complex<T>* gradient);

// Sorted points start[bin] .. start[bin+1]; `subgrid` has room for subgrid_size(bins, width)
// values.
template <typename T>
void spread_bin(const SpreadContext<T>& ctx, const Bins& bins, const std::int64_t* start, int bin,
                const std::complex<T>* c, std::complex<T>* subgrid, std::complex<T>* grid);

std::int64_t subgrid_size(const Bins& bins, int width);

// Lanes of the widest native vector of T (xsimd's default architecture).
template <typename T>
int simd_lanes();

}  // namespace spire::nufft
