#pragma once
// Merging (M-TIP step 3): the autocorrelation from the data at their matched orientations,
// by conjugate gradients on Tikhonov-regularised normal equations.
//
// Model (shared with slicing). The autocorrelation x is real on an n^3 grid, n odd, voxel
// l = (l1, l2, l3) with l_d = -h..h, h = n/2, stored at (l1+h) + n((l2+h) + n(l3+h)) (the
// NUFFT's mode order, l1 fastest). Voxel size 1/(2 s_ext), s_ext the largest pixel |s|.
// The model intensity at a reciprocal point s in the molecule's frame is
//   I(s) = sum_l x(l) exp(+i l . p),   p = pi s / s_ext in [-pi, pi]^3,
// a type-2 NUFFT with sign +1 (the operator A); its adjoint A* is type 1 with sign -1.
//
// Problem. Points p_j (pixels rotated by their image's matched orientation, scaled to
// [-pi, pi]), intensities b_j and weights D_j >= 0 (0 for a masked pixel). Over REAL x
// (zero outside the support, if one is set: projection P), minimise
//   sum_j D_j |(A x)_j - b_j|^2 + lambda |x - x0|^2,
// whose normal equations are
//   P (Re(A*DA) + lambda) P x = P (Re(A*Db) + lambda x0).
// Friedel symmetry: for real x the data term's gradient is 2 Re(A*D(Ax - b)), so taking real
// parts is exact least squares, whether or not the data are Friedel-symmetric. It is the
// same as adding every point's mate -p_j with the same b_j and D_j (I(s) = I(-s) for real x),
// which makes A*DA and A*Db real and doubles both (lambda scales with them, see below).
//
// Toeplitz. Re(A*DA) x (l) = sum_l' K(l - l') x(l'), with the real, even kernel
//   K(m) = sum_j D_j cos(m . p_j),   m in [-(n-1), n-1]^3.
// ONE type-1 NUFFT (sign -1) of c_j = D_j (1 + i b_j) onto (2n-1)^3 modes gives both sums:
// K(m) = (Re f(m) + Re f(-m)) / 2 and Re(A*Db)(l) = (Im f(l) + Im f(-l)) / 2 (D, b real).
// An application is a circular convolution on an L^3 grid, L >= 2n-1 (so that no two lags
// alias): zero-pad x, FFT, multiply by the kernel's FFT (real, computed once per solve),
// inverse FFT, keep the n^3 corner. x, the result and the kernel's spectrum being real, the
// FFTs are real-data ones (half spectra), done one axis at a time skipping the lines that
// are zero (x fills only the n^3 corner) or not needed (only the n^3 corner is kept).
// O(L^3 log L) per CG iteration, no NUFFT in the loop.
//
// Regularisation: lambda = rho * K(0) = rho * sum_j D_j. K(0) is every diagonal entry of
// A*DA, so rho is the strength relative to the data term, whatever the number of points or
// ranks.
//
// Distribution: K and Re(A*Db) are sums over points. Each rank accumulates its own points,
// sums kernel() and rhs() over ranks in place (MPI_Allreduce), then calls solve(): the
// result is that of one rank with every point, up to the order of floating-point additions.
#include <complex>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/fft.hpp"
#include "core/names.hpp"
#include "merging/cg.hpp"
#include "nufft/nufft.hpp"

namespace spire::merging {

// The FFT size used for the Toeplitz convolution of an n^3 grid: the smallest 2^a 3^b 5^c 7^d
// >= 2n-1 (162 for n = 81; docs/merging-phasing.md has the timings of the candidates).
int toeplitz_fft_size(int n);

// Re(A*DA) as a circular convolution: a kernel K on (2n-1)^3 lags in mode order (index
// (m1+n-1) + (2n-1)((m2+n-1) + (2n-1)(m3+n-1))). S is the precision of the FFTs. Plans are
// made once; set_kernel once per kernel (its odd part, rounding only, is dropped); apply as
// often as needed, on `threads` OpenMP threads (0: all). Not thread-safe (one workspace).
// Memory: the spectrum, L^2 (L/2+1) reals, and n L (L/2+1) complex values; set_kernel
// needs L^3 reals and L^2 (L/2+1) complex values more while it runs.
template <typename S>
class Toeplitz {
 public:
  Toeplitz(int n, int fft_size, int threads = 0, Planning planning = Planning::measure);
  ~Toeplitz();
  Toeplitz(Toeplitz&&) noexcept;
  Toeplitz& operator=(Toeplitz&&) noexcept;

  void set_kernel(std::span<const double> kernel);
  void apply(const S* x, S* y);  // y = K * x, n^3 values each; x and y may alias

