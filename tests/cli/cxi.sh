#!/usr/bin/env bash
# Usage: cxi.sh SPIRE. CXI files as CXIDB and condor write them (io/cxi.hpp): a spire dataset
# is rewritten with h5py as CXI 1.6 (cxi_version 160, int32 photon counts (N,H,W) in
# entry_1/instrument_1/detector_1/data, entry_1/data_1/data a soft link to it, float64
# scalar distance, pixel sizes, corner_position and basis_vectors in m, source_1/energy in
# J, a uint16 CXI bit mask, condor's true orientations, groups spire does not read). spire
# info reads it; the SpiniFEL file with the same mask and the CXI file reconstruct (oracle
# orientations) to the same maps. Then the errors: no distance, images of rank 1, no photon
# energy, a dangling link; and --photon-energy for a file without one. Fails on the first
# unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 200 --detector-pixels 40 --detector-width 0.08 --detector-distance 0.15 --photons 1e14 --beam-radius 0.1e-6 --noise poisson \
  --volume-size 21 --out "$dir/one.h5" > /dev/null
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import h5py, numpy as np, shutil, sys
d = sys.argv[1]
shutil.copy(f"{d}/one.h5", f"{d}/masked.h5")
with h5py.File(f"{d}/one.h5", "r") as src:
    images = src["intensities"][()][:, 0]                            # (N,H,W) float32 photon counts
    q = src["pixel_position_reciprocal"][()][0].astype(np.float64)   # (H,W,3) 1/m
    distance = float(src.attrs["det_distance"])
    energy_ev = float(src.attrs["photon_energy"])
    orientations = src["orientations"][()].reshape(-1, 4)
n, H, W = images.shape
assert np.array_equal(np.rint(images), images), "poisson counts are integers"
# spire simulate's square detector in CXI terms (io/cxi.hpp): rows along +y, columns along +x,
# centred on the beam; checked against the file's own positions.
pitch = 0.08 / W
rows, cols = np.array([0.0, pitch, 0.0]), np.array([pitch, 0.0, 0.0])
corner = np.array([-W / 2 * pitch, -H / 2 * pitch, distance])
i, j = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
r = corner + (i[..., None] + 0.5) * rows + (j[..., None] + 0.5) * cols
lam = 12398.4198 / energy_ev * 1e-10
s = (r / np.linalg.norm(r, axis=-1, keepdims=True) - [0, 0, 1]) / lam
assert abs(distance - 0.15) < 1e-12 and np.abs(s - q).max() < 1e-6 * np.abs(q).max(), "the CXI geometry is simulate's"
# CXI bit flags: 0x1 invalid, 0x4 hot, 0x200 missing (gap) exclude a pixel; 0x400 noisy and
# 0x1000 has-signal do not.
mask = np.zeros((H, W), np.uint16)
mask[18:22, 18:22] = 0x1
mask[0, :] = 0x200
mask[5, 7] = 0x4
mask[10:12, :] |= 0x400
mask[30, 3:9] = 0x1000
excluded = (mask & 0x2DF) != 0
with h5py.File(f"{d}/masked.h5", "a") as f:
    f["mask"] = (~excluded).astype(np.uint8)[None]                   # spire's layout: nonzero = usable
