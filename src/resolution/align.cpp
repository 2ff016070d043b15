#include "resolution/align.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <memory>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "resolution/rotate.hpp"
#include "resolution/sampling.hpp"

namespace spire::resolution {

template <typename T>
double correlation(std::span<const T> a, std::span<const T> b) {
  if (a.size() != b.size() || a.empty()) fail("correlation: arrays differ in size or are empty");
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= static_cast<double>(a.size());
  mb /= static_cast<double>(b.size());
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    ab += da * db, aa += da * da, bb += db * db;
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

namespace {

// The translation search of one map against a reference by FFT cross-correlation, for
// either hand of the map (inverted: through the centre voxel c, index i -> 2c - i mod n).
template <typename T>
class Translation {
 public:
  Translation(int n, std::span<const T> map, std::span<const T> reference, int threads)
      : n_(n), size_(checked_size(n, map, reference)), map_(map), nt_(threads > 0 ? threads : omp_get_max_threads()),
        ref_(aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size_))),
        work_(aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size_))),
        // One-off transforms: estimate planning, both plans made on `work`, run on either array.
        forward_(n, n, n, -1, work_.get(), nt_, Planning::estimate),
        backward_(n, n, n, +1, work_.get(), nt_, Planning::estimate) {
    double mean_ref = 0;
    for (std::int64_t i = 0; i < size_; ++i) mean_ref += reference[i], mean_map_ += map[i];
    mean_ref /= static_cast<double>(size_);
    mean_map_ /= static_cast<double>(size_);
    for (std::int64_t i = 0; i < size_; ++i) ref_[i] = static_cast<T>(reference[i] - mean_ref);
    forward_.execute(ref_.get());
  }

  // The cross-correlation's peak value for this hand; its shift (voxels, centred), refined
  // below a voxel by a parabola through the peak's neighbours per axis when subvoxel.
  double peak(bool inverted, bool subvoxel, std::array<double, 3>& shift) {
    load_hand(inverted, static_cast<T>(mean_map_));
    // C(s) = sum_r ref(r) h(r - s) has the transform REF(k) conj(H(k)).
#pragma omp parallel for num_threads(nt_) schedule(static)
    for (std::int64_t i = 0; i < size_; ++i) work_[i] = ref_[i] * std::conj(work_[i]);
    backward_.execute(work_.get());
    std::int64_t arg = 0;
    for (std::int64_t i = 1; i < size_; ++i)
      if (work_[i].real() > work_[arg].real()) arg = i;
    const double top = work_[arg].real();
    const std::int64_t nn = n_;
    const std::array<int, 3> s{static_cast<int>(arg % nn), static_cast<int>((arg / nn) % nn),
                               static_cast<int>(arg / (nn * nn))};
    auto at = [&](const std::array<int, 3>& v) {
      return static_cast<double>(work_[wrap(v[0]) + nn * (wrap(v[1]) + nn * wrap(v[2]))].real());
    };
    for (int d = 0; d < 3; ++d) {
      double delta = 0;
      if (subvoxel && n_ >= 3) {
        std::array<int, 3> lo = s, hi = s;
        --lo[d], ++hi[d];
        const double cm = at(lo), cp = at(hi), curv = cm - 2 * top + cp;
        if (curv < 0) delta = std::clamp(0.5 * (cm - cp) / curv, -0.5, 0.5);
      }
      shift[static_cast<std::size_t>(d)] = centred(s[static_cast<std::size_t>(d)]) + delta;
    }
    return top;
  }

  // The map's hand moved by `shift`: h(r - shift), by a phase ramp (subvoxel) or whole voxels.
  std::vector<T> shifted(bool inverted, const std::array<double, 3>& shift, bool subvoxel) {
    const std::int64_t nn = n_;
    std::vector<T> out(static_cast<std::size_t>(size_));
    if (!subvoxel) {
      std::array<int, 3> s;
      for (int d = 0; d < 3; ++d) s[d] = static_cast<int>(shift[d]);
      for (int z = 0; z < n_; ++z)
        for (int y = 0; y < n_; ++y)
          for (int x = 0; x < n_; ++x)
            out[x + nn * (y + nn * z)] = hand(inverted, wrap(x - s[0]), wrap(y - s[1]), wrap(z - s[2]));
      return out;
    }
    // H(k) exp(-2 pi i k.shift / n), 1/N of the inverse folded in.
    load_hand(inverted, T(0));
    std::array<std::vector<std::complex<double>>, 3> ramp;
    for (int d = 0; d < 3; ++d) {
      ramp[d].resize(n_);
      for (int j = 0; j < n_; ++j) ramp[d][j] = std::polar(1.0, -2 * std::numbers::pi * centred(j) * shift[d] / n_);
    }
    const double inv_size = 1.0 / static_cast<double>(size_);
#pragma omp parallel for num_threads(nt_) schedule(static)
    for (int z = 0; z < n_; ++z)
      for (int y = 0; y < n_; ++y)
        for (int x = 0; x < n_; ++x)
          work_[x + nn * (y + nn * z)] *= std::complex<T>(ramp[0][x] * ramp[1][y] * ramp[2][z] * inv_size);
    backward_.execute(work_.get());
    for (std::int64_t i = 0; i < size_; ++i) out[i] = work_[i].real();
    return out;
  }

 private:
  static std::int64_t checked_size(int n, std::span<const T> map, std::span<const T> reference) {
    const std::int64_t size = std::int64_t{n} * n * n;
    if (n < 1 || static_cast<std::int64_t>(map.size()) != size || static_cast<std::int64_t>(reference.size()) != size)
      fail("align: maps must have n^3 = " + std::to_string(size) + " values");
    return size;
  }
  int wrap(int i) const { return ((i % n_) + n_) % n_; }
  int centred(int s) const { return s > n_ / 2 ? s - n_ : s; }
  T hand(bool inverted, int x, int y, int z) const {
    const int c = n_ / 2;
    if (inverted) x = wrap(2 * c - x), y = wrap(2 * c - y), z = wrap(2 * c - z);
    return map_[x + std::int64_t{n_} * (y + std::int64_t{n_} * z)];
  }
  // work = FFT(hand - offset)
  void load_hand(bool inverted, T offset) {
    const std::int64_t nn = n_;
    for (int z = 0; z < n_; ++z)
      for (int y = 0; y < n_; ++y)
        for (int x = 0; x < n_; ++x) work_[x + nn * (y + nn * z)] = hand(inverted, x, y, z) - offset;
    forward_.execute(work_.get());
  }

  int n_;
  std::int64_t size_;
  std::span<const T> map_;
  int nt_;
  double mean_map_ = 0;
  decltype(aligned_zeros<std::complex<T>>(1)) ref_, work_;
  FftPlan3<T> forward_, backward_;
};

