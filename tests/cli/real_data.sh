#!/usr/bin/env bash
# Usage: real_data.sh SPIRE. spire simulate's cases of real data (simulate.hpp, issue 15):
# 4 panels with a gap, a beamstop, NaN bad pixels and a Gaussian focus, checked with h5py
# against their definitions (the gap's rows and columns in no panel, the beamstop's pixels
# 0 and masked, round(fraction x usable) NaN per image, fluences / photons_per_pulse with the
# analytic mean of the focus profile); spire info's lines agree with the file; spire
# reconstruct loads the file and runs. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

out=$("$spire" simulate --n-images 400 --detector-pixels 40 --photons 1e14 --beam-radius 0.1e-6 --volume-size 21 \
  --panels 4 --gap 2 --beamstop-radius 3 --bad-pixels 0.01 --focus-fwhm 1e-6 --out "$dir/real.h5")
for want in "4 panels, 1444 pixels, 12 behind the beamstop, 14 NaN per image" "fluence at the particle: 0.3"; do
  check "grep -qF -- '$want' <<< \"\$out\"" "spire simulate prints '$want': $out"
done
info=$("$spire" info --check-all "$dir/real.h5")
echo "$info"

python3 - "$dir/real.h5" "$info" <<'EOF'
import h5py, math, numpy as np, sys
path, info = sys.argv[1], sys.argv[2]
def fail(why):
    sys.exit(f"FAILED: {why}")
with h5py.File(path, "r") as f:
    images, index, mask = f["intensities"][()], f["pixel_index_map"][()], f["mask"][()]
    fluences, photons = f["fluences"][()], f.attrs["photons_per_pulse"]
n, P, H, W = images.shape
if (P, H, W) != (4, 19, 19) or index.shape != (4, 19, 19, 2) or mask.dtype != np.uint8:
    fail(f"layout {images.shape}, index map {index.shape}, mask {mask.dtype}")
rows, cols = index[..., 0].ravel(), index[..., 1].ravel()
if np.any((rows >= 19) & (rows < 21)) or np.any((cols >= 19) & (cols < 21)):
    fail("a panel pixel in the gap (rows or columns 19, 20)")
if len(set(zip(rows, cols))) != 38 * 38:
    fail("the panels do not cover the 40 x 40 square less the gap once each")
# The beamstop: pixel centres within 3 pixels of the square's centre (19.5, 19.5).
shadow = np.hypot(rows - 19.5, cols - 19.5) <= 3
flat_mask, flat = mask.ravel(), images.reshape(n, -1)
if not np.array_equal(flat_mask == 0, shadow):
    fail(f"mask 0 at {np.sum(flat_mask == 0)} pixels, the beamstop covers {shadow.sum()}")
if np.any(flat[:, shadow] != 0):
    fail("a beamstop pixel is not 0")
usable = int(flat_mask.sum())
nan = np.isnan(flat).sum(axis=1)
want = round(0.01 * usable)
if np.any(nan != want) or np.any(np.isnan(flat[:, shadow])):
    fail(f"NaN per image {nan.min()}..{nan.max()}, want {want} among the usable pixels")
# Uniform over the disc of radius FWHM: f = 2^(-4u), mean (1 - 1/16) / (4 ln 2), spread
# sqrt((1 - 1/256) / (8 ln 2) - mean^2).
a = 4 * math.log(2)
mean, sd = (1 - math.exp(-a)) / a, math.sqrt((1 - math.exp(-2 * a)) / (2 * a) - ((1 - math.exp(-a)) / a) ** 2)
rel = fluences / photons
print(f"fluence / peak: mean {rel.mean():.4f} (analytic {mean:.4f} +- {sd / math.sqrt(n):.4f}), "
      f"spread {rel.std():.4f} (analytic {sd:.4f}), {rel.min():.4f} .. {rel.max():.4f}")
if abs(rel.mean() - mean) > 4 * sd / math.sqrt(n) or rel.min() < 1 / 16 or rel.max() > 1:
    fail("fluences do not follow the focus profile")
for line in (f"mask          {usable} of 1444 pixels usable",
             f"bad values    {n * want} NaN/Inf in {n} images",
             f"fluences      {fluences.mean():.4g} photons/pulse at the particle, spread {fluences.std():.3g} "
             f"({100 * fluences.std() / fluences.mean():.1f}%), {fluences.min():.4g} .. {fluences.max():.4g}",
             "400 of 4 panels of 19 x 19 pixels", "assembles a 40 x 40 picture"):
    if line not in info:
        fail(f"spire info lacks '{line}'")
EOF

# The loop reads the file: masked pixels and NaN left out, the run completes.
"$spire" reconstruct "$dir/real.h5" grid.n=21 orientations.oracle=true generations.max=1 generations.stop_change=0 \
  runtime.fft_planning=estimate phasing.loops=2 output.half_maps=false --quiet --out "$dir/run"
check "[ -f '$dir/run/summary.json' ]" "spire reconstruct on the simulated real-data file wrote no summary.json"
echo "1 passed, 0 failed"
