#include "cuda/device.hpp"

#include <fmt/core.h>

#include "core/error.hpp"

#ifdef SPIRE_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda/check.hpp"
#endif

namespace spire::cuda {

#ifdef SPIRE_HAVE_CUDA

bool built() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string describe() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(e);
  }
  if (n == 0) return "no CUDA device: the runtime sees none";
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  return fmt::format("{}, sm_{}{}, {:.1f} GiB, {} multiprocessors", p.name, p.major, p.minor,
                     static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024 * 1024), p.multiProcessorCount);
}

void require_device() {
  if (device_count() > 0) return;
  fail("CUDA back end: " + describe() + " (this machine has no usable GPU)");
}

void* device_alloc(std::size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    require_device();  // no device at all: say so rather than "cannot allocate"
    fail(fmt::format("CUDA: cannot allocate {:.1f} MiB on the device: {}",
                     static_cast<double>(bytes) / (1024.0 * 1024), cudaGetErrorString(e)));
  }
  return p;
}
void device_free(void* p) noexcept {
  if (p) cudaFree(p);
}
void* pinned_alloc(std::size_t bytes) {
  void* p = nullptr;
  require_device();
  check(cudaMallocHost(&p, bytes), "cudaMallocHost");
  return p;
}
void pinned_free(void* p) noexcept {
  if (p) cudaFreeHost(p);
}
void copy_to_device(void* dst, const void* src, std::size_t bytes, stream_t s) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "copy to device");
}
void copy_to_host(void* dst, const void* src, std::size_t bytes, stream_t s) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "copy to host");
  check(cudaStreamSynchronize(s), "copy to host (synchronise)");
}
void copy_on_device(void* dst, const void* src, std::size_t bytes, stream_t s) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "copy on device");
}
void fill_zero(void* dst, std::size_t bytes, stream_t s) {
  if (bytes) check(cudaMemsetAsync(dst, 0, bytes, s), "memset");
}
void synchronize(stream_t s) { check(cudaStreamSynchronize(s), "stream synchronise"); }
void synchronize_device() { check(cudaDeviceSynchronize(), "device synchronise"); }

Stream::Stream() {
  require_device();
  check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate");
}
Stream::~Stream() {
  if (s_) cudaStreamDestroy(s_);
}

Event::Event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreate(&e), "cudaEventCreate");
  e_ = e;
}
Event::~Event() {
  if (e_) cudaEventDestroy(static_cast<cudaEvent_t>(e_));
}
void Event::record(stream_t s) { check(cudaEventRecord(static_cast<cudaEvent_t>(e_), s), "cudaEventRecord"); }
void Event::wait(stream_t s) const {
  check(cudaStreamWaitEvent(s, static_cast<cudaEvent_t>(e_), 0), "cudaStreamWaitEvent");
}
double Event::elapsed_ms(const Event& since) const {
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(e_)), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(since.e_), static_cast<cudaEvent_t>(e_)),
        "cudaEventElapsedTime");
  return ms;
}

#else  // built without the CUDA back end

namespace {
[[noreturn]] void not_built() {
  fail("CUDA back end: this spire was built without the CUDA back end (configure with SPIRE_CUDA=ON or AUTO "
       "where nvcc is installed)");
}
}  // namespace

bool built() { return false; }
int device_count() { return 0; }
std::string describe() { return "no CUDA device: spire was built without the CUDA back end"; }
void require_device() { not_built(); }
void* device_alloc(std::size_t) { not_built(); }
void device_free(void*) noexcept {}
void* pinned_alloc(std::size_t) { not_built(); }
void pinned_free(void*) noexcept {}
void copy_to_device(void*, const void*, std::size_t, stream_t) { not_built(); }
void copy_to_host(void*, const void*, std::size_t, stream_t) { not_built(); }
void copy_on_device(void*, const void*, std::size_t, stream_t) { not_built(); }
void fill_zero(void*, std::size_t, stream_t) { not_built(); }
void synchronize(stream_t) { not_built(); }
void synchronize_device() { not_built(); }
Stream::Stream() { not_built(); }
Stream::~Stream() = default;
Event::Event() { not_built(); }
Event::~Event() = default;
void Event::record(stream_t) { not_built(); }
void Event::wait(stream_t) const { not_built(); }
double Event::elapsed_ms(const Event&) const { not_built(); }

#endif

}  // namespace spire::cuda
