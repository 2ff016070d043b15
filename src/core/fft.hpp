#pragma once
// FFTW plans made once and reused (FFTW's planner is the model: plan, then execute many).
//
// Contract:
//  - FftPlan3<T> plans an in-place complex 3D transform of an (nz, ny, nx) array with x
//    fastest, T = float or double, sign +1 or -1 (exponent e^{sign 2 pi i k l / n}),
//    unnormalised.
//  - FftPlanReal<T> plans real-data transforms (FFTW's r2c forward, sign -1, and c2r
//    backward, sign +1, unnormalised) and FftPlanMany<T> strided complex ones, both through
//    FFTW's guru interface: the transformed dimensions and the batch ("howmany") loops
//    around them, each a length and input and output strides, counted in elements of the
//    input and output arrays (T for real, std::complex<T> for complex). For real data the
//    last transformed dimension's length is the real one, L; the complex side holds L/2+1.
//  - Planning is serialised (FFTW's planner is not thread-safe); execution is not and may
//    run on any array of the planned shape and alignment through execute(ptr).
//  - Wisdom is loaded before the first plan and saved (atomically) whenever planning
//    learned something, to $SPIRE_FFTW_WISDOM or ~/.cache/spire/fftw-wisdom-{float,double}.
//    Planning with Planning::measure is then only slow the first time on a machine.
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/names.hpp"

namespace spire {

enum class Planning { estimate, measure, patient };
inline constexpr NameTable<Planning, 3> kPlanningNames{
    {{Planning::estimate, "estimate"}, {Planning::measure, "measure"}, {Planning::patient, "patient"}}};

// FFTW's wisdom (what planning measured), as FFTW's text, per precision: a run keeps it with
// its checkpoint so that a resumed run makes the plans the run it resumes made (the plans
// shape the result at round-off, which phasing amplifies).
struct FftWisdom {
  std::string single_precision, double_precision;
  bool empty() const { return single_precision.empty() && double_precision.empty(); }
};
FftWisdom export_fft_wisdom();
// From now on plans take their wisdom from `wisdom` alone: the cache is neither read nor
// written. Fails on text FFTW does not accept.
void use_fft_wisdom(const FftWisdom& wisdom);

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

// One dimension of a guru-interface plan: length, input stride, output stride (elements).
struct FftDim {
  std::int64_t n = 1, in_stride = 1, out_stride = 1;
};
using FftDims = std::vector<FftDim>;

// Real <-> half-complex transforms, out-of-place (or in-place on a padded array). An
// out-of-place r2c plan keeps its input (FFTW's default); c2r overwrites its input (FFTW's
// default, and its only choice for rank > 1).
template <typename T>
class FftPlanReal {
 public:
  // Forward, r2c: real `in`, half spectrum `out`.
  FftPlanReal(const FftDims& dims, const FftDims& loops, T* in, std::complex<T>* out, int threads,
              Planning planning);
  // Backward, c2r: half spectrum `in` (overwritten), real `out`.
  FftPlanReal(const FftDims& dims, const FftDims& loops, std::complex<T>* in, T* out, int threads,
              Planning planning);
  ~FftPlanReal();
  FftPlanReal(const FftPlanReal&) = delete;
  FftPlanReal& operator=(const FftPlanReal&) = delete;

  // On the arrays planned or others of the same alignment; the kind must match the plan's.
  void execute(T* in, std::complex<T>* out) const;
  void execute(std::complex<T>* in, T* out) const;

 private:
  void* plan_ = nullptr;
  bool forward_ = true;
};

// Strided batches of complex transforms (sign +1 or -1), out-of-place or in-place.
// Out-of-place plans keep their input.
template <typename T>
class FftPlanMany {
 public:
  FftPlanMany(const FftDims& dims, const FftDims& loops, int sign, std::complex<T>* in,
              std::complex<T>* out, int threads, Planning planning);
  ~FftPlanMany();
  FftPlanMany(const FftPlanMany&) = delete;
  FftPlanMany& operator=(const FftPlanMany&) = delete;

  void execute(std::complex<T>* in, std::complex<T>* out) const;

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
