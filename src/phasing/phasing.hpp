#pragma once
// Phase retrieval for the M-TIP loop (SPEC "The M-TIP loop", step 4): from the
// autocorrelation of a real, non-negative density (or its Fourier intensity) back to a
// density, by iterated projections (ER, HIO, shrinkwrap, positivity).
//
// Contract:
//  - Grids are n^3 (n odd), x fastest, real-space origin at the centre voxel c = n/2; Fourier
//    arrays are centred the same way (k = -n/2..n/2, zero at index n/2), as the NUFFT's
//    modes. FFT: F(k) = sum_r rho(r) exp(-2 pi i k.r / n), r and k counted from c.
//  - intensity = Re FFT(autocorrelation), clamped at 0; amplitudes a = sqrt(intensity).
//    set_intensity takes a full (centred) intensity but keeps only what a real density's
//    |FFT|^2 can be, an even function: a(k) = sqrt(max((I(k) + I(-k)) / 2, 0)), so an
//    intensity that is not exactly centrosymmetric counts by the mean of I(k) and I(-k),
//    taken before the root (a centrosymmetric one is kept as it is).
//  - Measured region: set_measured_radius(r) limits the Fourier constraint to |k| <= r
//    (frequency index units). Outside it the data say nothing (the detector's corners reach
//    only |s| = s_ext, the grid's corners sqrt(3) times further), so the projection leaves
//    those coefficients as they are instead of forcing them to merging's regularised
//    guess; they count neither in the Fourier error nor in its norm. Default: everywhere.
//  - Fourier projection: keep the phase of FFT(rho), set its modulus to a (phase 0 where
//    FFT(rho) = 0); rho' = Re IFFT of that.
//    ER: rho <- rho' inside the support where rho' >= 0 (positivity), 0 elsewhere.
//    HIO(beta): rho <- rho' there, rho - beta rho' elsewhere. Without positivity only the
//    support counts.
//  - Fourier error of an iteration, measured on its input rho:
//    sqrt(sum (|FFT rho| - a)^2 / sum a^2). ER never increases it (both steps are
//    projections).
//  - shrinkwrap(sigma, fraction): support <- {blur(|rho|) > fraction * max blur(|rho|)}, blur
//    a periodic Gaussian of standard deviation sigma voxels.
//  - Initial support from the autocorrelation A (the one of the clamped intensity):
//    {blur_sigma(A) > fraction * max}. A's support is the object's support minus itself,
//    twice the object's size, so it contains (down to the threshold) every translate of the
//    object that covers the centre voxel.
//  - A solution is unique only up to an integer translation and the twin (inversion through
//    the centre, rho(-r)). recentre() fixes the translation; the hand stays free.
//  - autocorrelation_of(rho)(r) = sum_x rho(x) rho(x + r), circular (indices mod n), the
//    next generation's autocorrelation; its FFT is |FFT rho|^2.
//  - The FFTs are real-to-complex (FFTW's r2c forward, c2r backward): a real density's
//    transform is Hermitian, so only the half spectrum kx = 0..n/2 is kept (n x n x (n/2+1);
//    n odd, no Nyquist plane). The kx = 0 plane counts once and kx = 1..n/2 twice (for
//    themselves and their conjugates) in every sum over the full spectrum (Fourier error,
//    sum a^2); results equal the full complex transforms' to round-off.
//  - Phaser owns its FFT plans and buffers: make one per run and reuse it every generation.
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "core/fft.hpp"

namespace spire::phasing {

// The default schedule, after SpiniFEL: `loops` times (HIO x 25 at beta 0.3, ER x 50,
// shrinkwrap), then ER x 50. The shrinkwrap blur falls geometrically from sigma_start to
// sigma_end voxels over the loops.
struct Schedule {
  int loops = 10;
  int hio_iterations = 25;
  int er_iterations = 50;
  int final_er_iterations = 50;
  double beta = 0.3;
  bool positivity = true;
  double shrinkwrap_fraction = 0.1;  // of the blurred density's maximum
  double sigma_start = 3.0;
  double sigma_end = 1.0;
  double support_fraction = 0.003;  // initial support: of the blurred autocorrelation's maximum
  double support_sigma = 2.0;
  bool recentre = true;   // move the final density's centre of mass to the centre voxel
  std::uint64_t seed = 1;  // random start, uniform in [0, 1) on the support, when none is given
};

template <typename T>
struct Result {
  std::vector<T> density;             // n^3, centred
  std::vector<std::uint8_t> support;  // n^3, 1 inside
  std::vector<double> fourier_error;  // one per iteration, in order
};

template <typename T>
class Phaser {
 public:
  // threads 0: every OpenMP thread; grids under 25^3 voxels run on one (phasing.cpp has the
  // measurement). Plans both FFTs once (wisdom cached).
  explicit Phaser(int n, int threads = 0, Planning planning = Planning::measure);
  ~Phaser();
  Phaser(const Phaser&) = delete;
  Phaser& operator=(const Phaser&) = delete;

