// Dragonfly's HDF5 photon lists checked on their stored bytes (io/dragonfly_raw.hpp).
#include "io/dragonfly_raw.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io::detail {

namespace {

struct Element {
  std::uint32_t length = 0;
  std::uint64_t heap = 0;  // the collection's address
  std::uint32_t index = 0;
};

std::uint64_t little_endian(const unsigned char* p, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

// The file's bytes, read at offsets checked against its length; errors name the dataset.
class RawFile {
 public:
  RawFile(std::string path, const char* name) : path_(std::move(path)), name_(name) {
    std::error_code ec;
    size_ = std::filesystem::file_size(path_, ec);
    file_ = ec ? nullptr : std::fopen(path_.c_str(), "rb");
    if (!file_) fail("unreadable");
  }
  ~RawFile() { std::fclose(file_); }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  std::vector<unsigned char> read(std::uint64_t at, std::uint64_t bytes) const {
    if (at > size_ || bytes > size_ - at) fail(fmt::format("{} bytes at byte offset {}: beyond the end of the file", bytes, at));
    std::vector<unsigned char> out(bytes);
    if (fseeko(file_, static_cast<off_t>(at), SEEK_SET) != 0 || std::fread(out.data(), 1, bytes, file_) != bytes)
      fail(fmt::format("{} bytes at byte offset {}: unreadable", bytes, at));
    return out;
  }
  std::uint64_t size() const { return size_; }
  [[noreturn]] void fail(const std::string& problem) const {
    fail_in(path_, fmt::format("dataset '{}': {} (corrupt file?)", name_, problem));
  }

 private:
  std::string path_, name_;
  std::uint64_t size_ = 0;
  std::FILE* file_ = nullptr;
};

struct Sizes {
  std::size_t address = 8, length = 8, element = 16, value = 4;
  std::uint64_t userblock = 0;
};

void append_elements(const Sizes& s, const std::vector<unsigned char>& raw, std::size_t skip, std::size_t n,
                     std::vector<Element>& out) {
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char* p = raw.data() + (skip + i) * s.element;
    out.push_back({static_cast<std::uint32_t>(little_endian(p, 4)), little_endian(p + 4, s.address),
                   static_cast<std::uint32_t>(little_endian(p + 4 + s.address, 4))});
  }
}

std::vector<Element> contiguous_elements(const RawFile& raw, hid_t dataset, const Sizes& s, std::size_t first,
                                         std::size_t count) {
  const haddr_t at = H5Dget_offset(dataset);
  if (at == HADDR_UNDEF) return std::vector<Element>(count);  // never written: empty sequences
  std::vector<Element> out;
  append_elements(s, raw.read(s.userblock + at + first * s.element, count * s.element), 0, count, out);
  return out;
}

// Each chunk is read here from the address its index gives (H5Dread_chunk in HDF5 1.10
// writes a chunk of the size it finds past a buffer of the size H5Dget_chunk_storage_size
// said: fuzz/corpus/dragonfly_emc/crash-read-chunk-bfad2474).
std::vector<Element> chunked_elements(const RawFile& raw, hid_t dataset, hsize_t chunk, const Sizes& s,
                                      std::size_t first, std::size_t count) {
  std::vector<Element> out;
  for (std::size_t d = first; d < first + count;) {
    hsize_t offset = d / chunk * chunk, bytes = 0;
    const std::size_t n = std::min<std::size_t>(first + count, offset + chunk) - d;
    unsigned filters = 0;
    haddr_t at = HADDR_UNDEF;
    // HDF5 1.10 reads past a buffer for a chunk its own index refuses
    // (fuzz/corpus/dragonfly_emc/crash-chunk-index-ad7c826b): refused here first.
    if (H5Dget_chunk_info_by_coord(dataset, &offset, &filters, &at, &bytes) < 0)
      raw.fail(fmt::format("chunk of frame {} unreadable", d));
    if (at == HADDR_UNDEF || bytes == 0) {
      out.resize(out.size() + n);  // never written: empty sequences
    } else {
      if (bytes != chunk * s.element || filters != 0)
        raw.fail(fmt::format("a chunk of {} bytes, expected {}", bytes, chunk * s.element));
      append_elements(s, raw.read(s.userblock + at, bytes), d - offset, n, out);
    }
    d += n;
  }
  return out;
}

// The objects of the heap collection at `at`: index -> size in bytes.
std::map<std::uint32_t, std::uint64_t> collection(const RawFile& raw, const Sizes& s, std::uint64_t at) {
  const std::size_t header = 8 + s.length;
  const auto head = raw.read(s.userblock + at, header);
  if (std::memcmp(head.data(), "GCOL", 4) != 0 || head[4] != 1)
    raw.fail(fmt::format("no global heap collection at address {}", at));
  const std::uint64_t size = little_endian(head.data() + 8, s.length);
  if (size < header) raw.fail(fmt::format("global heap collection at address {} of {} bytes", at, size));
  const auto body = raw.read(s.userblock + at, size);
  // Walked as HDF5 1.10 walks it (H5HG__cache_heap_deserialize): an object takes its header
  // and its data padded to 8 bytes; the free space (index 0) takes its size, header included.
  // A step of less than a header, or past the end, makes HDF5 loop for ever or read past the
  // collection (fuzz/corpus/dragonfly_emc/hang-heap-free-space-6da13a0f): refused.
  const std::uint64_t object_header = 8 + s.length;
  std::map<std::uint32_t, std::uint64_t> objects;
  for (std::uint64_t pos = header; pos < size;) {
    if (pos + object_header > size) break;  // a tail too small for an object: free space
    const auto index = static_cast<std::uint32_t>(little_endian(body.data() + pos, 2));
    const std::uint64_t bytes = little_endian(body.data() + pos + 8, s.length);
    const std::uint64_t step = index > 0 ? object_header + (bytes + 7) / 8 * 8 : bytes;
    if (bytes > size || step < object_header || step > size - pos)
      raw.fail(fmt::format("global heap collection at address {}: object {} of {} bytes at byte {} does not fit",
                           at, index, bytes, pos));
    if (index > 0) objects[index] = bytes;
    pos += step;
  }
  return objects;
}

std::optional<Sizes> sizes_of(hid_t file, hid_t dataset) {
  Handle fcpl(H5Fget_create_plist(file), H5Pclose);
  Handle type(H5Dget_type(dataset), H5Tclose);
  Handle base(type.valid() ? H5Tget_super(type.get()) : -1, H5Tclose);
  Sizes s;
  hsize_t userblock = 0;
  if (!fcpl.valid() || !base.valid() || H5Pget_sizes(fcpl.get(), &s.address, &s.length) < 0 ||
      H5Pget_userblock(fcpl.get(), &userblock) < 0 || s.address == 0 || s.address > 8 || s.length == 0 ||
      s.length > 8)
    return std::nullopt;
  s.userblock = userblock;
  s.element = 8 + s.address;
  s.value = H5Tget_size(base.get());
  return s;
}

}  // namespace

