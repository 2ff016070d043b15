#pragma once
// Internal to src/io: an owning HDF5 identifier, for the members of the readers and writers
// (whose headers do not include <hdf5.h>: hid_t is int64_t and herr_t int, checked in
// hdf5_handle.hpp). It closes its identifier when it goes, on every path, exceptions
// included, and never twice.
#include <cstdint>
#include <utility>

namespace spire::io::detail {

class Handle {
 public:
  using Closer = int (*)(std::int64_t);  // H5Fclose, H5Dclose, ...
  Handle() = default;
  Handle(std::int64_t id, Closer closer) : id_(id), close_(closer) {}
  ~Handle() { close(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      close();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  std::int64_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  std::int64_t release() { return std::exchange(id_, -1); }
  // Closes now; false when HDF5 reports that closing failed (a file's last data could not
  // be written). The identifier is given up either way: HDF5 has freed what it could, and a
  // second close of a file whose close failed would crash it.
  bool close() noexcept { return id_ < 0 || close_(std::exchange(id_, -1)) >= 0; }
  void reset() noexcept { close(); }

 private:
  std::int64_t id_ = -1;
  Closer close_ = nullptr;
};

}  // namespace spire::io::detail
