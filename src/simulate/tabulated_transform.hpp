#pragma once
// The molecular transform tabulated once on a Cartesian reciprocal grid and interpolated by
// cubic B-splines: the fast path for many detector patterns of one molecule.
//
// The molecule is first moved to its electron centroid (centred(), simulate.hpp): |F| does
// not change, and F(s) is then band-limited by the atoms' distances r_j from it. The grid's
// nodes are s = k ds, |k| <= K, computed by MolecularTransform<float> (half of them: F(-s) =
// conj F(s) for real form factors); a separable recursive prefilter turns the values into
// B-spline coefficients, so the interpolant is exact at the nodes.
// Spacing: the cubic spline's error for one atom's exp(2 pi i s.r) is about (2 pi |r| ds)^4
// / 400 at worst (mid-cell, r along an axis); over random pixels and orientations the atoms'
// errors add incoherently, so F's relative l2 error is about (2 pi R_8 ds)^4 / 1500 with
// R_8 = (sum Z^2 r^8 / sum Z^2)^(1/8) (the constant fitted on 2cex, docs/simulate.md; the
// tests check it on two molecules). ds is chosen to make that the tolerance; the NUFFT's
// error (a fraction of the tolerance) adds to it. Each point then costs 4^3 = 64 complex
// multiply-adds on 16 contiguous runs of 4 coefficients, whatever the molecule's size.
#include <complex>
#include <cstdint>
#include <vector>

#include "simulate/pdb.hpp"

namespace spire::simulate {

class TabulatedTransform {
 public:
  // s_max: the largest |s| component (1/Angstrom) any later point will have.
  TabulatedTransform(const std::vector<Atom>& atoms, double s_max, double tolerance, int threads = 0);

  // F of the centred molecule at n points s = (x[i], y[i], z[i]), each |component| <= s_max
  // (not checked: this is the per-pixel hot path). The caller's thread; safe for concurrent
  // calls.
  void evaluate(std::int64_t n, const float* x, const float* y, const float* z, std::complex<float>* F) const;

  double spacing() const { return ds_; }     // ds, 1/Angstrom
  std::int64_t size() const { return n_; }   // nodes per dimension, 2 K + 1
  std::int64_t bytes() const { return static_cast<std::int64_t>(coeff_.size() * sizeof(float)); }
  double radius() const { return radius_; }  // R_8 (below), Angstrom
  double electrons() const { return electrons_; }

 private:
  std::int64_t n_ = 0;
  double ds_ = 0, radius_ = 0, electrons_ = 0;
  float inv_ds_ = 0, offset_ = 0;  // first stencil node of s: floor(s / ds + offset)
  std::vector<float> coeff_;       // interleaved re, im; x fastest
};

}  // namespace spire::simulate
