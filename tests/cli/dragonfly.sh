#!/usr/bin/env bash
# Usage: dragonfly.sh SPIRE. Dragonfly's files in and out of spire (io/dragonfly.hpp,
# spire convert): photons and detectors written with numpy/h5py exactly as Dragonfly's
# writers do (utils/py_src/writeemc.py, utils/py_src/detector.py) read back to the
# simulated images, geometry and mask; spire's .emc parsed independently; round trips
# SpiniFEL -> Dragonfly -> SpiniFEL; convert's errors; and a reconstruction of the .emc that
# equals the reconstruction of the original file. Fails on the first unexpected result.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 200 --detector-pixels 40 --photons 1e14 --beam-radius 0.1e-6 --noise poisson \
  --volume-size 21 --out "$dir/d.h5" > /dev/null
energy=$(python3 -c "import h5py; print(repr(float(h5py.File('$dir/d.h5', 'r').attrs['photon_energy'])))")

# Dragonfly's writers, replayed: EMCWriter (binary and HDF5) and Detector.write (text, HDF5),
# with a Dragonfly mask of 1s in one corner and 2s in a block; and a spire mask file.
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import h5py, numpy as np, sys
d = sys.argv[1]
with h5py.File(f"{d}/d.h5", "r") as f:
    frames = np.rint(f["intensities"][()].reshape(200, -1)).astype(np.int64)
    s = f["pixel_position_reciprocal"][()].reshape(-1, 3).astype(np.float64)
    wavelength = 12398.419843320026e-10 / float(f.attrs["photon_energy"])
num_pix = frames.shape[1]
ewald_rad = 150.0
q = s * wavelength * ewald_rad
mask = np.zeros(num_pix, dtype="u1")
mask[:40] = 1
mask[600:620] = 2
corr = np.linspace(0.9, 1.1, num_pix)
with open(f"{d}/py.dat", "w") as fptr:                       # Detector._write_asciidet
    fptr.write("%d %.6f %.6f\n" % (num_pix, ewald_rad, ewald_rad))
    for par in zip(q[:, 0], q[:, 1], q[:, 2], corr, mask):
        fptr.write("%21.15e %21.15e %21.15e %21.15e %d\n" % par)
with h5py.File(f"{d}/py_det.h5", "w") as fptr:               # Detector._write_h5det
    fptr["qx"], fptr["qy"], fptr["qz"] = (q[:, k].astype("f8") for k in range(3))
    fptr["corr"] = corr.astype("f8")
    fptr["mask"] = mask.astype("u1")
    fptr["detd"] = float(ewald_rad)
    fptr["ewald_rad"] = float(ewald_rad)
ones, multi, po, pm, cm = [], [], [], [], []
with h5py.File(f"{d}/py_photons.h5", "w") as h5f:           # EMCWriter(hdf5=True)
    h5f["num_pix"] = [num_pix]
    vlentype = h5py.special_dtype(vlen=np.int32)
    for name in ("place_ones", "place_multi", "count_multi"):
        h5f.create_dataset(name, (0,), maxshape=(None,), chunks=(1,), dtype=vlentype)
    for i, frame in enumerate(frames):
        place_ones = np.where(frame == 1)[0]
        place_multi = np.where(frame > 1)[0]
        count_multi = frame[place_multi]
        for name, a in (("place_ones", place_ones), ("place_multi", place_multi), ("count_multi", count_multi)):
            h5f[name].resize((i + 1,))
            h5f[name][-1] = a.astype(np.int32)
        ones.append(len(place_ones)); multi.append(len(place_multi))
        po.append(place_ones); pm.append(place_multi); cm.append(count_multi)
with open(f"{d}/py.emc", "wb") as fptr:                     # EMCWriter(hdf5=False)
    header = np.zeros((256), dtype="i4")
    header[0], header[1] = len(frames), num_pix
    header.tofile(fptr)
    np.asarray(ones).astype("i4").tofile(fptr)
    np.asarray(multi).astype("i4").tofile(fptr)
    for parts in (po, pm, cm):
        np.concatenate(parts).astype(np.int32).tofile(fptr)
with h5py.File(f"{d}/mask.h5", "w") as f:
    m = np.ones((40, 40), dtype="i4")
    m[10, 5:15] = 0
    f["mask"] = m
EOF

