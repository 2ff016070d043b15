#pragma once
// The molecular transform (structure factor of one molecule) at arbitrary reciprocal points:
//   F(s) = sum_j occ_j f_j(|s|) exp(2 pi i s . r_j)
// s in 1/Angstrom (|s| = 2 sin(theta)/lambda), r_j in Angstrom in the model's own frame,
// f_j the atom's Waasmaier-Kirfel factor (electrons), so F(0) is the electron count.
// B factors are not applied (an isolated molecule, not a crystal's mean density).
//
// Two ways, the same numbers:
//  - molecular_transform_direct: the O(atoms x points) sum in double, the reference;
//  - MolecularTransform<T>: a "type 3" NUFFT. Atoms of each species are spread with the ES
//    kernel onto their own real grid of spacing h = 1 / (4 s_max) centred on the molecule;
//    a type-2 NUFFT takes the grids to the points; dividing by the kernel's Fourier
//    transform at the point and weighting by the species' f(|s|) gives F. Over |s| <= sqrt(3)
//    s_max the species' factors are nearly linearly dependent, so the grids are first
//    combined into a few components (f_e ~ sum_k P_ek phi_k to the tolerance, relative) and
//    the NUFFT runs once per component, not per species (how many: docs/simulate.md).
//    Cost: O(points x components x w^3) plus a small FFT; relative l2 error within a small
//    factor of the tolerance.
#include <array>
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "simulate/pdb.hpp"

namespace spire::simulate {

// F at n points (sx[i], sy[i], sz[i]), OpenMP over points.
void molecular_transform_direct(const std::vector<Atom>& atoms, std::int64_t n,
                                const double* sx, const double* sy, const double* sz,
                                std::complex<double>* F);

struct TransformOptions {
  int threads = 0;                    // 0: every OpenMP thread
  std::int64_t chunk_points = 1 << 21;  // points per NUFFT pass: bounds the working memory
};

template <typename T>
class MolecularTransform {
 public:
  // s_max: the largest |s| component (1/Angstrom) any later point will have; tolerance:
  // the NUFFT tolerance (float: 1e-5 or looser, about 1e-4 relative error; double down to
  // about 1e-12).
  MolecularTransform(const std::vector<Atom>& atoms, double s_max, double tolerance,
                     const TransformOptions& options = {});
  ~MolecularTransform();
  MolecularTransform(MolecularTransform&&) noexcept;
  MolecularTransform& operator=(MolecularTransform&&) noexcept;

  // F at n points; a component beyond s_max is an error naming the point. Not for
  // concurrent calls on one object (the NUFFT plan inside is reused).
  void evaluate(std::int64_t n, const T* sx, const T* sy, const T* sz, std::complex<T>* F);

  double s_max() const;
  double grid_spacing() const;                  // h, Angstrom
  std::array<std::int64_t, 3> grid_size() const;  // real-space grid points per dimension
  std::array<double, 3> centre() const;         // grid centre in the model frame, Angstrom
  std::vector<std::string> species() const;     // the scattering species of the atoms
  int components() const;                       // NUFFT vectors per evaluation
  double electrons() const;                     // F(0) = sum occ_j f_j(0)

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class MolecularTransform<float>;
extern template class MolecularTransform<double>;

}  // namespace spire::simulate
