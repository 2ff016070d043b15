#include "core/fft.hpp"

#include <fftw3.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "core/error.hpp"
#include "core/files.hpp"

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
  using iodim = fftw_iodim64;
  static plan guru_dft(int r, const iodim* d, int hr, const iodim* hd, std::complex<double>* in,
                       std::complex<double>* out, int sign, unsigned f) {
    return fftw_plan_guru64_dft(r, d, hr, hd, reinterpret_cast<fftw_complex*>(in),
                                 reinterpret_cast<fftw_complex*>(out), sign, f);
  }
  static plan guru_r2c(int r, const iodim* d, int hr, const iodim* hd, double* in,
                       std::complex<double>* out, unsigned f) {
    return fftw_plan_guru64_dft_r2c(r, d, hr, hd, in, reinterpret_cast<fftw_complex*>(out), f);
  }
  static plan guru_c2r(int r, const iodim* d, int hr, const iodim* hd, std::complex<double>* in,
                       double* out, unsigned f) {
    return fftw_plan_guru64_dft_c2r(r, d, hr, hd, reinterpret_cast<fftw_complex*>(in), out, f);
  }
  static void exec_dft(void* pl, std::complex<double>* in, std::complex<double>* out) {
    fftw_execute_dft(static_cast<plan>(pl), reinterpret_cast<fftw_complex*>(in),
                     reinterpret_cast<fftw_complex*>(out));
  }
  static void exec_r2c(void* pl, double* in, std::complex<double>* out) {
    fftw_execute_dft_r2c(static_cast<plan>(pl), in, reinterpret_cast<fftw_complex*>(out));
  }
  static void exec_c2r(void* pl, std::complex<double>* in, double* out) {
    fftw_execute_dft_c2r(static_cast<plan>(pl), reinterpret_cast<fftw_complex*>(in), out);
  }
  static int import_wisdom(const char* f) { return fftw_import_wisdom_from_filename(f); }
  static int export_wisdom(const char* f) { return fftw_export_wisdom_to_filename(f); }
  static char* export_text() { return fftw_export_wisdom_to_string(); }
  static int import_text(const char* t) { return fftw_import_wisdom_from_string(t); }
  static void forget() { fftw_forget_wisdom(); }
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
  using iodim = fftwf_iodim64;
  static plan guru_dft(int r, const iodim* d, int hr, const iodim* hd, std::complex<float>* in,
                       std::complex<float>* out, int sign, unsigned f) {
    return fftwf_plan_guru64_dft(r, d, hr, hd, reinterpret_cast<fftwf_complex*>(in),
                                 reinterpret_cast<fftwf_complex*>(out), sign, f);
  }
  static plan guru_r2c(int r, const iodim* d, int hr, const iodim* hd, float* in,
                       std::complex<float>* out, unsigned f) {
    return fftwf_plan_guru64_dft_r2c(r, d, hr, hd, in, reinterpret_cast<fftwf_complex*>(out), f);
  }
  static plan guru_c2r(int r, const iodim* d, int hr, const iodim* hd, std::complex<float>* in,
                       float* out, unsigned f) {
    return fftwf_plan_guru64_dft_c2r(r, d, hr, hd, reinterpret_cast<fftwf_complex*>(in), out, f);
  }
  static void exec_dft(void* pl, std::complex<float>* in, std::complex<float>* out) {
    fftwf_execute_dft(static_cast<plan>(pl), reinterpret_cast<fftwf_complex*>(in),
                     reinterpret_cast<fftwf_complex*>(out));
  }
  static void exec_r2c(void* pl, float* in, std::complex<float>* out) {
    fftwf_execute_dft_r2c(static_cast<plan>(pl), in, reinterpret_cast<fftwf_complex*>(out));
  }
  static void exec_c2r(void* pl, std::complex<float>* in, float* out) {
    fftwf_execute_dft_c2r(static_cast<plan>(pl), reinterpret_cast<fftwf_complex*>(in), out);
  }
  static int import_wisdom(const char* f) { return fftwf_import_wisdom_from_filename(f); }
  static int export_wisdom(const char* f) { return fftwf_export_wisdom_to_filename(f); }
  static char* export_text() { return fftwf_export_wisdom_to_string(); }
  static int import_text(const char* t) { return fftwf_import_wisdom_from_string(t); }
  static void forget() { fftwf_forget_wisdom(); }
  static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void free(void* p) { fftwf_free(p); }
};

