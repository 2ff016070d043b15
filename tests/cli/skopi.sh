#!/usr/bin/env bash
# Usage: skopi.sh SPIRE. Files as skopi writes them for SpiniFEL (examples/scripts/
# sim_spinifel.py): a 1-panel spire dataset is rewritten with h5py as 4 quadrant panels in
# skopi's layout and dtypes (float32 intensities (N,4,H,W), float64 positions (4,H,W,3),
# int64 pixel_index_map (4,H,W,2), float64 polarization and solid_angle, float64
# orientations (N,1,4), a complex128 volume, beam_offsets, fluences, skopi's attributes).
# spire info lists the panels, the fluences and what it ignores; both files reconstruct (oracle
# orientations) to the same maps. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 200 --detector-pixels 40 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/one.h5" > /dev/null
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import h5py, numpy as np, sys
d = sys.argv[1]
with h5py.File(f"{d}/one.h5", "r") as src, h5py.File(f"{d}/quad.h5", "w") as f:
    images = src["intensities"][()]                    # (N,1,H,W) float32
    n, _, H, W = images.shape
    h, w = H // 2, W // 2
    def panels(a):                                      # (1,H,W,...) -> (4,h,w,...), quadrants row-major
        return np.stack([a[0, r * h:(r + 1) * h, c * w:(c + 1) * w] for r in (0, 1) for c in (0, 1)])
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    index = np.stack([rows, cols], axis=-1)[None].astype(np.int64)
    f["pixel_position_reciprocal"] = panels(src["pixel_position_reciprocal"][()].astype(np.float64))
    f["volume"] = (np.random.default_rng(1).random((21, 21, 21)) * (1 + 1j)).astype(np.complex128)
    f["pixel_index_map"] = panels(index)
    f["orientations"] = src["orientations"][()].reshape(n, 1, 4).astype(np.float64)
    f["polarization"] = panels(src["polarization"][()].astype(np.float64))
    f["solid_angle"] = panels(src["solid_angle"][()].astype(np.float64))
    out = f.create_dataset("intensities", shape=(n, 4, h, w), dtype="f4")   # skopi: no dtype, h5py's default f4
    out[...] = np.stack([images[:, 0, r * h:(r + 1) * h, c * w:(c + 1) * w] for r in (0, 1) for c in (0, 1)], axis=1)
    f["beam_offsets"] = np.zeros((n, 2))
    f["fluences"] = np.full(n, 1e14)
    q = f["pixel_position_reciprocal"][()]
    f.attrs["reciprocal_extent"] = np.linalg.norm(q, axis=-1).max()
    f.attrs["n_images"] = n
    f.attrs["n_pixels_per_image"] = 4 * h * w
    f.attrs["det_shape"] = (4, h, w)
    f.attrs["det_distance"] = src.attrs["det_distance"]
    f.attrs["command_line"] = "sim_spinifel.py -b amo86615.beam -p 2cex.pdb -d pnccd ... (rewritten by skopi.sh)"
EOF

# spire info: the panels, the assembled picture, and each part it leaves out.
info=$("$spire" info --check-all "$dir/quad.h5")
for want in "200 of 4 panels of 20 x 20 pixels" "assembles a 40 x 40 picture" \
            "ignored       volume: has type complex128 (compound of 2 float64), expected numbers; not used" \
            "ignored       beam_offsets: float64 (200,2), not read by spire" \
            "fluences      1e+14 photons/pulse at the particle, spread 0 (0.0%), 1e+14 .. 1e+14" \
            "volume        not used (ignored below)" \
            "polarization  0.9"; do
  check "grep -qF -- '$want' <<< \"\$info\"" "spire info shows '$want': $info"
done
one=$("$spire" info --check-all "$dir/one.h5")
for what in "|s| range" "resolution" "photons       "; do
  check "[ \"\$(grep -F '$what' <<< \"\$one\")\" = \"\$(grep -F '$what' <<< \"\$info\")\" ]" \
    "the same $what for 1 and 4 panels: $(grep -F "$what" <<< "$one") / $(grep -F "$what" <<< "$info")"
done

# The same images and geometry, in another pixel order: the same maps up to round-off.
run="grid.n=21 orientations.oracle=true generations.max=2 generations.stop_change=0 runtime.fft_planning=estimate
     phasing.loops=2 output.half_maps=false"
for f in one quad; do
  "$spire" reconstruct "$dir/$f.h5" $run --reference "$dir/one_model.mrc" --quiet --out "$dir/r_$f"
done
PYTHONPATH="$(dirname "$0")" python3 - "$dir" <<'EOF'
import json, sys, numpy as np
d = sys.argv[1]
from maps import values as read  # tests/cli/maps.py, on PYTHONPATH
for name, tol in (("intensity.mrc", 1e-4), ("density.mrc", 1e-3)):
    a, b = read(f"{d}/r_one/{name}"), read(f"{d}/r_quad/{name}")
    rel = np.abs(a - b).max() / np.abs(a).max()
    print(f"{name}: largest difference {rel:.2e} of the largest value, correlation {np.corrcoef(a, b)[0, 1]:.8f}")
    if not rel < tol:
        sys.exit(f"FAILED: 4 panels give another {name} than 1 panel ({rel:.2e} >= {tol})")
s1, s4 = (json.load(open(f"{d}/r_{f}/summary.json")) for f in ("one", "quad"))
c1, c4 = s1["correlation_with_reference"], s4["correlation_with_reference"]
print(f"correlation with the model: 1 panel {c1:.6f}, 4 panels {c4:.6f}")
if not (abs(c1 - c4) < 1e-4 and c4 > 0.8):
    sys.exit("FAILED: the 4-panel reconstruction's correlation with the model differs")
EOF
echo "1 passed, 0 failed"