  int n() const { return n_; }
  std::int64_t size() const { return size_; }

  // The Fourier constraint, from the autocorrelation (real space) or the intensity (Fourier
  // space, centred, symmetrised as above); both n^3.
  void set_autocorrelation(std::span<const T> autocorrelation);
  void set_intensity(std::span<const T> intensity);
  // Constrain only |k| <= radius (voxels of frequency); call before set_*. Infinity: all.
  void set_measured_radius(double radius);

  // The full default run (schedule.hpp): start from `start_density` (or random on the
  // support), with `start_support` (or the one from the autocorrelation); needs the
  // constraint set first.
  Result<T> run(const Schedule& schedule = {}, std::span<const T> start_density = {},
                std::span<const std::uint8_t> start_support = {});

  // Building blocks, for tests and other schedules. Errors accumulate in fourier_errors().
  std::vector<std::uint8_t> support_from_autocorrelation(double fraction, double sigma);
  void set_support(std::span<const std::uint8_t> support);
  void set_density(std::span<const T> density);
  void random_density(std::uint64_t seed);
  void er(int iterations, bool positivity = true);
  void hio(int iterations, double beta, bool positivity = true);
  void shrinkwrap(double sigma, double fraction);
  std::vector<T> density() const;
  std::vector<std::uint8_t> support() const;
  const std::vector<double>& fourier_errors() const { return errors_; }

  std::vector<T> autocorrelation_of(std::span<const T> density);

 private:
  void require_constraint() const;
  // Fourier projection of rho_ into real_ (= rho'); returns the Fourier error.
  double project_fourier();
  // spectrum_ <- its periodic Gaussian blur (sigma voxels), 1/n^3 of the c2r folded in.
  void blur_work(double sigma);
  // real_ <- c2r of the blurred spectrum_ (blur_work(sigma)); returns real_'s maximum.
  T blurred_peak(double sigma);
  // Marks the unmeasured Fourier voxels (amplitude -1) and returns sum a^2 over the rest,
  // over the full spectrum (half-spectrum weights).
  double mask_unmeasured();

  int n_, threads_;
  std::int64_t size_, half_;  // n^3; n n (n/2+1)
  // Internally everything is in FFT order (origin at index 0 of each axis). rho_ and real_
  // (n^3) are real, spectrum_ and amplitude_ the half spectrum (x fastest, kx = 0..n/2).
  AlignedArray<T> rho_, real_;
  AlignedArray<std::complex<T>> spectrum_;
  std::unique_ptr<FftPlanReal<T>> forward_, backward_;  // real_ -> spectrum_ -> real_
  std::vector<T> amplitude_;
  std::vector<std::uint8_t> support_;
  double measured_radius_ = std::numeric_limits<double>::infinity();
  double amplitude_norm2_ = 0;  // sum a^2, 0 while no constraint is set
  std::vector<double> errors_;
};

extern template class Phaser<float>;
extern template class Phaser<double>;

// The intensity a (merged) autocorrelation stands for: Re FFT(autocorrelation), n^3,
// centred like the Fourier arrays above (k = -n/2..n/2, zero at index n/2), not clamped
// (merging's negative values stay visible). Plans its own FFT (threads 0: every OpenMP
// thread); for the intensity maps a run writes.
template <typename T>
std::vector<T> intensity_of(int n, std::span<const T> autocorrelation, int threads = 0,
                            Planning planning = Planning::estimate);

// Moves the circular centre of mass of max(rho, 0) to the centre voxel by an integer
// circular shift (valid while the object spans less than half the grid), applied to the
// support too when one is given. Returns the shift (x, y, z) applied.
template <typename T>
std::array<int, 3> recentre(int n, std::span<T> density, std::span<std::uint8_t> support = {});

}  // namespace spire::phasing