  int n() const;
  int fft_size() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class Toeplitz<float>;
extern template class Toeplitz<double>;

// The CG's preconditioner (Options::preconditioner = circulant): T. Chan's optimal circulant
// approximation of Re(A*DA) on the n^3 torus, plus lambda, inverted. In Fourier terms
// Re(A*DA) multiplies by the density of the sampled points (the kernel's spectrum), which for
// slices through the origin falls as 1/|s|^2 from the centre: plain CG converges slowest in
// the sparse outer shells, and a circulant, diagonal in Fourier space, undoes exactly that.
//   c(k) = sum_m w(m) K(m) exp(-2 pi i k.m / n), w(m) = prod_d (n - |m_d|) / n,
// over the lags m of the kernel folded onto the torus (the circulant nearest the Toeplitz
// matrix in the Frobenius norm; positive semi-definite when that is). apply: z = C^-1 r =
// IFFT(FFT(r) / (max(c, 1e-6 max c) + lambda)) on the n^3 torus (the voxel order above; a
// circulant does not care where the origin is stored). Cost: two n^3 real FFTs per
// application, against the Toeplitz application's on L^3 grids. Not thread-safe (one
// workspace). The GPU's merger (src/cuda) runs plain CG.
template <typename S>
class CirculantPreconditioner {
 public:
  CirculantPreconditioner(int n, int threads = 0, Planning planning = Planning::measure);
  ~CirculantPreconditioner();
  CirculantPreconditioner(CirculantPreconditioner&&) noexcept;
  CirculantPreconditioner& operator=(CirculantPreconditioner&&) noexcept;

  void set_kernel(std::span<const double> kernel, double lambda);  // kernel: (2n-1)^3, as Toeplitz's
  void apply(const S* r, S* z);  // n^3 values each; may alias
  std::span<const double> eigenvalues() const;  // c(k) + lambda, floored, on the half spectrum

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class CirculantPreconditioner<float>;
extern template class CirculantPreconditioner<double>;

enum class Preconditioner { none, circulant };
inline constexpr NameTable<Preconditioner, 2> kPreconditionerNames{
    {{Preconditioner::none, "none"}, {Preconditioner::circulant, "circulant"}}};

enum class CgPrecision { float32, float64 };
inline constexpr NameTable<CgPrecision, 2> kCgPrecisionNames{{{CgPrecision::float32, "float"}, {CgPrecision::float64, "double"}}};

struct Options {
  int n = 81;                  // odd grid size
  double rho = 1e-3;           // lambda = rho * sum_j D_j (>= 0)
  double support_radius = 0;   // > 0: voxels with |l| > radius are held at 0; 0: no support
  int max_iterations = 100;
  double tolerance = 1e-6;     // relative residual; float32 CG rarely gets below ~1e-6
  CgPrecision cg_precision = CgPrecision::float64;
  Preconditioner preconditioner = Preconditioner::none;
  double nufft_tolerance = 1e-6;  // of the kernel and A*Db
  nufft::Options nufft;           // its threads and planning also serve the Toeplitz FFTs
  int fft_size = 0;               // 0: toeplitz_fft_size(n); otherwise >= 2n-1
  std::int64_t chunk_points = std::int64_t{1} << 24;  // points sorted at once in accumulate()
  // Points spread onto the NUFFT's fine grid before one FFT adds them to the sums: fewer
  // FFTs of the (2(2n-1))^3 grid (0.5-1 s each at n = 81), while the float grid's rounding
  // stays near 1e-6 relative.
  std::int64_t points_per_fft = std::int64_t{1} << 25;
};

// spire::Error unless the settings are usable (by Merger and the GPU's DeviceMerger alike).
void check_options(const Options& settings);

// The support of radius r > 0: 1 where |l| <= r, n^3 in the voxel order above.
std::vector<unsigned char> support_ball(int n, double radius);

struct Solution {
  std::vector<double> x;  // n^3
  CgResult cg;
  double lambda = 0;
};

// T: precision of the points, data and NUFFT. Plans (NUFFT and FFT) are made once in the
// constructor; per generation: reset(), accumulate() any number of times, solve().
template <typename T>
class Merger {
 public:
  explicit Merger(const Options& settings);
  ~Merger();
  Merger(Merger&&) noexcept;
  Merger& operator=(Merger&&) noexcept;

  // Adds points to the kernel and right-hand side (spread now, summed into kernel() and
  // rhs() at the latest when they or solve() are called). All spans the same length;
  // weights may be empty (all 1). Points must lie in [-pi, pi], values be finite, weights
  // finite and >= 0, else spire::Error (nothing is added).
  void accumulate(std::span<const T> px, std::span<const T> py, std::span<const T> pz,
                  std::span<const T> values, std::span<const T> weights = {});
  void reset();  // a new generation: kernel and rhs back to 0

  // The accumulated sums, writable so that ranks can sum them in place.
  std::span<double> kernel();  // K(m), (2n-1)^3 in mode order
  std::span<double> rhs();     // Re(A*Db), n^3
  double lambda() const;       // rho * K(0)

  // Solves from x0 (n^3; empty: zeros), which is also the CG's starting point.
  Solution solve(std::span<const double> x0 = {});

  const Options& options() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class Merger<float>;
extern template class Merger<double>;

}  // namespace spire::merging