// align's search; try_inversion false keeps the map's own hand.
template <typename T>
Alignment<T> translate(int n, std::span<const T> map, std::span<const T> reference,
                       bool subvoxel, int threads, bool try_inversion) {
  Translation<T> search(n, map, reference, threads);
  Alignment<T> best;
  double best_peak = -std::numeric_limits<double>::infinity();
  for (bool inverted : {false, true}) {
    if (inverted && !try_inversion) break;
    std::array<double, 3> shift{};
    const double top = search.peak(inverted, subvoxel, shift);
    if (top <= best_peak) continue;
    best_peak = top, best.inverted = inverted, best.shift = shift;
  }
  best.map = search.shifted(best.inverted, best.shift, subvoxel);
  best.correlation = correlation<T>(best.map, reference);
  return best;
}

}  // namespace

template <typename T>
Alignment<T> align(int n, std::span<const T> map, std::span<const T> reference, bool subvoxel,
                   int threads) {
  return translate<T>(n, map, reference, subvoxel, threads, true);
}

namespace {

using geometry::Quaternion;

// A turn by `angle` about coordinate axis 0, 1 or 2.
Quaternion turn(int axis, double angle) {
  Quaternion q{std::cos(angle / 2), 0, 0, 0};
  const double s = std::sin(angle / 2);
  (axis == 0 ? q.x : axis == 1 ? q.y : q.z) = s;
  return q;
}

struct Candidate {
  Quaternion q;
  bool inverted = false;
  double score = -std::numeric_limits<double>::infinity();
  std::array<double, 3> shift{};  // voxels of the scorer's grid
};

// The best translation of both hands of the moving map, turned by a rotation, against the
// fixed map on an m^3 grid. One forward FFT of the turned map H and one inverse FFT of
// W = REF conj(H) + i REF H: the real part is the correlation C(s) = sum ref(r) h(r - s),
// the imaginary part the convolution sum ref(r) h(u - r), which is the correlation with the
// inverted map h(2c - r) at s = u - 2c. Plans are single-threaded and made once; each
// thread scores in its own buffers.
//
// continuous: the peak is followed off the grid by Newton steps on the band-limited
// correlation, sum_k W(k) exp(2 pi i k.s / m) with its gradient and Hessian (one pass
// each). A search over rotations needs this: with integer shifts (or a parabola through
// them) the score favours rotations whose shift happens to fall on the grid, by more than
// a degree's worth of correlation.
template <typename S>
class RotationScorer {
 public:
  // masked: both maps (less their backgrounds) are multiplied by a sphere of radius
  // m/2 - 1 about the centre with a soft edge, so that a turned map stays inside the box and
  // its norm does not change: what the corners hold can then neither gain nor lose score.
  RotationScorer(int m, std::span<const S> fixed, std::span<const S> moving, int threads,
                 Planning planning, Interpolation interpolation, bool masked)
      : m_(m), size_(std::int64_t(m) * m * m), interpolation_(interpolation),
        moving_(static_cast<std::size_t>(size_)),
        offset_(interpolation == Interpolation::linear ? 0.25 : 0.0) {
    const std::int64_t mm = m;
    const double c = m / 2, outer = m / 2 - 1.0, inner = outer - 2.0;
    auto mask = [&](std::int64_t i) {
      if (!masked) return 1.0;
      const double x = static_cast<double>(i % mm) - c, y = static_cast<double>((i / mm) % mm) - c,
                   z = static_cast<double>(i / (mm * mm)) - c;
      const double r = std::sqrt(x * x + y * y + z * z);
      return r <= inner ? 1.0 : r >= outer ? 0.0 : 0.5 + 0.5 * std::cos(std::numbers::pi * (r - inner) / (outer - inner));
    };
    // The moving map is resampled: its background goes to 0, the value beyond the box.
    const double bg_moving = background<S>(m, moving), bg_fixed = background<S>(m, fixed);
    std::vector<double> values(static_cast<std::size_t>(size_));
    double sum = 0, sum2 = 0;
    for (std::int64_t i = 0; i < size_; ++i) {
      values[i] = (moving[i] - bg_moving) * mask(i);
      sum += values[i], sum2 += values[i] * values[i];
    }
    // The score's norm is the unturned map's: interpolation smooths the noise of a turned
    // map, and a norm taken after it would favour turns that smooth most (by degrees, at a
    // correlation of 0.8).
    moving_norm_ = std::sqrt(std::max(0.0, sum2 - sum * sum / static_cast<double>(size_)));
    if (interpolation == Interpolation::cubic) detail::bspline_coefficients(m, values.data(), threads);
    for (std::int64_t i = 0; i < size_; ++i) moving_[i] = static_cast<S>(values[i]);
    for (int t = 0; t < threads; ++t) {
      work_.push_back(aligned_zeros<std::complex<S>>(static_cast<std::size_t>(size_)));
      spectrum_.push_back(aligned_zeros<std::complex<S>>(static_cast<std::size_t>(size_)));
    }
    forward_ = std::make_unique<FftPlan3<S>>(m, m, m, -1, work_[0].get(), 1, planning);
    backward_ = std::make_unique<FftPlan3<S>>(m, m, m, +1, work_[0].get(), 1, planning);
    ref_ = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(size_));
    double mean = 0, norm2 = 0;
    for (std::int64_t i = 0; i < size_; ++i) {
      values[i] = (fixed[i] - bg_fixed) * mask(i);
      mean += values[i];
    }
    mean /= static_cast<double>(size_);
    for (std::int64_t i = 0; i < size_; ++i) {
      const double v = values[i] - mean;
      ref_[i] = static_cast<S>(v);
      norm2 += v * v;
    }
    ref_norm_ = std::sqrt(norm2);
    forward_->execute(ref_.get());
    ref_[0] = 0;  // the mean of H drops out of every product
    if (m % 2 == 0) {
      // The Nyquist planes have no single frequency off the grid; left out of the products.
      const std::int64_t h = m / 2;
      for (std::int64_t z = 0; z < mm; ++z)
        for (std::int64_t y = 0; y < mm; ++y)
          for (std::int64_t x = 0; x < mm; ++x)
            if (x == h || y == h || z == h) ref_[x + mm * (y + mm * z)] = 0;
    }
  }