info=$("$spire" info --check-all "$dir/py.emc" --detector "$dir/py.dat" --photon-energy "$energy")
for want in "format        dragonfly-emc" "images        200 of 1 x 1600 pixels" "1580 of 1600 pixels usable" \
            "40 pixels of value 1" "corr (solid angle x polarization): in the photons, not applied"; do
  check "grep -qF -- '$want' <<< \"\$info\"" "spire info shows '$want': $info"
done

# Compares a SpiniFEL file to d.h5: the same images (exactly), positions (to float rounding)
# and the mask given.
same_as_simulated() {
  python3 - "$dir/d.h5" "$1" "$2" <<'EOF'
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    ia, ib = a["intensities"][()].reshape(200, -1), b["intensities"][()].reshape(200, -1)
    sa = a["pixel_position_reciprocal"][()].reshape(-1, 3)
    sb = b["pixel_position_reciprocal"][()].reshape(-1, 3)
    mask = b["mask"][()].ravel()
    assert np.array_equal(np.rint(ia), ib), f"{sys.argv[2]}: other images"
    err = np.abs(sa - sb).max() / np.abs(sa).max()
    assert err < 1e-6, f"{sys.argv[2]}: positions differ by {err:.2e} of the largest"
    want = np.ones(1600, dtype=bool)
    if sys.argv[3] == "dragonfly": want[600:620] = False
    if sys.argv[3] == "spire": want[10 * 40 + 5:10 * 40 + 15] = False
    assert np.array_equal(mask != 0, want), f"{sys.argv[2]}: other mask, {np.count_nonzero(mask)} usable"
    assert abs(b.attrs["photon_energy"] - a.attrs["photon_energy"]) < 1e-9 * a.attrs["photon_energy"]
    print(f"{sys.argv[2]}: images equal, positions within {err:.1e}, mask {np.count_nonzero(mask)} usable")
EOF
}

# Dragonfly's own files -> SpiniFEL.
"$spire" convert "$dir/py.emc" "$dir/from_py_emc.h5" --detector "$dir/py.dat" --photon-energy "$energy" --quiet
same_as_simulated "$dir/from_py_emc.h5" dragonfly
"$spire" convert "$dir/py_photons.h5" "$dir/from_py_h5.h5" --detector "$dir/py_det.h5" --photon-energy "$energy" \
  --block 7 --quiet
same_as_simulated "$dir/from_py_h5.h5" dragonfly

# SpiniFEL -> Dragonfly (with a mask file) -> SpiniFEL; the .emc parsed here as Dragonfly does.
"$spire" convert "$dir/d.h5" "$dir/d.emc" --mask "$dir/mask.h5" --block 33 --quiet
check "[ -s '$dir/d.det.h5' ]" "convert wrote the detector file next to the photons (d.det.h5)"
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import h5py, numpy as np, sys
d = sys.argv[1]
raw = np.fromfile(f"{d}/d.emc", dtype="i4")
num_data, num_pix, ftype = raw[:3]
assert (num_data, num_pix, ftype) == (200, 1600, 0) and not raw[3:256].any(), raw[:4]
ones, multi = raw[256:456], raw[456:656]
at = np.cumsum([656, ones.sum(), multi.sum()])
place_ones, place_multi, count_multi = raw[at[0]:at[1]], raw[at[1]:at[2]], raw[at[2]:]
assert len(count_multi) == multi.sum()
frames = np.zeros((200, 1600))
o, m = np.concatenate([[0], np.cumsum(ones)]), np.concatenate([[0], np.cumsum(multi)])
for i in range(200):
    frames[i, place_ones[o[i]:o[i + 1]]] = 1
    frames[i, place_multi[m[i]:m[i + 1]]] = count_multi[m[i]:m[i + 1]]
with h5py.File(f"{d}/d.h5", "r") as f, h5py.File(f"{d}/d.det.h5", "r") as det:
    assert np.array_equal(frames, f["intensities"][()].reshape(200, -1)), "d.emc holds other photons"
    s = f["pixel_position_reciprocal"][()].reshape(-1, 3)
    wavelength = 12398.419843320026e-10 / f.attrs["photon_energy"]
    q = np.stack([det[k][()] for k in ("qx", "qy", "qz")], axis=1)
    assert det["qx"].dtype == "f8" and det["mask"].dtype == "u1" and det["ewald_rad"].shape == ()
    err = np.abs(q / (det["ewald_rad"][()] * wavelength) - s).max() / np.abs(s).max()
    assert err < 1e-6, f"detector q differ by {err:.2e}"
    mask = det["mask"][()]
    assert set(np.flatnonzero(mask == 2)) == set(range(405, 415)) and not (mask == 1).any(), np.flatnonzero(mask)
    steps = np.linalg.norm(np.diff(q.reshape(40, 40, 3), axis=1), axis=2)
    print(f"d.emc: {ones.sum()} ones, {multi.sum()} multi, as simulated; ewald_rad {det['ewald_rad'][()]:.3f}, "
          f"neighbours {np.median(steps):.3f} voxels apart")
