#pragma once
// MRC2014 / CCP4 density maps, the format ChimeraX, Chimera and PyMOL open.
//
// Contract:
//  - Map data is nx*ny*nz float32, x fastest: data[x + nx * (y + ny * z)].
//  - write_mrc writes mode 2 (float32), little-endian (machine stamp 0x44 0x44 0 0), a
//    1024-byte header with cell = n * voxel_size (Angstrom), angles 90, axis order
//    mapc/mapr/maps = 1,2,3, ispg 1 (one volume), nsymbt 0, origin (Angstrom) in words
//    50-52, and dmin/dmax/dmean/rms of the data. It writes PATH.tmp-<pid> and renames,
//    so a failed write never leaves a partial PATH or replaces an existing good file.
//  - read_mrc accepts such files (either endianness) and rejects, with a spire::Error
//    naming the file, anything else: no 'MAP ' tag, a mode other than 2, a length that
//    disagrees with the header (truncated file), another axis order, non-cubic voxels.
#include <array>
#include <string>
#include <vector>

namespace spire::io {

struct Map {
  int nx = 0, ny = 0, nz = 0;
  double voxel_size = 1.0;         // Angstrom, the same along every axis
  std::array<double, 3> origin{};  // Angstrom, position of voxel (0,0,0)
  std::vector<float> data;         // nx*ny*nz, x fastest
};

void write_mrc(const std::string& path, const Map& map);
Map read_mrc(const std::string& path);

}  // namespace spire::io
