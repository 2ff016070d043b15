// Dragonfly's photon files written from images of photon counts (io/dragonfly.hpp):
// the binary sparse .emc and the HDF5 form, streamed frame range by frame range.
#include <fmt/format.h>
#include <hdf5.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/dragonfly.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

namespace {

using detail::Handle;

constexpr long kHeaderBytes = 1024;
constexpr hsize_t kFramesPerChunk = 256;

void write_all(std::FILE* f, const void* data, std::size_t bytes, const std::string& path, const std::string& tmp) {
  errno = 0;
  if (bytes > 0 && std::fwrite(data, 1, bytes, f) != bytes) fail_in(path, detail::write_problem("cannot write " + tmp));
}

// Appends the file at `from` to f.
void append_file(std::FILE* f, const std::string& from, const std::string& path, const std::string& tmp) {
  std::FILE* in = std::fopen(from.c_str(), "rb");
  if (!in) fail_in(path, "cannot read back " + from);
  std::vector<char> buffer(1 << 20);
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0) {
    if (std::fwrite(buffer.data(), 1, n, f) != n) {
      std::fclose(in);
      fail_in(path, detail::write_problem("cannot write " + tmp));
    }
  }
  const bool ok = !std::ferror(in);
  std::fclose(in);
  if (!ok) fail_in(path, "cannot read back " + from);
}

std::FILE* create(const std::string& tmp, const std::string& path) {
  errno = 0;
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_in(path, detail::write_problem("cannot create " + tmp));
  return f;
}

}  // namespace

DragonflyWriter::DragonflyWriter(std::string path, Format format, std::size_t num_pix, std::size_t n_images)
    : path_(std::move(path)), format_(format), num_pix_(num_pix), n_images_(n_images) {
  if (format != Format::dragonfly_emc && format != Format::dragonfly_h5)
    fail_in(path_, "DragonflyWriter writes Dragonfly photon files only");
  if (num_pix == 0 || num_pix > std::size_t(std::numeric_limits<std::int32_t>::max()))
    fail_in(path_, fmt::format("{} pixels per image: Dragonfly needs 1 to 2^31-1", num_pix));
  if (n_images == 0 || n_images > std::size_t(std::numeric_limits<std::int32_t>::max()))
    fail_in(path_, fmt::format("{} images: Dragonfly's files hold 1 to 2^31-1 frames", n_images));
  detail::prepare_hdf5();
  tmp_path_ = temporary_path(path_);
  try {
    if (format == Format::dragonfly_emc) {
      multi_path_ = temporary_path(path_ + ".place_multi");
      count_path_ = temporary_path(path_ + ".count_multi");
      file_ = create(tmp_path_, path_);
      multi_ = create(multi_path_, path_);
      count_ = create(count_path_, path_);
      // The header and the per-frame sizes are written at finish(); place_ones follows them.
      const std::vector<char> zeros(kHeaderBytes + 8 * n_images, 0);
      write_all(file_, zeros.data(), zeros.size(), path_, tmp_path_);
    } else {
      create_h5();
    }
  } catch (...) {
    discard();
    throw;
  }
}

DragonflyWriter::~DragonflyWriter() { discard(); }