  // Per hand (0: the map, 1: inverted): the Pearson correlation at the best shift and the
  // shift (voxels of this grid).
  std::array<Candidate, 2> score(const Quaternion& q, int thread, bool continuous) const {
    std::array<Candidate, 2> out;
    out[0].q = out[1].q = q;
    out[1].inverted = true;
    std::complex<S>* w = work_[static_cast<std::size_t>(thread)].get();
    std::complex<S>* spectrum = spectrum_[static_cast<std::size_t>(thread)].get();
    const int m = m_;
    const std::int64_t mm = m;
    const detail::RotatedGrid grid(m, q, {0, 0, 0});
    const auto step = grid.row_step();
    double sum = 0, sum2 = 0;
    for (int z = 0; z < m; ++z)
      for (int y = 0; y < m; ++y) {
        auto p = grid.row_start(y, z);
        for (double& v : p) v += offset_;
        std::complex<S>* row = w + mm * (y + mm * z);
        for (int x = 0; x < m; ++x) {
          const std::array<double, 3> px{p[0] + x * step[0], p[1] + x * step[1], p[2] + x * step[2]};
          const double v = interpolation_ == Interpolation::cubic
                               ? detail::sample_cubic(m, moving_.data(), px)
                               : detail::sample_linear(m, moving_.data(), px);
          row[x] = std::complex<S>(static_cast<S>(v), 0);
          sum += v, sum2 += v * v;
        }
      }
    const double h2 = sum2 - sum * sum / static_cast<double>(size_);
    if (!(h2 > 0) || !(ref_norm_ > 0)) return out;  // nothing left to correlate
    forward_->execute(w);
    for (std::int64_t k = 0; k < size_; ++k) {
      const std::complex<S> r = ref_[k], h = w[k], conv = r * h;
      w[k] = r * std::conj(h) + std::complex<S>(-conv.imag(), conv.real());
    }
    if (continuous) std::copy(w, w + size_, spectrum);
    backward_->execute(w);
    const double norm = static_cast<double>(size_) * ref_norm_ * moving_norm_;
    auto wrap = [m](int i) { return ((i % m) + m) % m; };
    auto centred = [m](double s) { return s > m / 2 ? s - m : s; };
    for (int hand = 0; hand < 2; ++hand) {
      auto value = [&](std::int64_t i) {
        return static_cast<double>(hand == 0 ? w[i].real() : w[i].imag());
      };
      std::int64_t arg = 0;
      double peak = value(0);
      for (std::int64_t i = 1; i < size_; ++i)
        if (value(i) > peak) peak = value(i), arg = i;
      std::array<double, 3> u{double(arg % mm), double((arg / mm) % mm), double(arg / (mm * mm))};
      if (continuous) {
        // Start at the vertex of a parabola per axis, then Newton on the exact correlation.
        std::array<double, 3> v = u;
        for (int d = 0; d < 3 && m >= 3; ++d) {
          std::array<int, 3> lo{int(u[0]), int(u[1]), int(u[2])}, hi = lo;
          lo[d] = wrap(lo[d] - 1), hi[d] = wrap(hi[d] + 1);
          const double cm = value(lo[0] + mm * (lo[1] + mm * lo[2]));
          const double cp = value(hi[0] + mm * (hi[1] + mm * hi[2]));
          const double curv = cm - 2 * peak + cp;
          if (curv < 0) v[d] += std::clamp(0.5 * (cm - cp) / curv, -0.5, 0.5);
        }
        peak = follow_peak(spectrum, hand, v);
        u = v;
      }
      for (int d = 0; d < 3; ++d) {
        const double s = hand == 0 ? u[d] : u[d] - 2 * (m / 2);
        out[hand].shift[d] = centred(s - m * std::floor(s / m));
      }
      out[hand].score = peak / norm;
    }
    return out;
  }

