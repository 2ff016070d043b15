#include "core/fft.hpp"

#include <fftw3.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unistd.h>

#include "core/error.hpp"

namespace spire {
namespace {

std::mutex planner_mutex;

unsigned flags_of(Planning p) {
  switch (p) {
    case Planning::estimate: return FFTW_ESTIMATE;
    case Planning::measure: return FFTW_MEASURE;
    case Planning::patient: return FFTW_PATIENT;
  }
  return FFTW_MEASURE;
}

// Double and float FFTW share one interface apart from the prefix.
template <typename T>
struct Fftw;

template <>
struct Fftw<double> {
  using plan = fftw_plan;
  static constexpr const char* name = "double";
  static void init_threads() { fftw_init_threads(); }
  static void threads(int n) { fftw_plan_with_nthreads(n); }
  static plan make(int nz, int ny, int nx, std::complex<double>* d, int sign, unsigned f) {
    auto* p = reinterpret_cast<fftw_complex*>(d);
    return fftw_plan_dft_3d(nz, ny, nx, p, p, sign, f);
  }
  static void exec(void* pl, std::complex<double>* d) {
    auto* p = reinterpret_cast<fftw_complex*>(d);
    fftw_execute_dft(static_cast<plan>(pl), p, p);
  }
  static void destroy(void* pl) { fftw_destroy_plan(static_cast<plan>(pl)); }
  static int import_wisdom(const char* f) { return fftw_import_wisdom_from_filename(f); }
  static int export_wisdom(const char* f) { return fftw_export_wisdom_to_filename(f); }
  static void* alloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void free(void* p) { fftw_free(p); }
};

template <>
struct Fftw<float> {
  using plan = fftwf_plan;
  static constexpr const char* name = "float";
  static void init_threads() { fftwf_init_threads(); }
  static void threads(int n) { fftwf_plan_with_nthreads(n); }
  static plan make(int nz, int ny, int nx, std::complex<float>* d, int sign, unsigned f) {
    auto* p = reinterpret_cast<fftwf_complex*>(d);
    return fftwf_plan_dft_3d(nz, ny, nx, p, p, sign, f);
  }
  static void exec(void* pl, std::complex<float>* d) {
    auto* p = reinterpret_cast<fftwf_complex*>(d);
    fftwf_execute_dft(static_cast<plan>(pl), p, p);
  }
  static void destroy(void* pl) { fftwf_destroy_plan(static_cast<plan>(pl)); }
  static int import_wisdom(const char* f) { return fftwf_import_wisdom_from_filename(f); }
  static int export_wisdom(const char* f) { return fftwf_export_wisdom_to_filename(f); }
  static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void free(void* p) { fftwf_free(p); }
};

// Loaded once per precision, before the first plan; caller holds planner_mutex.
template <typename T>
void load_wisdom_once() {
  static bool loaded = false;
  if (loaded) return;
  loaded = true;
  Fftw<T>::init_threads();
  const std::string path = wisdom_path<T>();
  if (std::filesystem::exists(path)) Fftw<T>::import_wisdom(path.c_str());
}

// Written to a temporary file and renamed, so a crash never leaves half a wisdom file.
template <typename T>
void save_wisdom(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  if (Fftw<T>::export_wisdom(tmp.c_str())) std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);  // wisdom is a cache: failing to save is harmless
}

}  // namespace

Planning parse_planning(const std::string& name) {
  if (name == "estimate") return Planning::estimate;
  if (name == "measure") return Planning::measure;
  if (name == "patient") return Planning::patient;
  fail("unknown FFT planning '" + name + "' (expected estimate, measure or patient)");
}

template <typename T>
std::string wisdom_path() {
  if (const char* p = std::getenv("SPIRE_FFTW_WISDOM"); p && *p)
    return std::string(p) + "-" + Fftw<T>::name;
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    base = std::string(h) + "/.cache";
  else
    base = "/tmp";
  return base + "/spire/fftw-wisdom-" + Fftw<T>::name;
}

template <typename T>
FftPlan3<T>::FftPlan3(int nz, int ny, int nx, int sign, std::complex<T>* data, int threads,
                      Planning planning) {
  if (sign != 1 && sign != -1) fail("FFT sign must be +1 or -1");
  std::lock_guard lock(planner_mutex);
  load_wisdom_once<T>();
  Fftw<T>::threads(threads > 0 ? threads : omp_get_max_threads());
  const unsigned flags = flags_of(planning);
  // Planning with the "wisdom only" flag first tells whether this shape is already known.
  plan_ = Fftw<T>::make(nz, ny, nx, data, sign > 0 ? FFTW_BACKWARD : FFTW_FORWARD,
                        flags | FFTW_WISDOM_ONLY);
  if (!plan_) {
    plan_ = Fftw<T>::make(nz, ny, nx, data, sign > 0 ? FFTW_BACKWARD : FFTW_FORWARD, flags);
    if (planning != Planning::estimate) save_wisdom<T>(wisdom_path<T>());
  }
  if (!plan_) fail("FFTW could not plan a " + std::to_string(nz) + "x" + std::to_string(ny) +
                   "x" + std::to_string(nx) + " transform");
}

template <typename T>
FftPlan3<T>::~FftPlan3() {
  std::lock_guard lock(planner_mutex);
  if (plan_) Fftw<T>::destroy(plan_);
}

template <typename T>
void FftPlan3<T>::execute(std::complex<T>* data) const {
  Fftw<T>::exec(plan_, data);
}

template <typename T>
void AlignedFree<T>::operator()(T* p) const {
  std::free(p);
}

template <typename T>
AlignedArray<T> aligned_uninitialized(std::size_t count) {
  const std::size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes > 0 ? bytes : 64);
  if (!p) fail("out of memory allocating " + std::to_string(bytes >> 20) + " MiB");
  return AlignedArray<T>(static_cast<T*>(p));
}

template <typename T>
AlignedArray<T> aligned_zeros(std::size_t count) {
  AlignedArray<T> a = aligned_uninitialized<T>(count);
  std::memset(static_cast<void*>(a.get()), 0, count * sizeof(T));
  return a;
}

template class FftPlan3<float>;
template class FftPlan3<double>;
template std::string wisdom_path<float>();
template std::string wisdom_path<double>();
template struct AlignedFree<float>;
template struct AlignedFree<double>;
template struct AlignedFree<std::complex<float>>;
template struct AlignedFree<std::complex<double>>;
template struct AlignedFree<std::int64_t>;
template struct AlignedFree<std::int32_t>;
#define SPIRE_ALLOC(T) template AlignedArray<T> aligned_uninitialized<T>(std::size_t);
SPIRE_ALLOC(float)
SPIRE_ALLOC(double)
SPIRE_ALLOC(std::complex<float>)
SPIRE_ALLOC(std::complex<double>)
SPIRE_ALLOC(std::int64_t)
SPIRE_ALLOC(std::int32_t)
#undef SPIRE_ALLOC
template AlignedArray<float> aligned_zeros<float>(std::size_t);
template AlignedArray<double> aligned_zeros<double>(std::size_t);
template AlignedArray<std::complex<float>> aligned_zeros<std::complex<float>>(std::size_t);
template AlignedArray<std::complex<double>> aligned_zeros<std::complex<double>>(std::size_t);
template AlignedArray<std::int64_t> aligned_zeros<std::int64_t>(std::size_t);
template AlignedArray<std::int32_t> aligned_zeros<std::int32_t>(std::size_t);

}  // namespace spire