with h5py.File(f"{d}/one.cxi", "w") as f:
    f["cxi_version"] = 160
    det = f.create_group("entry_1/instrument_1/detector_1")
    det.create_dataset("data", data=np.rint(images).astype(np.int32), chunks=(1, H, W))
    det["distance"] = distance
    det["x_pixel_size"] = float(np.linalg.norm(cols))
    det["y_pixel_size"] = float(np.linalg.norm(rows))
    det["corner_position"] = corner
    det["basis_vectors"] = np.stack([rows, cols])
    det["mask"] = mask
    det["description"] = np.bytes_("spire simulate, square detector")
    f["entry_1/instrument_1/source_1/energy"] = energy_ev * 1.602176634e-19
    f["entry_1/instrument_1/source_1/pulse_energy"] = 1e-3
    f["entry_1/sample_1/name"] = np.bytes_("built-in test molecule")
    f["entry_1/particles/particle_00/extrinsic_quaternion"] = orientations   # condor's name for the truth
    f["entry_1/data_1/data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
EOF

# spire info: the format, the detector, what it does not read; the same |s| range,
# resolution, mask and photons as the SpiniFEL file with the same mask.
info=$("$spire" info --check-all "$dir/one.cxi")
for want in "cxi" "200 of 40 x 40 pixels" "entry_1/sample_1: not read by spire" \
            "entry_1/instrument_1/detector_1/description: not read by spire"; do
  check "grep -qF -- '$want' <<< \"\$info\"" "spire info shows '$want': $info"
done
masked=$("$spire" info --check-all "$dir/masked.h5")
for what in "|s| range" "resolution" "mask          " "photons       "; do
  check "[ \"\$(grep -F '$what' <<< \"\$masked\")\" = \"\$(grep -F '$what' <<< \"\$info\")\" ]" \
    "the same $what for SpiniFEL and CXI: $(grep -F "$what" <<< "$masked") / $(grep -F "$what" <<< "$info")"
done

# The same images, geometry and mask: the same maps.
run="grid.n=21 orientations.oracle=true generations.max=2 generations.stop_change=0 runtime.fft_planning=estimate
     phasing.loops=2 output.half_maps=false"
for f in masked.h5 one.cxi; do
  "$spire" reconstruct "$dir/$f" $run --reference "$dir/one_model.mrc" --quiet --out "$dir/r_${f%.*}"
done
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
from maps import values as read  # tests/cli/maps.py, on PYTHONPATH
for name in ("intensity.mrc", "density.mrc"):
    a, b = read(f"{d}/r_masked/{name}"), read(f"{d}/r_one/{name}")
    c = np.corrcoef(a, b)[0, 1]
    print(f"{name}: SpiniFEL vs CXI correlation {c:.8f}, largest difference "
          f"{np.abs(a - b).max() / np.abs(a).max():.2e} of the largest value")
    if not c > 0.999:
        sys.exit(f"FAILED: the CXI file gives another {name} than the SpiniFEL file (correlation {c})")
EOF

# Errors name the file and the missing or wrong dataset.
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import h5py, numpy as np, shutil, sys
d = sys.argv[1]
det = "entry_1/instrument_1/detector_1"
def no_distance(f):
    del f[det + "/distance"]
    del f[det + "/corner_position"]
def rank1(f):
    del f[det + "/data"]
    f[det + "/data"] = np.zeros(1600, np.float32)
def no_energy(f):
    del f["entry_1/instrument_1/source_1/energy"]
def dangling(f):
    del f["entry_1/data_1/data"]
    f["entry_1/data_1/data"] = h5py.SoftLink("/entry_1/instrument_1/detector_2/data")
for name, edit in (("no_distance", no_distance), ("rank1", rank1), ("no_energy", no_energy), ("dangling", dangling)):
    shutil.copy(f"{d}/one.cxi", f"{d}/{name}.cxi")
    with h5py.File(f"{d}/{name}.cxi", "a") as f:
        edit(f)
EOF
expect_error() {  # FILE TEXT: spire info fails with exit code 2 and a message holding TEXT
  local file=$1 want=$2 out rc=0
  out=$("$spire" info "$dir/$file" 2>&1) || rc=$?
  check "[ $rc = 2 ]" "spire info $file: exit code $rc, expected 2: $out"
  check "grep -qF -- \"\$want\" <<< \"\$out\"" "spire info $file says '$want': $out"
}
detector=entry_1/instrument_1/detector_1
expect_error no_distance.cxi "no_distance.cxi: dataset '$detector/distance': missing (required without $detector/corner_position)"
expect_error rank1.cxi "rank1.cxi: dataset 'entry_1/data_1/data': has shape (1600), expected (H,W) one image"
expect_error no_energy.cxi "no_energy.cxi: dataset 'entry_1/instrument_1/source_1/energy': missing"
expect_error dangling.cxi \
  "dangling.cxi: dataset 'entry_1/data_1/data': links to '/entry_1/instrument_1/detector_2/data', which is not in the file"

# The photon energy from the options where the file has none: the same detector.
energy=$(python3 -c "import h5py, sys; print(repr(float(h5py.File(sys.argv[1], 'r').attrs['photon_energy'])))" "$dir/one.h5")
with_option=$("$spire" info --photon-energy "$energy" "$dir/no_energy.cxi")
check "[ \"\$(grep -F '|s| range' <<< \"\$with_option\")\" = \"\$(grep -F '|s| range' <<< \"\$info\")\" ]" \
  "--photon-energy gives the file's own |s| range: $with_option"
echo "1 passed, 0 failed"