 private:
  // Newton's method on f(u) = Re (hand 0) or Im (hand 1) of sum_k W(k) e^{2 pi i k.u / m},
  // k the centred frequencies; u is moved to the maximum (at most 0.75 voxel per step from
  // where it starts, so it stays on this peak). Returns f there (unnormalised, like the
  // inverse FFT).
  double follow_peak(const std::complex<S>* spectrum, int hand, std::array<double, 3>& u) const {
    const int m = m_;
    const std::int64_t mm = m;
    const double two_pi_m = 2 * std::numbers::pi / m;
    auto freq = [m](int j) { return j <= m / 2 ? j : j - m; };
    auto part = [hand](std::complex<double> z) { return hand == 0 ? z.real() : z.imag(); };
    const std::array<double, 3> start = u;
    double f = 0;
    for (int iteration = 0; iteration < 4; ++iteration) {
      std::array<std::vector<std::complex<double>>, 3> e;
      for (int d = 0; d < 3; ++d) {
        e[d].resize(static_cast<std::size_t>(m));
        for (int j = 0; j < m; ++j) e[d][j] = std::polar(1.0, two_pi_m * freq(j) * u[d]);
      }
      // Sums of W e^{i phi} times 1, kx, ky, kz, kx^2, ky^2, kz^2, kx ky, kx kz, ky kz, over
      // x first (three row sums), then y and z.
      std::array<std::complex<double>, 10> acc{};
      for (int z = 0; z < m; ++z) {
        const double kz = freq(z);
        for (int y = 0; y < m; ++y) {
          const double ky = freq(y);
          const std::complex<S>* row = spectrum + mm * (y + mm * z);
          std::complex<double> r0 = 0, r1 = 0, r2 = 0;
          for (int x = 0; x < m; ++x) {
            const std::complex<double> t = std::complex<double>(row[x]) * e[0][x];
            const double kx = freq(x);
            r0 += t, r1 += kx * t, r2 += kx * kx * t;
          }
          const std::complex<double> ph = e[1][y] * e[2][z];
          r0 *= ph, r1 *= ph, r2 *= ph;
          acc[0] += r0;
          acc[1] += r1, acc[2] += ky * r0, acc[3] += kz * r0;
          acc[4] += r2, acc[5] += ky * ky * r0, acc[6] += kz * kz * r0;
          acc[7] += ky * r1, acc[8] += kz * r1, acc[9] += ky * kz * r0;
        }
      }
      // d/du_d brings i 2pi k_d / m; second derivatives -(2pi/m)^2 k_d k_e.
      const std::complex<double> i1(0, two_pi_m);
      f = part(acc[0]);
      const std::array<double, 3> g{part(i1 * acc[1]), part(i1 * acc[2]), part(i1 * acc[3])};
      const double s2 = -two_pi_m * two_pi_m;
      const double hxx = s2 * part(acc[4]), hyy = s2 * part(acc[5]), hzz = s2 * part(acc[6]);
      const double hxy = s2 * part(acc[7]), hxz = s2 * part(acc[8]), hyz = s2 * part(acc[9]);
      // Step -H^{-1} g, only where H is negative definite (a maximum); by Cramer's rule.
      const double det = hxx * (hyy * hzz - hyz * hyz) - hxy * (hxy * hzz - hyz * hxz) +
                         hxz * (hxy * hyz - hyy * hxz);
      if (!(hxx < 0 && hxx * hyy - hxy * hxy > 0 && det < 0)) break;
      const std::array<double, 3> step{
          -((hyy * hzz - hyz * hyz) * g[0] - (hxy * hzz - hxz * hyz) * g[1] + (hxy * hyz - hxz * hyy) * g[2]) / det,
          -(-(hxy * hzz - hyz * hxz) * g[0] + (hxx * hzz - hxz * hxz) * g[1] - (hxx * hyz - hxy * hxz) * g[2]) / det,
          -((hxy * hyz - hyy * hxz) * g[0] - (hxx * hyz - hxz * hxy) * g[1] + (hxx * hyy - hxy * hxy) * g[2]) / det};
      double largest = 0;
      for (int d = 0; d < 3; ++d) {
        u[d] = std::clamp(u[d] + step[d], start[d] - 0.75, start[d] + 0.75);
        largest = std::max(largest, std::fabs(step[d]));
      }
      if (largest < 1e-4) break;  // f is already the value at the maximum to rounding
    }
    return f;
  }

