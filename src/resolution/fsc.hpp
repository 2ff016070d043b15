#pragma once
// Fourier shell correlation between two maps, the resolution where it falls below a
// threshold, and the files that report it (SPEC "The M-TIP loop", step 5).
//
// Contract:
//  - Maps are real n^3 grids (n >= 2) on the same sampling, x fastest.
//  - Shell s holds the Fourier voxels with round(|k|) = s, k the integer frequency vector
//    (-n/2..n/2 per axis), s = 0..n/2; the corners beyond n/2 are left out.
//    FSC(s) = Re sum F1 F2* / sqrt(sum |F1|^2 sum |F2|^2) over the shell; 0 where either
//    map's power in the shell is at the FFT's rounding level (below 100 eps^2 of its total
//    power, eps of T). Translations cancel in F1 F2*, so the maps' origin is free.
//  - Units: with v the real-space voxel size (A), shell s is the spatial frequency
//    s / (n v) (1/A) and the resolution d = n v / s (A). From a reciprocal-space voxel dk
//    (1/A per voxel): v = 1 / (n dk).
//  - crossing(t): the first shell s >= 1 with FSC(s) < t, linearly interpolated between
//    s - 1 and s (fractional shell); nullopt when the curve never falls below t (the grid
//    limits the resolution: d(n/2) is then only an upper bound); exactly 0 when FSC(0)
//    and FSC(1) are both below t (zero-mean or opposite-sign maps that correlate at no
//    shell: nothing to interpolate).
//  - resolution_at(t): d at crossing(t); d(n/2) flagged beyond_grid_edge when there is
//    no crossing; d(1), the box, flagged below_first_shell when the crossing is 0: always
//    a finite number in Angstrom, so that scripts can compare runs. describe() never
//    prints "inf".
//  - Files are written atomically (temporary file + rename), an Error naming the file if
//    that fails. Several curves of one grid go to one file: fsc.csv columns shell,
//    frequency_inv_angstrom, resolution_angstrom, then fsc_<name> per curve ("fsc" for an
//    unnamed one), then voxels. The plots (FSC, central slices) are drawn by src/plot.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace spire::resolution {

struct FscCurve {
  int n = 0;
  std::vector<double> fsc;           // per shell 0..n/2
  std::vector<std::int64_t> voxels;  // Fourier voxels per shell

  std::optional<double> crossing(double threshold) const;
};

// threads 0: every OpenMP thread. One FFT of map1 + i map2 (planned with estimate: a
// one-off transform).
template <typename T>
FscCurve fsc(int n, std::span<const T> map1, std::span<const T> map2, int threads = 0);

double voxel_from_reciprocal(int n, double dk_inv_angstrom);
double shell_frequency(int n, double voxel_angstrom, double shell);   // 1/A
double shell_resolution(int n, double voxel_angstrom, double shell);  // A (inf at shell 0)

struct ResolutionAt {
  double angstrom = 0;
  bool beyond_grid_edge = false;   // the curve never fell below the threshold: angstrom is d(n/2)
  bool below_first_shell = false;  // below the threshold from shell 0 on: no resolution; angstrom is d(1)
};
ResolutionAt resolution_at(const FscCurve& curve, double voxel_angstrom, double threshold);
std::string describe(const ResolutionAt& r);  // "10.5 A" or "beyond the grid edge (better than 10.0 A)"

struct NamedCurve {
  std::string name;  // column fsc_<name>; empty: fsc
  FscCurve curve;
};
void write_fsc_csv(const std::string& path, std::span<const NamedCurve> curves, double voxel_angstrom);

}  // namespace spire::resolution
