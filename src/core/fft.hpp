#pragma once
// FFTW plans made once and reused (FFTW's planner is the model: plan, then execute many).
//
// Contract:
//  - FftPlan3<T> plans an in-place complex 3D transform of an (nz, ny, nx) array with x
//    fastest, T = float or double, sign +1 or -1 (exponent e^{sign 2 pi i k l / n}),
//    unnormalised.
//  - Planning is serialised (FFTW's planner is not thread-safe); execution is not and may
//    run on any array of the planned shape and alignment through execute(ptr).
//  - Wisdom is loaded before the first plan and saved (atomically) whenever planning
//    learned something, to $SPIRE_FFTW_WISDOM or ~/.cache/spire/fftw-wisdom-{float,double}.
//    Planning with Planning::measure is then only slow the first time on a machine.
#include <complex>
#include <cstdint>
#include <memory>
#include <string>

namespace spire {

enum class Planning { estimate, measure, patient };

Planning parse_planning(const std::string& name);  // "estimate" | "measure" | "patient"

template <typename T>
class FftPlan3 {
 public:
  // `data` is the array the plan is made on; with measure it is overwritten while planning.
  FftPlan3(int nz, int ny, int nx, int sign, std::complex<T>* data, int threads,
           Planning planning);
  ~FftPlan3();
  FftPlan3(const FftPlan3&) = delete;
  FftPlan3& operator=(const FftPlan3&) = delete;

  void execute(std::complex<T>* data) const;

 private:
  void* plan_ = nullptr;
};

// Aligned, zero-initialised complex buffer (64-byte alignment suits AVX-512 and FFTW).
template <typename T>
struct AlignedFree {
  void operator()(T* p) const;
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree<T>>;
template <typename T>
AlignedArray<T> aligned_zeros(std::size_t count);
// Uninitialised, for arrays the caller fills completely (saves a pass over large arrays).
template <typename T>
AlignedArray<T> aligned_uninitialized(std::size_t count);

// The wisdom file used for precision T ("float" or "double" in its name).
template <typename T>
std::string wisdom_path();

}  // namespace spire