  int m_;
  std::int64_t size_;
  Interpolation interpolation_;
  std::vector<S> moving_;  // values, or cubic B-spline coefficients
  // Added to every sample position. Trilinear interpolation halfway between voxels damps the
  // top of the band, not at all on the voxels: without an offset the identity and the other
  // turns that carry voxels onto voxels (and turns near them) keep their detail and outscore
  // the right turn by percents. A quarter voxel damps them about as much as a turn in general
  // position (whose positions fall everywhere between voxels); the shift search absorbs it.
  double offset_;
  AlignedArray<std::complex<S>> ref_;
  double ref_norm_ = 0, moving_norm_ = 0;
  std::vector<AlignedArray<std::complex<S>>> work_, spectrum_;
  std::unique_ptr<FftPlan3<S>> forward_, backward_;
};

// Pattern search over small turns about x, y and z (the six evaluated side by side): move
// to the best neighbour that scores higher, else halve the step, until it is below min_step.
template <typename S>
Candidate refine(const RotationScorer<S>& scorer, Candidate start, double step, double min_step,
                 int threads) {
  const int hand = start.inverted ? 1 : 0;
  Candidate best = scorer.score(start.q, 0, true)[hand];
  for (int iteration = 0; step >= min_step && iteration < 1000; ++iteration) {
    std::array<Candidate, 6> trial;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int j = 0; j < 6; ++j) {
      const Quaternion q =
          geometry::canonical(geometry::normalized(geometry::product(turn(j / 2, j % 2 ? -step : step), best.q)));
      trial[j] = scorer.score(q, omp_get_thread_num(), true)[hand];
    }
    const auto it = std::max_element(trial.begin(), trial.end(),
                                     [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
    if (it->score > best.score)
      best = *it;
    else
      step /= 2;
  }
  return best;
}

// Where a map's content is: the circular centroid of its excess over the background (the
// phase of the first Fourier coefficient along each axis, so content wrapped across the box
// edge is found whole), and the radius about it that holds `fraction` of its voxels.
template <typename T>
std::array<double, 3> content_centre(int n, std::span<const T> map, double bg) {
  const std::int64_t nn = n;
  std::array<std::complex<double>, 3> phasor{};
  const double w = 2 * std::numbers::pi / n;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const double v = std::max(0.0, map[x + nn * (y + nn * z)] - bg);
        phasor[0] += std::polar(v, w * x), phasor[1] += std::polar(v, w * y), phasor[2] += std::polar(v, w * z);
      }
  std::array<double, 3> centre;
  for (int d = 0; d < 3; ++d) {
    const double a = std::abs(phasor[d]) > 0 ? std::arg(phasor[d]) / w : n / 2;
    centre[d] = a < 0 ? a + n : a;
  }
  return centre;
}