void DragonflyWriter::create_h5() {
  h5_ = Handle(H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!h5_.valid()) fail_in(path_, detail::write_problem("cannot create " + tmp_path_));
  const hsize_t one[1] = {1};
  Handle scalar(H5Screate_simple(1, one, nullptr), H5Sclose);
  Handle num(H5Dcreate2(h5_.get(), "num_pix", H5T_STD_I64LE, scalar.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             H5Dclose);
  const auto n = static_cast<std::int64_t>(num_pix_);
  if (!num.valid() || H5Dwrite(num.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n) < 0)
    fail_in(path_, detail::write_problem("cannot write dataset 'num_pix' to " + tmp_path_));
  const hsize_t dims[1] = {n_images_}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {std::min<hsize_t>(kFramesPerChunk, n_images_)};
  Handle space(H5Screate_simple(1, dims, maxdims), H5Sclose);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  Handle type(H5Tvlen_create(H5T_STD_I32LE), H5Tclose);
  H5Pset_chunk(plist.get(), 1, chunk);
  for (const char* name : {"place_ones", "place_multi", "count_multi"}) {
    Handle d(H5Dcreate2(h5_.get(), name, type.get(), space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), H5Dclose);
    if (!d.valid()) fail_in(path_, detail::write_problem(fmt::format("cannot create dataset '{}' in {}", name, tmp_path_)));
  }
}

DragonflyWriter::Sparse DragonflyWriter::sparsify(std::size_t image, const float* values) const {
  Sparse s;
  for (std::size_t p = 0; p < num_pix_; ++p) {
    const float v = values[p];
    if (v == 0.0f) continue;
    if (!(v >= 0.0f) || v != std::floor(v) || v > 2147483520.0f)
      fail_in(path_, fmt::format("image {}, pixel {}: value {} is not a photon count (a whole number >= 0): "
                                 "Dragonfly's files hold photon counts only", image, p, v));
    const auto at = static_cast<std::int32_t>(p);
    if (v == 1.0f) {
      s.ones.push_back(at);
    } else {
      s.multi.push_back(at);
      s.count.push_back(static_cast<std::int32_t>(v));
    }
  }
  return s;
}

void DragonflyWriter::write_images(std::size_t count, const float* images) {
  if (count > n_images_ - written_)
    fail_in(path_, fmt::format("{} images written after {}, the file was made for {}", count, written_, n_images_));
  std::vector<Sparse> frames;
  for (std::size_t i = 0; i < count; ++i) frames.push_back(sparsify(written_ + i, images + i * num_pix_));
  if (format_ == Format::dragonfly_h5) {
    append_h5(written_, frames);
  } else {
    for (const auto& f : frames) append_emc(f);
  }
  written_ += count;
}

void DragonflyWriter::append_emc(const Sparse& frame) {
  write_all(file_, frame.ones.data(), 4 * frame.ones.size(), path_, tmp_path_);
  write_all(multi_, frame.multi.data(), 4 * frame.multi.size(), path_, multi_path_);
  write_all(count_, frame.count.data(), 4 * frame.count.size(), path_, count_path_);
  ones_per_frame_.push_back(static_cast<std::int32_t>(frame.ones.size()));
  multi_per_frame_.push_back(static_cast<std::int32_t>(frame.multi.size()));
}

void DragonflyWriter::append_h5(std::size_t first, const std::vector<Sparse>& frames) {
  const hsize_t start[1] = {first}, n[1] = {frames.size()};
  Handle memory(H5Screate_simple(1, n, nullptr), H5Sclose);
  Handle type(H5Tvlen_create(H5T_NATIVE_INT32), H5Tclose);
  using Member = std::vector<std::int32_t> Sparse::*;
  const std::pair<const char*, Member> lists[] = {
      {"place_ones", &Sparse::ones}, {"place_multi", &Sparse::multi}, {"count_multi", &Sparse::count}};
  for (const auto& [name, member] : lists) {
    std::vector<hvl_t> data(frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i)
      data[i] = {(frames[i].*member).size(), const_cast<std::int32_t*>((frames[i].*member).data())};
    Handle d(H5Dopen2(h5_.get(), name, H5P_DEFAULT), H5Dclose);
    Handle space(d.valid() ? H5Dget_space(d.get()) : -1, H5Sclose);
    errno = 0;
    if (!space.valid() || H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr) < 0 ||
        H5Dwrite(d.get(), type.get(), memory.get(), space.get(), H5P_DEFAULT, data.data()) < 0)
      fail_in(path_, detail::write_problem(fmt::format("cannot write dataset '{}' to {}", name, tmp_path_)));
  }
}

void DragonflyWriter::finish_emc() {
  std::fclose(multi_);
  std::fclose(count_);
  multi_ = count_ = nullptr;
  append_file(file_, multi_path_, path_, tmp_path_);
  append_file(file_, count_path_, path_, tmp_path_);
  const std::int32_t header[3] = {static_cast<std::int32_t>(n_images_), static_cast<std::int32_t>(num_pix_), 0};
  errno = 0;
  if (std::fseek(file_, 0, SEEK_SET) != 0) fail_in(path_, detail::write_problem("cannot write " + tmp_path_));
  write_all(file_, header, sizeof header, path_, tmp_path_);
  if (std::fseek(file_, kHeaderBytes, SEEK_SET) != 0) fail_in(path_, detail::write_problem("cannot write " + tmp_path_));
  write_all(file_, ones_per_frame_.data(), 4 * n_images_, path_, tmp_path_);
  write_all(file_, multi_per_frame_.data(), 4 * n_images_, path_, tmp_path_);
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!closed) fail_in(path_, detail::write_problem("cannot close " + tmp_path_));
}

void DragonflyWriter::finish() {
  if (written_ != n_images_)
    fail_in(path_, fmt::format("only {} of {} images written: the file is not complete", written_, n_images_));
  try {
    if (format_ == Format::dragonfly_emc) {
      finish_emc();
    } else {
      errno = 0;
      if (!h5_.close()) fail_in(path_, detail::write_problem("cannot close " + tmp_path_));
    }
    std::error_code ec;
    std::filesystem::rename(tmp_path_, path_, ec);
    if (ec) fail_in(path_, "cannot move " + tmp_path_ + " into place: " + ec.message());
  } catch (...) {
    discard();
    throw;
  }
  discard();  // the side files of the .emc
}

void DragonflyWriter::discard() noexcept {
  for (std::FILE** f : {&file_, &multi_, &count_})
    if (*f) {
      std::fclose(*f);
      *f = nullptr;
    }
  h5_.close();
  std::error_code ec;
  for (const std::string* p : {&tmp_path_, &multi_path_, &count_path_})
    if (!p->empty()) std::filesystem::remove(*p, ec);
}

namespace {

void write_whole(const std::string& path, Format format, std::size_t num_pix, std::span<const float> images) {
  if (num_pix == 0 || images.size() % num_pix != 0)
    fail_in(path, fmt::format("{} values are not whole images of {} pixels", images.size(), num_pix));
  DragonflyWriter writer(path, format, num_pix, images.size() / num_pix);
  writer.write_images(images.size() / num_pix, images.data());
  writer.finish();
}

}  // namespace

void write_dragonfly_emc(const std::string& path, std::size_t num_pix, std::span<const float> images) {
  write_whole(path, Format::dragonfly_emc, num_pix, images);
}

void write_dragonfly_h5(const std::string& path, std::size_t num_pix, std::span<const float> images) {
  write_whole(path, Format::dragonfly_h5, num_pix, images);
}

}  // namespace spire::io
