#pragma once
// The spreading kernel and every decision made from the tolerance (one place, so the rest of
// the NUFFT receives numbers, not policy).
//
// Kernel: "exponential of semicircle" phi(z) = exp(beta (sqrt(1 - z^2) - 1)), |z| <= 1,
// stretched over w fine-grid points: psi(t) = phi(t / (w/2)).
// Its w values around a point are evaluated as piecewise polynomials (one per grid offset,
// degree `degree`) in the fractional position, so evaluation is a few vector FMAs (Horner).
#include <cstdint>
#include <vector>

namespace spire::nufft {

struct KernelParams {
  int width = 0;           // w: fine-grid points the kernel covers per dimension
  double beta = 0;         // ES shape parameter
  double upsampling = 2;   // sigma: fine grid / modes
  int degree = 0;          // Horner polynomial degree
};

// Width, beta and polynomial degree for the requested tolerance and upsampling factor
// (2 or about 1.25). Throws a spire::Error for tolerances outside what the precision holds.
KernelParams choose_kernel(double tolerance, double upsampling, bool single_precision);

// Smallest even 2,3,5,7-smooth size >= max(sigma * modes, 2 w): fast for FFTW.
std::int64_t fine_grid_size(std::int64_t modes, double upsampling, int width);

// phi at z (0 outside [-1, 1]): the scalar path and the fit use it.
double es_kernel(double z, double beta);

// Horner coefficients: coeff[p * stride + m] is the degree-p coefficient of the kernel
// value at offset m (0..w-1) as a polynomial in t = 2 d - 1, d in [0, 1) the fractional
// distance from the point to its first grid point. Lanes m >= w are zero, so a vector
// evaluation over `stride` lanes yields exact zeros there.
std::vector<double> horner_coefficients(const KernelParams& k, int stride);

// Fourier transform of psi at integer frequencies k = 0..n_modes/2 (even function), on a
// fine grid of size nf: psihat(k) = int psi(t) cos(2 pi k t / nf) dt, by Gauss-Legendre.
std::vector<double> kernel_fourier_series(const KernelParams& k, std::int64_t nf,
                                          std::int64_t n_modes);

}  // namespace spire::nufft

namespace spire::nufft {

// Continuous Fourier transform of psi at any angular frequency omega (radians per fine-grid
// point): int psi(t) cos(omega t) dt. Type-3-like uses (atoms spread to a grid, then a
// type-2 NUFFT to arbitrary frequencies) divide by it at each target frequency.
double kernel_transform(const KernelParams& k, double omega);

}  // namespace spire::nufft