template <typename T>
double content_radius(int n, std::span<const T> map, double bg, const std::array<int, 3>& centre,
                      double fraction) {
  // Voxels, not mass: a band-limited map's ringing holds much of its positive mass far out,
  // a sharp one's energy sits in a few voxels; the voxels above 10% of the peak are its body.
  const std::int64_t nn = n, size = nn * nn * nn;
  double peak = 0;
  for (std::int64_t i = 0; i < size; ++i) peak = std::max(peak, map[i] - bg);
  std::vector<std::int64_t> count(static_cast<std::size_t>(n) + 1, 0);  // per whole voxel of radius
  std::int64_t total = 0;
  auto d = [n](int i, int c) {
    const int k = ((i - c) % n + n) % n;
    return std::min(k, n - k);
  };
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        if (!(map[x + nn * (y + nn * z)] - bg > 0.1 * peak)) continue;
        const int dx = d(x, centre[0]), dy = d(y, centre[1]), dz = d(z, centre[2]);
        const auto r = static_cast<std::size_t>(std::ceil(std::sqrt(double(dx * dx + dy * dy + dz * dz))));
        ++count[std::min(r, count.size() - 1)];
        ++total;
      }
  std::int64_t acc = 0;
  for (std::size_t r = 0; r < count.size(); ++r)
    if (static_cast<double>(acc += count[r]) >= fraction * static_cast<double>(total)) return static_cast<double>(r);
  return n;
}

// The w^3 box of map - bg about voxel `centre` (circular), that voxel at w/2.
template <typename T>
std::vector<double> crop(int n, std::span<const T> map, double bg, const std::array<int, 3>& centre, int w) {
  const std::int64_t nn = n, ww = w;
  auto wrap = [n](int i) { return ((i % n) + n) % n; };
  std::vector<double> out(static_cast<std::size_t>(ww * ww * ww));
  for (int z = 0; z < w; ++z)
    for (int y = 0; y < w; ++y)
      for (int x = 0; x < w; ++x)
        out[x + ww * (y + ww * z)] =
            map[wrap(centre[0] - w / 2 + x) + nn * (wrap(centre[1] - w / 2 + y) + nn * wrap(centre[2] - w / 2 + z))] - bg;
  return out;
}

constexpr double kDegree = std::numbers::pi / 180;

// The coarse set's covering radius is about 1.4x the bound (geometry's measurement).
double coarse_radius(const RotationSearch& search) {
  return 1.5 * geometry::covering_radius_lower_bound(search.orientations);
}