EOF
"$spire" convert "$dir/d.emc" "$dir/back_emc.h5" --detector "$dir/d.det.h5" --photon-energy "$energy" --quiet
same_as_simulated "$dir/back_emc.h5" spire
"$spire" convert "$dir/d.h5" "$dir/dh5.h5" --to dragonfly-h5 --detector-out "$dir/dh5.dat" --quiet
check "head -1 '$dir/dh5.dat' | grep -qE '^1600 [0-9.]+ [0-9.]+$'" "--detector-out .dat writes the text form"
"$spire" convert "$dir/dh5.h5" "$dir/back_h5.h5" --detector "$dir/dh5.dat" --photon-energy "$energy" --quiet
same_as_simulated "$dir/back_h5.h5" none

# Errors: exit 2 and a message naming the file and the fix.
expect_error() {  # WANT ARGS...: convert fails with exit 2 saying WANT
  local want=$1; shift
  local msg rc=0
  msg=$("$spire" convert "$@" 2>&1) || rc=$?
  check "[ $rc = 2 ] && grep -qF -- \"\$want\" <<< \"\$msg\"" "convert $* fails (exit 2) saying '$want': rc $rc, $msg"
}
expect_error "d.emc: exists (give --force to replace it)" "$dir/d.h5" "$dir/d.emc"
"$spire" convert "$dir/d.h5" "$dir/d.emc" --mask "$dir/mask.h5" --force --quiet
expect_error "--detector FILE" "$dir/d.emc" "$dir/x.h5"
python3 -c "
import numpy as np; n = np.zeros(256, 'i4'); n[:2] = (1, 1599); n.tofile('$dir/small.emc'); np.zeros(2, 'i4').tofile(open('$dir/small.emc', 'ab'))"
expect_error "small.emc: has num_pix 1599 but the detector file $dir/d.det.h5 has 1600" "$dir/small.emc" "$dir/x.h5" \
  --detector "$dir/d.det.h5" --photon-energy "$energy"
expect_error "data.photon_energy" "$dir/d.emc" "$dir/x.h5" --detector "$dir/d.det.h5"
expect_error "cannot tell the output format" "$dir/d.h5" "$dir/x.txt"
expect_error "is the input file" "$dir/d.h5" "$dir/d.h5" --force
"$spire" simulate --n-images 3 --detector-pixels 8 --noise none --volume-size 0 --out "$dir/float.h5" > /dev/null
expect_error "image 0, pixel" "$dir/float.h5" "$dir/float.emc"
check "[ ! -e '$dir/float.emc' ] && [ ! -e '$dir/float.det.h5' ] && ! ls '$dir' | grep -q tmp" \
  "a failed convert leaves no file and no temporary"

# The .emc (its detector carrying the mask) reconstructs to what the original file with
# data.mask reconstructs to (the same seed; no oracle: Dragonfly's files hold no orientations).
run="grid.n=21 generations.max=2 generations.stop_change=0 runtime.fft_planning=estimate phasing.loops=1
     phasing.final_average=1 output.half_maps=false merging.cg_iterations=15 orientations.references=500"
"$spire" reconstruct "$dir/d.h5" $run data.mask="$dir/mask.h5" --quiet --out "$dir/r_h5" 2> /dev/null
"$spire" reconstruct "$dir/d.emc" $run data.detector="$dir/d.det.h5" data.photon_energy="$energy" \
  --quiet --out "$dir/r_emc" 2> /dev/null
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import numpy as np, sys
d = sys.argv[1]
from maps import values as read  # tests/cli/maps.py, on PYTHONPATH
for name in ("intensity.mrc", "density.mrc"):
    a, b = read(f"{d}/r_h5/{name}"), read(f"{d}/r_emc/{name}")
    rel, corr = np.abs(a - b).max() / np.abs(a).max(), np.corrcoef(a, b)[0, 1]
    print(f"{name}: .emc vs .h5 largest difference {rel:.2e} of the largest value, correlation {corr:.8f}")
    if not corr > 0.999:
        sys.exit(f"FAILED: the .emc reconstructs to another {name} (correlation {corr})")
EOF
echo "dragonfly.sh passed"
