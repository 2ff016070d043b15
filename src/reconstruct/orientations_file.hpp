#pragma once
// orientations.h5: the orientations a run assigned, one row per image (io::Hdf5Writer,
// written beside its name and renamed).
//
// Layout:
//   orientations     (N,4) float64  quaternions w,x,y,z (w >= 0), the convention of the data
//                                   file's `orientations` (geometry/orientations.hpp); the
//                                   attribute `convention` says so in words
//   image_index      (N) int64      the image's index in the data file (data.first + i)
//   score            (N) float64    the image's matching score at that orientation from the
//                                   run's last match (matching.hpp: a cost, lower is better,
//                                   of orientations.metric on the images as the loop sees
//                                   them); NaN where none (oracle runs, no match yet, a run
//                                   resumed from an older checkpoint and not run further)
//   reference_index  (N) int64      index into the run's reference orientations
//                                   (geometry::reference_orientations(orientations.references)),
//                                   -1 where the orientation is not one of them (the random
//                                   start of generation 0, oracle runs, the local
//                                   stage's refined orientations)
//   root attributes  data (path), references (M), generations (how many ran)
#include <cstdint>
#include <string>
#include <vector>

#include "geometry/orientations.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

// For each orientation, the index of the reference orientation equal to it (bit for bit: the
// loop assigns references themselves), or -1.
std::vector<std::int64_t> reference_indices(const std::vector<geometry::Quaternion>& found,
                                            const std::vector<geometry::Quaternion>& references);

// `scores` as State::scores (gathered): one per orientation, or empty (NaN written).
void write_orientations(const std::string& path, const std::vector<geometry::Quaternion>& found,
                        const std::vector<double>& scores, const Settings& settings, const std::string& data_path,
                        std::int64_t generations);

// orientations.csv: a header line, then one line per image, in the order of the data file:
//   image_index,w,x,y,z,euler_z1_deg,euler_y_deg,euler_z2_deg,score
// image_index is data.first + i; the quaternion as orientations.h5's; the Euler angles ZYZ
// (geometry::euler_zyz: R(q) = Rz(z1) Ry(y) Rz(z2), degrees); score as above, "nan" where none.
std::string orientations_csv(const std::vector<geometry::Quaternion>& found, const std::vector<double>& scores,
                             std::int64_t first_image);

}  // namespace spire::reconstruct