// Only factors 3, 5 and 7.
bool fast_size(int w) {
  for (int f : {3, 5, 7})
    while (w % f == 0) w /= f;
  return w == 1;
}

template <typename R, typename T>
std::vector<R> convert(std::span<const T> v) {
  return std::vector<R>(v.begin(), v.end());
}

}  // namespace

namespace {

std::array<int, 3> voxel_of(int n, const std::array<double, 3>& p) {
  return {static_cast<int>(std::lround(p[0])) % n, static_cast<int>(std::lround(p[1])) % n,
          static_cast<int>(std::lround(p[2])) % n};
}

// (0) The working box: each map less its background, recentred on its content (an integer
// circular shift) and cut to the content's size plus a margin, so that a small molecule in a
// large box (the usual reconstruction) still spans the coarse grid.
struct WorkingBox {
  int w = 0;
  double bg_map = 0;
  std::vector<double> ref, map;
};

template <typename T>
WorkingBox working_box(int n, std::span<const T> map, std::span<const T> reference) {
  WorkingBox b;
  const double bg_ref = background<T>(n, reference);
  b.bg_map = background<T>(n, map);
  const auto centre_ref = voxel_of(n, content_centre<T>(n, reference, bg_ref));
  const auto centre_map = voxel_of(n, content_centre<T>(n, map, b.bg_map));
  const double extent = std::max(content_radius<T>(n, reference, bg_ref, centre_ref, 0.99),
                                 content_radius<T>(n, map, b.bg_map, centre_map, 0.99));
  b.w = 2 * static_cast<int>(std::ceil(1.3 * extent + 2)) + 1;
  while (!fast_size(b.w)) b.w += 2;  // an odd size FFTW transforms fast (19 is 3x slower than 21)
  b.w = std::min(n, b.w);
  b.ref = crop<T>(n, reference, bg_ref, centre_ref, b.w);
  b.map = crop<T>(n, map, b.bg_map, centre_map, b.w);
  return b;
}

// (1) Coarse: every rotation of the set (and the identity), both hands; the best
// `search.candidates` at least twice the set's covering radius apart.
std::vector<Candidate> coarse_candidates(const RotationScorer<float>& coarse, const RotationSearch& search, int nt) {
  auto rotations = geometry::reference_orientations(search.orientations);
  rotations.push_back({});
  const auto count = static_cast<std::int64_t>(rotations.size());
  std::vector<Candidate> found(static_cast<std::size_t>(2 * count));
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 8)
    for (std::int64_t i = 0; i < count; ++i) {
      const auto s = coarse.score(rotations[i], t, false);
      found[2 * i] = s[0];
      if (search.try_inversion) found[2 * i + 1] = s[1];
    }
  }
  std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  const double radius = coarse_radius(search);
  std::vector<Candidate> picked;
  for (const auto& c : found) {
    if (static_cast<int>(picked.size()) >= search.candidates || !std::isfinite(c.score)) break;
    const bool near = std::any_of(picked.begin(), picked.end(), [&](const Candidate& p) {
      return p.inverted == c.inverted && geometry::angle_between(p.q, c.q) < 2 * radius;
    });
    if (!near) picked.push_back(c);
  }
  if (picked.empty()) fail("align_rotation: a map is constant, nothing to align");
  return picked;
}

