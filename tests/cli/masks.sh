#!/usr/bin/env bash
# Usage: masks.sh SPIRE. Detector data as facilities deliver it (issue 15): a 'mask' dataset
# (psana's convention, 1 = usable), NaN bad pixels in single images, dark-subtracted
# (slightly negative) intensities, a --mask file and a resolution range.
#  - spire info counts the usable pixels, the bad and the negative values;
#  - a masked pixel's value has no influence: garbage there gives bit-identical maps;
#  - a pixel excluded by --mask is excluded like one the file masks (identical maps);
#  - a run reports what it used in its log and summary.json;
#  - orientations.metric=poisson on negative data is refused before any work, naming the setting.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 150 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 17 --out "$dir/clean.h5" > /dev/null
python3 - "$dir" <<'EOF2'
import h5py, numpy as np, sys, shutil
d = sys.argv[1]
rng = np.random.default_rng(3)
with h5py.File(f"{d}/clean.h5", "r") as f:
    images = f["intensities"][()]                       # (N,1,H,W) float32
n, _, H, W = images.shape
rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
beamstop = (rows - H / 2 + 0.5) ** 2 + (cols - W / 2 + 0.5) ** 2 < 3 ** 2
mask = (~beamstop).astype(np.int16)[None]               # (1,H,W), 1 = usable
mask[0, 5, :] = 0                                       # a dead row
dark = images - 0.02 * images.mean()                    # dark-subtracted: some values below 0
bad = rng.random(images.shape) < 0.01                   # 1% NaN, per image
for name, values in (("masked", dark), ("garbage", dark)):
    shutil.copy(f"{d}/clean.h5", f"{d}/{name}.h5")
    v = values.copy()
    v[bad] = np.nan
    if name == "garbage":                               # other values where the mask excludes
        v[:, mask == 0] = rng.normal(1e6, 1e5, size=v[:, mask == 0].shape)
    with h5py.File(f"{d}/{name}.h5", "r+") as f:
        f["intensities"][...] = v.astype(np.float32)
        f["mask"] = mask
# The same mask as a separate file, on the data without one.
shutil.copy(f"{d}/masked.h5", f"{d}/nomask.h5")
with h5py.File(f"{d}/nomask.h5", "r+") as f:
    del f["mask"]
with h5py.File(f"{d}/mask_file.h5", "w") as f:
    f["mask"] = mask[0].astype(np.uint8)                # (H,W) for one panel
EOF2
read -r n_bad n_negative n_usable < <(python3 - "$dir" <<'EOF2'
import h5py, numpy as np, sys
with h5py.File(f"{sys.argv[1]}/masked.h5", "r") as f:
    v, m = f["intensities"][()], f["mask"][()]
u = v[:, m == 1]
print(int(np.isnan(u).sum()), int((u < 0).sum()), int((m == 1).sum()))
EOF2
)

info=$("$spire" info --check-all "$dir/masked.h5")
for want in "mask          $n_usable of 1024 pixels usable" "bad values    $n_bad NaN/Inf" "negative      $n_negative values below 0"; do
  check "grep -qF -- '$want' <<< \"\$info\"" "spire info shows '$want': $info"
done
info=$("$spire" info --check-all "$dir/nomask.h5" --mask "$dir/mask_file.h5")
check "grep -qF 'mask          $n_usable of 1024 pixels usable' <<< \"\$info\"" "--mask applies the file's mask: $info"

run="grid.n=17 orientations.references=200 generations.max=2 runtime.fft_planning=estimate phasing.loops=2
     output.half_maps=false output.every_generation=false"
"$spire" reconstruct "$dir/masked.h5" $run --quiet --out "$dir/r_masked" > "$dir/log" 2>&1 || { cat "$dir/log"; exit 1; }
"$spire" reconstruct "$dir/garbage.h5" $run --quiet --out "$dir/r_garbage"
"$spire" reconstruct "$dir/nomask.h5" $run --mask "$dir/mask_file.h5" --quiet --out "$dir/r_file"
for f in density.mrc autocorrelation.mrc; do
  check "cmp -s '$dir/r_masked/$f' '$dir/r_garbage/$f'" "the values at masked pixels changed $f"
  check "cmp -s '$dir/r_masked/$f' '$dir/r_file/$f'" "--mask gives another $f than the file's own mask"
done
python3 - "$dir" "$n_usable" "$n_bad" "$n_negative" <<'EOF2'
import json, sys
d, usable, bad, negative = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = json.load(open(f"{d}/r_masked/summary.json"))
want = {"pixels_used": usable, "detector_pixels": 1024, "bad_values": bad, "negative_values": negative,
        "photon_counts": False, "orientations_metric": "euclidean", "orientations_assignment": "hard"}
for k, v in want.items():
    if s.get(k) != v:
        sys.exit(f"FAILED: summary.json {k} = {s.get(k)}, expected {v}")
print("summary.json:", {k: s[k] for k in want})
EOF2

# A resolution range leaves out more pixels (the beamstop's shadow and the corners).
"$spire" reconstruct "$dir/masked.h5" $run data.resolution_low=200 data.resolution_high=12 --quiet --out "$dir/r_range"
python3 - "$dir" "$n_usable" <<'EOF2'
import json, sys
s = json.load(open(f"{sys.argv[1]}/r_range/summary.json"))
if not 0 < s["pixels_used"] < int(sys.argv[2]):
    sys.exit(f"FAILED: data.resolution_low/high kept {s['pixels_used']} pixels of {sys.argv[2]}")
EOF2

# Poisson on negative values: refused before any work, naming the setting.
if "$spire" reconstruct "$dir/masked.h5" $run orientations.metric=poisson --quiet --out "$dir/r_poisson" > "$dir/err" 2>&1; then
  echo "FAILED: poisson on negative intensities ran"; exit 1
fi
check "grep -q 'orientations.metric = poisson needs photon counts' '$dir/err'" "the refusal names the setting: $(cat "$dir/err")"
echo "masks: $n_usable usable pixels, $n_bad bad and $n_negative negative values; masked values have no influence"