// Per precision: whether the wisdom was loaded, and whether it is a run's own (use_fft_wisdom:
// the cache is then neither read nor written). Guarded by planner_mutex.
template <typename T>
struct WisdomSource {
  static inline bool loaded = false, pinned = false;
};

// Loaded once per precision, before the first plan; caller holds planner_mutex.
template <typename T>
void load_wisdom_once() {
  if (WisdomSource<T>::loaded) return;
  WisdomSource<T>::loaded = true;
  Fftw<T>::init_threads();
  const std::string path = wisdom_path<T>();
  if (std::filesystem::exists(path)) Fftw<T>::import_wisdom(path.c_str());
}

// Written to a temporary file and renamed, so a crash never leaves half a wisdom file.
template <typename T>
void save_wisdom(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = temporary_path(path);
  if (Fftw<T>::export_wisdom(tmp.c_str())) std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);  // wisdom is a cache: failing to save is harmless
}

// Plans with make(flags) under the planner lock: from wisdom alone if this problem is known,
// otherwise with the planning requested, saving what was learned. `what` names the problem
// in the error if FFTW cannot plan it.
template <typename T, typename Make>
void* plan_with_wisdom(int threads, Planning planning, const Make& make, const std::string& what) {
  std::lock_guard lock(planner_mutex);
  load_wisdom_once<T>();
  Fftw<T>::threads(threads > 0 ? threads : omp_get_max_threads());
  const unsigned flags = flags_of(planning);
  void* plan = make(flags | FFTW_WISDOM_ONLY);
  if (!plan) {
    plan = make(flags);
    if (plan && planning != Planning::estimate && !WisdomSource<T>::pinned) save_wisdom<T>(wisdom_path<T>());
  }
  if (!plan) fail("FFTW could not plan " + what);
  return plan;
}

template <typename T>
std::vector<typename Fftw<T>::iodim> iodims(const FftDims& dims) {
  std::vector<typename Fftw<T>::iodim> d;
  for (const FftDim& e : dims)
    d.push_back({static_cast<std::ptrdiff_t>(e.n), static_cast<std::ptrdiff_t>(e.in_stride),
                 static_cast<std::ptrdiff_t>(e.out_stride)});
  return d;
}

std::string describe(const char* kind, const FftDims& dims, const FftDims& loops) {
  std::string s = "a ";
  s += kind;
  s += " transform of";
  for (const FftDim& e : dims) (s += ' ') += std::to_string(e.n);
  s += " in a batch of";
  for (const FftDim& e : loops) (s += ' ') += std::to_string(e.n);
  return s;
}

}  // namespace

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
  plan_ = plan_with_wisdom<T>(threads, planning, [&](unsigned f) -> void* {
    return Fftw<T>::make(nz, ny, nx, data, sign > 0 ? FFTW_BACKWARD : FFTW_FORWARD, f);
  }, "a " + std::to_string(nz) + "x" + std::to_string(ny) + "x" + std::to_string(nx) + " transform");
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
FftPlanReal<T>::FftPlanReal(const FftDims& dims, const FftDims& loops, T* in, std::complex<T>* out,
                            int threads, Planning planning)
    : forward_(true) {
  const auto d = iodims<T>(dims), l = iodims<T>(loops);
  plan_ = plan_with_wisdom<T>(threads, planning, [&](unsigned f) -> void* {
    return Fftw<T>::guru_r2c(static_cast<int>(d.size()), d.data(), static_cast<int>(l.size()),
                             l.data(), in, out, f | FFTW_PRESERVE_INPUT);
  }, describe("r2c", dims, loops));
}