// (2) Local refinement on the coarse grid, then the best one or two on the refine grid.
Candidate refined_best(const RotationScorer<float>& coarse, const WorkingBox& box, std::vector<Candidate> picked,
                       const RotationSearch& search, int nt) {
  const double coarse_step = std::max(1.0, search.tolerance_deg) * kDegree;
  for (auto& c : picked) c = refine(coarse, c, coarse_radius(search), coarse_step, nt);
  std::sort(picked.begin(), picked.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  const int r = std::min(box.w, search.refine_n);
  const RotationScorer<double> fine(r, downsample<double>(box.w, box.ref, r, nt, true),
                                    downsample<double>(box.w, box.map, r, nt, true), nt, search.planning,
                                    Interpolation::cubic, true);
  Candidate best;
  for (std::size_t i = 0; i < std::min<std::size_t>(2, picked.size()); ++i) {
    // A runner-up counts when it scores close and did not converge onto the winner.
    if (i > 0 && (picked[i].score < picked[0].score - 0.05 ||
                  (picked[i].inverted == picked[0].inverted &&
                   geometry::angle_between(picked[i].q, picked[0].q) < 4 * coarse_step)))
      break;
    const Candidate c = refine(fine, picked[i], 2 * coarse_step, search.tolerance_deg * kDegree, nt);
    if (c.score > best.score) best = c;
  }
  return best;
}

// (3) At full size: the map in the hand found, its content moved to the centre voxel by an
// integer circular shift s0 (so turning it about the centre keeps it in the box), turned, and
// the shift t that then fits best. h_0(p) = h(p - s0), so h_0(c + R^T (r - c - t)) =
// h(c + R^T (r - c - t - R s0)): the shift reported is t + R s0.
template <typename T>
Alignment<T> at_full_size(int n, std::span<const T> map, std::span<const T> reference, const Candidate& best,
                          double bg_map, int nt) {
  const std::int64_t nn = n;
  const int c = n / 2;
  auto wrap = [n](int i) { return ((i % n) + n) % n; };
  std::vector<T> hand(map.begin(), map.end());
  if (best.inverted)
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          hand[x + nn * (y + nn * z)] = map[wrap(2 * c - x) + nn * (wrap(2 * c - y) + nn * wrap(2 * c - z))];
  const auto centre_hand = voxel_of(n, content_centre<T>(n, hand, bg_map));
  const std::array<int, 3> s0{c - centre_hand[0], c - centre_hand[1], c - centre_hand[2]};
  std::vector<T> centred(hand.size());
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        centred[x + nn * (y + nn * z)] = hand[wrap(x - s0[0]) + nn * (wrap(y - s0[1]) + nn * wrap(z - s0[2]))];
  // One score: one thread's buffers (a single-threaded 81^3 transform takes tens of ms).
  const RotationScorer<double> full(n, convert<double, T>(reference), convert<double, T>(centred), 1,
                                    Planning::estimate, Interpolation::cubic, false);
  const auto t = full.score(best.q, 0, true)[0].shift;
  Alignment<T> result;
  result.map = rotate_map<T>(n, centred, best.q, t, Interpolation::cubic, nt);
  const auto rs0 = geometry::rotate(best.q, {double(s0[0]), double(s0[1]), double(s0[2])});
  for (int d = 0; d < 3; ++d) result.shift[d] = t[d] + rs0[d];
  result.rotation = best.q;
  result.inverted = best.inverted;
  result.correlation = correlation<T>(result.map, reference);
  return result;
}

}  // namespace

template <typename T>
Alignment<T> align_rotation(int n, std::span<const T> map, std::span<const T> reference,
                            const RotationSearch& search, int threads) {
  const std::int64_t nn = n, size = nn * nn * nn;
  if (n < 2 || static_cast<std::int64_t>(map.size()) != size ||
      static_cast<std::int64_t>(reference.size()) != size)
    fail("align_rotation: maps must have n^3 = " + std::to_string(size) + " values (n >= 2)");
  if (search.orientations < 1 || search.coarse_n < 2 || search.candidates < 1 ||
      search.refine_n < 2 || !(search.tolerance_deg > 0))
    fail("align_rotation: the search needs orientations, candidates >= 1, grids >= 2 and a "
         "positive tolerance");
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const WorkingBox box = working_box(n, map, reference);
  const int m = std::min(box.w, search.coarse_n);
  const RotationScorer<float> coarse(m, convert<float, double>(downsample<double>(box.w, box.ref, m, nt, true)),
                                     convert<float, double>(downsample<double>(box.w, box.map, m, nt, true)), nt,
                                     search.planning, Interpolation::linear, true);
  const Candidate best = refined_best(coarse, box, coarse_candidates(coarse, search, nt), search, nt);
  return at_full_size(n, map, reference, best, box.bg_map, nt);
}

template Alignment<float> align<float>(int, std::span<const float>, std::span<const float>, bool,
                                       int);
template Alignment<double> align<double>(int, std::span<const double>, std::span<const double>,
                                         bool, int);
template Alignment<float> align_rotation<float>(int, std::span<const float>,
                                                std::span<const float>, const RotationSearch&, int);
template Alignment<double> align_rotation<double>(int, std::span<const double>,
                                                  std::span<const double>, const RotationSearch&,
                                                  int);
template double correlation<float>(std::span<const float>, std::span<const float>);
template double correlation<double>(std::span<const double>, std::span<const double>);

}  // namespace spire::resolution
