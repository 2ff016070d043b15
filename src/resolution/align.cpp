#include "resolution/align.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "core/fft.hpp"

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

template <typename T>
Alignment<T> align(int n, std::span<const T> map, std::span<const T> reference, bool subvoxel,
                   int threads) {
  const std::int64_t nn = n, size = nn * nn * nn;
  if (n < 1 || static_cast<std::int64_t>(map.size()) != size ||
      static_cast<std::int64_t>(reference.size()) != size)
    fail("align: maps must have n^3 = " + std::to_string(size) + " values");
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  auto ref = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size));
  auto work = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size));
  // One-off transforms: estimate planning, both plans made on `work`, run on either array.
  FftPlan3<T> forward(n, n, n, -1, work.get(), nt, Planning::estimate);
  FftPlan3<T> backward(n, n, n, +1, work.get(), nt, Planning::estimate);

  double mean_ref = 0, mean_map = 0;
  for (std::int64_t i = 0; i < size; ++i) mean_ref += reference[i], mean_map += map[i];
  mean_ref /= static_cast<double>(size);
  mean_map /= static_cast<double>(size);
  for (std::int64_t i = 0; i < size; ++i) ref[i] = static_cast<T>(reference[i] - mean_ref);
  forward.execute(ref.get());

  // Inversion through the centre voxel c: index i -> 2c - i (mod n).
  const int c = n / 2;
  auto wrap = [n](int i) { return ((i % n) + n) % n; };
  auto hand = [&](bool inverted, int x, int y, int z) {
    if (inverted) x = wrap(2 * c - x), y = wrap(2 * c - y), z = wrap(2 * c - z);
    return map[x + nn * (y + nn * z)];
  };
  auto load_hand = [&](bool inverted, T offset) {
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          work[x + nn * (y + nn * z)] = hand(inverted, x, y, z) - offset;
    forward.execute(work.get());
  };
  auto centred = [n](int s) { return s > n / 2 ? s - n : s; };

  Alignment<T> best;
  double best_peak = -std::numeric_limits<double>::infinity();
  for (bool inverted : {false, true}) {
    load_hand(inverted, static_cast<T>(mean_map));
    // C(s) = sum_r ref(r) h(r - s) has the transform REF(k) conj(H(k)).
#pragma omp parallel for num_threads(nt) schedule(static)
    for (std::int64_t i = 0; i < size; ++i) work[i] = ref[i] * std::conj(work[i]);
    backward.execute(work.get());
    std::int64_t arg = 0;
    for (std::int64_t i = 1; i < size; ++i)
      if (work[i].real() > work[arg].real()) arg = i;
    if (work[arg].real() <= best_peak) continue;
    best_peak = work[arg].real();
    best.inverted = inverted;
    const std::array<int, 3> s{static_cast<int>(arg % nn), static_cast<int>((arg / nn) % nn),
                               static_cast<int>(arg / (nn * nn))};
    auto at = [&](int x, int y, int z) {
      return static_cast<double>(work[wrap(x) + nn * (wrap(y) + nn * wrap(z))].real());
    };
    for (int d = 0; d < 3; ++d) {
      double delta = 0;
      if (subvoxel && n >= 3) {
        std::array<int, 3> lo = s, hi = s;
        --lo[d], ++hi[d];
        const double cm = at(lo[0], lo[1], lo[2]), c0 = best_peak, cp = at(hi[0], hi[1], hi[2]);
        const double curv = cm - 2 * c0 + cp;
        if (curv < 0) delta = std::clamp(0.5 * (cm - cp) / curv, -0.5, 0.5);
      }
      best.shift[d] = centred(s[d]) + delta;
    }
  }

  best.map.resize(static_cast<std::size_t>(size));
  if (subvoxel) {
    // aligned = h(r - shift): H(k) exp(-2 pi i k.shift / n), 1/N of the inverse folded in.
    load_hand(best.inverted, T(0));
    std::array<std::vector<std::complex<double>>, 3> ramp;
    for (int d = 0; d < 3; ++d) {
      ramp[d].resize(n);
      for (int j = 0; j < n; ++j)
        ramp[d][j] = std::polar(1.0, -2 * std::numbers::pi * centred(j) * best.shift[d] / n);
    }
    const double inv_size = 1.0 / static_cast<double>(size);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
          const std::complex<double> f = ramp[0][x] * ramp[1][y] * ramp[2][z] * inv_size;
          work[x + nn * (y + nn * z)] *= std::complex<T>(f);
        }
    backward.execute(work.get());
    for (std::int64_t i = 0; i < size; ++i) best.map[i] = work[i].real();
  } else {
    std::array<int, 3> s;
    for (int d = 0; d < 3; ++d) s[d] = static_cast<int>(best.shift[d]);
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          best.map[x + nn * (y + nn * z)] =
              hand(best.inverted, wrap(x - s[0]), wrap(y - s[1]), wrap(z - s[2]));
  }
  best.correlation = correlation<T>(best.map, reference);
  return best;
}

template Alignment<float> align<float>(int, std::span<const float>, std::span<const float>, bool,
                                       int);
template Alignment<double> align<double>(int, std::span<const double>, std::span<const double>,
                                         bool, int);
template double correlation<float>(std::span<const float>, std::span<const float>);
template double correlation<double>(std::span<const double>, std::span<const double>);

}  // namespace spire::resolution
