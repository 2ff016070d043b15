#pragma once
// The CUDA back end's foundation: is there a device, and owned device/pinned memory and
// streams that plain C++ (no CUDA headers) can hold.
//
// Contract:
//  - built() says whether this spire was compiled with the CUDA back end (SPIRE_CUDA and
//    nvcc at build time); device_count() how many devices the runtime sees (0 when not
//    built, no driver, or no device; it never throws). require_device() throws a
//    spire::Error that says which of those it is, so runtime.device = cuda fails at once
//    with a reason, never later in a kernel launch.
//  - DeviceBuffer<T> is cudaMalloc'd memory of `size()` T, freed on destruction, moved not
//    copied. PinnedBuffer<T> is page-locked host memory (cudaMallocHost) for asynchronous
//    copies. Stream wraps a cudaStream_t created non-blocking. Without the back end their
//    constructors (for a nonzero size) throw the same error as require_device().
//  - Copies name their stream; nullptr is the legacy default stream. Asynchronous copies
//    from pageable memory are staged by the runtime (correct, not overlapped).
#include <cstddef>
#include <string>
#include <utility>

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace spire::cuda {

using stream_t = CUstream_st*;

bool built();
int device_count();
// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" for device 0, or the reason there is none.
std::string describe();
void require_device();

// Raw helpers behind the buffers (bytes).
void* device_alloc(std::size_t bytes);
void device_free(void* p) noexcept;
void* pinned_alloc(std::size_t bytes);
void pinned_free(void* p) noexcept;
void copy_to_device(void* dst, const void* src, std::size_t bytes, stream_t stream);
void copy_to_host(void* dst, const void* src, std::size_t bytes, stream_t stream);
void copy_on_device(void* dst, const void* src, std::size_t bytes, stream_t stream);
void fill_zero(void* dst, std::size_t bytes, stream_t stream);
void synchronize(stream_t stream);  // waits for the stream, then checks for errors
void synchronize_device();

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { resize(n); }
  ~DeviceBuffer() { device_free(p_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Reallocates (contents lost) only when growing past the current size.
  void resize(std::size_t n) {
    if (n <= n_ && p_) {
      n_ = n;
      return;
    }
    device_free(p_);
    p_ = nullptr;
    n_ = 0;
    if (n > 0) p_ = static_cast<T*>(device_alloc(n * sizeof(T)));
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  void upload(const T* host, std::size_t n, stream_t s = nullptr) {
    resize(n);
    copy_to_device(p_, host, n * sizeof(T), s);
  }
  void download(T* host, std::size_t n, stream_t s = nullptr) const { copy_to_host(host, p_, n * sizeof(T), s); }
  void zero(stream_t s = nullptr) { fill_zero(p_, n_ * sizeof(T), s); }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t n) : p_(n ? static_cast<T*>(pinned_alloc(n * sizeof(T))) : nullptr), n_(n) {}
  ~PinnedBuffer() { pinned_free(p_); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  stream_t get() const { return s_; }
  void synchronize() const { cuda::synchronize(s_); }

 private:
  stream_t s_ = nullptr;
};

// An event recorded on one stream and waited for by another (the slicing -> matching
// hand-over of a double-buffered batch).
class Event {
 public:
  Event();
  ~Event();
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(stream_t s);
  void wait(stream_t s) const;  // s waits for the last record()
  double elapsed_ms(const Event& since) const;  // synchronises on this event

 private:
  void* e_ = nullptr;
};

}  // namespace spire::cuda
