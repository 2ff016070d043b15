#pragma once
// MRC2014 / CCP4 density maps, the format ChimeraX, Chimera and PyMOL open.
//
// Contract:
//  - Map data is nx*ny*nz float32, x fastest: data[x + nx * (y + ny * z)].
//  - write_mrc writes mode 2 (float32), little-endian (machine stamp 0x44 0x44 0 0), a
//    1024-byte header with cell = n * voxel_size (Angstrom), angles 90, axis order
//    mapc/mapr/maps = 1,2,3, ispg 1 (one volume), nsymbt 0, and dmin/dmax/dmean/rms of the
//    data. It writes PATH.tmp-<pid> and renames, so a failed write never leaves a partial
//    PATH or replaces an existing good file.
//  - Where a map lies: voxel (i, j, k) is at origin + voxel_size * (i, j, k) Angstrom.
//    write_mrc puts `origin` in MRC2014's ORIGIN words 50-52 (Angstrom), the convention of
//    Chimera, ChimeraX and EMAN: the position of array index (0,0,0), used instead of the
//    start indices when not all zero. NXSTART/NYSTART/NZSTART (words 5-7) carry the same
//    place in voxels, origin / voxel_size, when that is a whole number on every axis (a
//    reader that uses only them then agrees), otherwise 0.
//  - Labels (words 57-256: ten of 80 characters, NLABL in word 56): the first is always
//    "spire <version>"; then map.labels, without any that start with "spire " (a map read
//    back and written again keeps one), the first 9 kept. A label over 80 characters or
//    with a character outside printable ASCII is an error.
//  - read_mrc accepts such files (either endianness) and rejects, with a spire::Error
//    naming the file, anything else: no 'MAP ' tag, a mode other than 2, a length that
//    disagrees with the header (truncated file), another axis order, non-cubic voxels.
//    Its labels are the file's NLABL labels (at most 10), trailing blanks removed.
#include <array>
#include <string>
#include <vector>

namespace spire::io {

struct Map {
  int nx = 0, ny = 0, nz = 0;
  double voxel_size = 1.0;         // Angstrom, the same along every axis
  std::array<double, 3> origin{};  // Angstrom, position of voxel (0,0,0)
  std::vector<float> data;         // nx*ny*nz, x fastest
  std::vector<std::string> labels;  // MRC header labels, at most 80 characters each
};

void write_mrc(const std::string& path, const Map& map);
Map read_mrc(const std::string& path);

}  // namespace spire::io