template <typename T>
FftPlanReal<T>::FftPlanReal(const FftDims& dims, const FftDims& loops, std::complex<T>* in, T* out,
                            int threads, Planning planning)
    : forward_(false) {
  const auto d = iodims<T>(dims), l = iodims<T>(loops);
  plan_ = plan_with_wisdom<T>(threads, planning, [&](unsigned f) -> void* {
    return Fftw<T>::guru_c2r(static_cast<int>(d.size()), d.data(), static_cast<int>(l.size()),
                             l.data(), in, out, f | FFTW_DESTROY_INPUT);
  }, describe("c2r", dims, loops));
}

template <typename T>
FftPlanReal<T>::~FftPlanReal() {
  std::lock_guard lock(planner_mutex);
  if (plan_) Fftw<T>::destroy(plan_);
}

template <typename T>
void FftPlanReal<T>::execute(T* in, std::complex<T>* out) const {
  if (!forward_) fail("FftPlanReal: r2c execution of a c2r plan");
  Fftw<T>::exec_r2c(plan_, in, out);
}

template <typename T>
void FftPlanReal<T>::execute(std::complex<T>* in, T* out) const {
  if (forward_) fail("FftPlanReal: c2r execution of an r2c plan");
  Fftw<T>::exec_c2r(plan_, in, out);
}

template <typename T>
FftPlanMany<T>::FftPlanMany(const FftDims& dims, const FftDims& loops, int sign, std::complex<T>* in,
                            std::complex<T>* out, int threads, Planning planning) {
  if (sign != 1 && sign != -1) fail("FFT sign must be +1 or -1");
  const auto d = iodims<T>(dims), l = iodims<T>(loops);
  plan_ = plan_with_wisdom<T>(threads, planning, [&](unsigned f) -> void* {
    return Fftw<T>::guru_dft(static_cast<int>(d.size()), d.data(), static_cast<int>(l.size()),
                             l.data(), in, out, sign > 0 ? FFTW_BACKWARD : FFTW_FORWARD, f);
  }, describe("complex", dims, loops));
}

template <typename T>
FftPlanMany<T>::~FftPlanMany() {
  std::lock_guard lock(planner_mutex);
  if (plan_) Fftw<T>::destroy(plan_);
}

template <typename T>
void FftPlanMany<T>::execute(std::complex<T>* in, std::complex<T>* out) const {
  Fftw<T>::exec_dft(plan_, in, out);
}

template <typename T>
void AlignedFree<T>::operator()(T* p) const {
  std::free(p);
}

template <typename T>
AlignedArray<T> aligned_uninitialized(std::size_t count) {
  const std::size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes > 0 ? bytes : 64);
  if (!p) throw OutOfMemory("out of memory allocating " + std::to_string(bytes >> 20) + " MiB");
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
template class FftPlanReal<float>;
template class FftPlanReal<double>;
template class FftPlanMany<float>;
template class FftPlanMany<double>;
namespace {

template <typename T>
std::string export_text() {
  std::lock_guard lock(planner_mutex);
  load_wisdom_once<T>();
  char* text = Fftw<T>::export_text();
  std::string out = text ? text : "";
  std::free(text);
  return out;
}

template <typename T>
void use_text(const std::string& text) {
  std::lock_guard lock(planner_mutex);
  if (!WisdomSource<T>::loaded) {
    WisdomSource<T>::loaded = true;
    Fftw<T>::init_threads();
  }
  WisdomSource<T>::pinned = true;
  Fftw<T>::forget();
  if (!text.empty() && !Fftw<T>::import_text(text.c_str()))
    fail(std::string("FFTW does not accept the stored ") + Fftw<T>::name + " wisdom");
}

}  // namespace

FftWisdom export_fft_wisdom() { return {export_text<float>(), export_text<double>()}; }

void use_fft_wisdom(const FftWisdom& wisdom) {
  use_text<float>(wisdom.single_precision);
  use_text<double>(wisdom.double_precision);
}

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
