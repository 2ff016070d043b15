#pragma once
// Internal to src/io/dragonfly.cpp: Dragonfly's HDF5 photon lists checked on their stored
// bytes before HDF5 reads them. HDF5 1.10 trusts what a variable-length element says: it
// allocates by the stored length before reading (a corrupt length: gigabytes), and reads
// the global heap object the element names without checking that it exists (a corrupt
// index: SEGV in H5HG_read; a corrupt collection: an endless loop; docs/fuzzing.md).
//
// Stored element (HDF5 file format, variable-length sequence): a 4-byte little-endian
// length, then the global heap id: the collection's address (the file's address size) and
// a 4-byte object index. A collection: "GCOL", version 1, 3 reserved bytes, its size (the
// file's length size), then objects: index (2 bytes, 0 = free space), reference count (2),
// reserved (4), size (length size), data padded to 8 bytes.
#include <hdf5.h>

#include <cstddef>
#include <string>

namespace spire::io::detail {

// Fails naming the file, the dataset and the frame unless every sequence of frames [first,
// first+count) holds at most max_length values, in a heap object of the file that exists and
// holds them. Layouts other than contiguous and unfiltered chunked (compact, compressed)
// are not checked: HDF5 reads them as they are.
void check_stored_sequences(hid_t file, hid_t dataset, const std::string& path, const char* name, std::size_t first,
                            std::size_t count, std::size_t max_length);

}  // namespace spire::io::detail