void check_stored_sequences(hid_t file, hid_t dataset, const std::string& path, const char* name, std::size_t first,
                            std::size_t count, std::size_t max_length) {
  const auto s = sizes_of(file, dataset);
  Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (!s || !dcpl.valid()) return;
  const RawFile raw(path, name);
  std::vector<Element> elements;
  hsize_t chunk = 0;
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_CONTIGUOUS)
    elements = contiguous_elements(raw, dataset, *s, first, count);
  else if (layout == H5D_CHUNKED && H5Pget_nfilters(dcpl.get()) == 0 && H5Pget_chunk(dcpl.get(), 1, &chunk) == 1 &&
           chunk > 0)
    elements = chunked_elements(raw, dataset, chunk, *s, first, count);
  else
    return;
  std::map<std::uint64_t, std::map<std::uint32_t, std::uint64_t>> heaps;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const Element& e = elements[i];
    if (e.length > max_length)
      raw.fail(fmt::format("frame {} holds {} entries, more than num_pix {}", first + i, e.length, max_length));
    if (e.length == 0) continue;
    auto it = heaps.find(e.heap);
    if (it == heaps.end()) it = heaps.emplace(e.heap, collection(raw, *s, e.heap)).first;
    const auto object = it->second.find(e.index);
    if (object == it->second.end() || object->second != std::uint64_t(e.length) * s->value)
      raw.fail(fmt::format("frame {}: its {} values are not in the global heap object it names", first + i, e.length));
  }
}

}  // namespace spire::io::detail
