#!/usr/bin/env bash
# Usage: resolution.sh SPIRE. spire resolution on a model map and a turned, mirrored copy of
# it (a quarter turn about z and the inversion, done here voxel by voxel, so the answer is
# known exactly), then its errors. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }
json() { python3 -c "import json; print(json.load(open('$1'))['$2'])"; }

# 8 keV: voxels of 2.9 A, so the test molecule spans some 10 voxels and has a shape to find.
"$spire" simulate --n-images 4 --detector-pixels 32 --noise none --volume-size 31 --photon-energy 8000 \
  --out "$dir/d.h5" > /dev/null
"$spire" simulate --n-images 4 --detector-pixels 32 --noise none --volume-size 21 --photon-energy 8000 \
  --out "$dir/small.h5" > /dev/null
python3 - "$dir" <<'EOF'
import struct, sys
d = sys.argv[1]
raw = open(f"{d}/d_model.mrc", "rb").read()
n = struct.unpack("<i", raw[0:4])[0]
hdr, vals = raw[:1024], struct.unpack(f"<{n**3}f", raw[1024:1024 + 4 * n**3])
c = n // 2
out = [0.0] * n**3
for z in range(n):
    for y in range(n):
        for x in range(n):
            # turned: t(x, y, z) = m(c + (y - c), c - (x - c), z); then inverted through c
            X, Y, Z = 2 * c - x, 2 * c - y, 2 * c - z
            out[x + n * (y + n * z)] = vals[(c + (Y - c)) + n * ((c - (X - c)) + n * Z)]
open(f"{d}/turned.mrc", "wb").write(hdr + struct.pack(f"<{n**3}f", *out))
# The same map with 10% larger voxels (cell, words 11-13), for the voxel-size check.
cell = struct.unpack("<3f", raw[40:52])
open(f"{d}/coarser.mrc", "wb").write(raw[:40] + struct.pack("<3f", *[1.1 * v for v in cell]) + raw[52:])
EOF

"$spire" resolution "$dir/d_model.mrc" "$dir/turned.mrc" --threads 2 --out "$dir/r" > "$dir/r.log"
for f in fsc.csv fsc.png fsc.svg aligned.mrc summary.json; do
  check "[ -s '$dir/r/$f' ]" "resolution wrote $f"
done
check "grep -q 'resolution at FSC 0.5' '$dir/r.log'" "prints the resolution: $(cat "$dir/r.log")"
corr=$(json "$dir/r/summary.json" correlation)
angle=$(json "$dir/r/summary.json" rotation_angle_deg)
inverted=$(json "$dir/r/summary.json" inverted)
check "python3 -c 'import sys; sys.exit(0 if $corr > 0.99 else 1)'" "aligned copy correlates (got $corr)"
check "python3 -c 'import sys; sys.exit(0 if abs($angle - 90) < 2 else 1)'" "quarter turn found (got $angle deg)"
check "[ '$inverted' = True ]" "inversion found (got $inverted)"
check "python3 -c \"import json; s = json.load(open('$dir/r/summary.json')); assert isinstance(s['resolution_fsc_0.5_angstrom'], float) and isinstance(s['resolution_fsc_0.143_beyond_grid_edge'], bool)\"" \
  "summary.json gives the resolution as a number and whether it is the grid's limit"
check "[ \$(head -1 '$dir/r/fsc.csv') = 'shell,frequency_inv_angstrom,resolution_angstrom,fsc,voxels' ]" "fsc.csv header"

# Translation and hand only: the turn stays, so the copy fits worse.
"$spire" resolution "$dir/d_model.mrc" "$dir/turned.mrc" --no-rotation --quiet --out "$dir/t"
corr_t=$(json "$dir/t/summary.json" correlation)
check "python3 -c 'import sys; sys.exit(0 if $corr_t < $corr - 0.01 else 1)'" "--no-rotation fits worse ($corr_t vs $corr)"

# Bad input: a clear error naming the file, exit code 2, nothing written.
expect_error() {  # ARGS... ; the message must name $want
  set +e
  msg=$("$spire" resolution "$@" --out "$dir/x" 2>&1); rc=$?
  set -e
  check "[ $rc -eq 2 ] && grep -q '$want' <<< \"\$msg\"" "$what: rc $rc, '$msg'"
}
want=missing.mrc what="missing file" expect_error "$dir/d_model.mrc" "$dir/missing.mrc"
echo "not a map" > "$dir/text.mrc"
want=text.mrc what="corrupt file" expect_error "$dir/text.mrc" "$dir/d_model.mrc"
check "[ ! -e '$dir/x' ]" "a rejected run writes nothing"

# A reference of another box or voxel size is resampled onto the map's grid.
msg=$("$spire" resolution "$dir/small_model.mrc" "$dir/d_model.mrc" --orientations 300 --out "$dir/s" 2>&1)
check "grep -q 'resampled onto this grid' <<< \"\$msg\"" "another box: resampled: '$msg'"
corr_s=$(json "$dir/s/summary.json" correlation)
check "python3 -c 'import sys; sys.exit(0 if $corr_s > 0.95 else 1)'" "another box (21^3 against 31^3) correlates (got $corr_s)"
msg=$("$spire" resolution "$dir/coarser.mrc" "$dir/d_model.mrc" --orientations 300 2>&1)
check "grep -q 'resampled onto this grid' <<< \"\$msg\"" "another voxel size: resampled: '$msg'"
set +e
msg=$("$spire" resolution "$dir/d_model.mrc" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'give two maps' <<< \"\$msg\"" "one map, no --reference-pdb: rc $rc, '$msg'"

# Maps that hold no comparable density: NaN or Inf voxels, all zero, constant. Each is named
# with its file, with and without the rotation search.
python3 - "$dir" <<'EOF'
import struct, sys
d = sys.argv[1]
raw = open(f"{d}/d_model.mrc", "rb").read()
n = struct.unpack("<i", raw[0:4])[0]
hdr, vals = raw[:1024], list(struct.unpack(f"<{n**3}f", raw[1024:1024 + 4 * n**3]))
def write(name, v): open(f"{d}/{name}.mrc", "wb").write(hdr + struct.pack(f"<{n**3}f", *v))
v = vals[:]; v[5 + n * (2 + n * 3)] = float("nan"); write("nanvoxel", v)
v = vals[:]; v[7] = float("-inf"); write("infvoxel", v)
write("zeros", [0.0] * n**3)
write("constant", [2.5] * n**3)
mean = sum(vals) / len(vals)
write("zeromean", [x - mean for x in vals])
write("negated", [mean - x for x in vals])
EOF
for rot in "" --no-rotation; do
  want="nanvoxel.mrc: voxel (x 5, y 2, z 3) is nan" what="NaN voxel $rot" expect_error "$dir/d_model.mrc" "$dir/nanvoxel.mrc" $rot
  want="infvoxel.mrc: voxel (x 7, y 0, z 0) is -inf" what="Inf voxel $rot" expect_error "$dir/infvoxel.mrc" "$dir/d_model.mrc" $rot
  want="zeros.mrc: every voxel is 0" what="all-zero map $rot" expect_error "$dir/d_model.mrc" "$dir/zeros.mrc" $rot
  want="constant.mrc: every voxel is 2.5" what="constant map $rot" expect_error "$dir/d_model.mrc" "$dir/constant.mrc" $rot
done
check "[ ! -e '$dir/x' ]" "a rejected map writes nothing"
# Zero-mean maps of opposite sign correlate at no shell: no resolution, never "inf A" (the
# rotation search finds some weak fit, a number).
msg=$("$spire" resolution "$dir/zeromean.mrc" "$dir/negated.mrc" --no-rotation 2>&1)
check "grep -q 'resolution at FSC 0.5: none (below the threshold from the first shell' <<< \"\$msg\" && ! grep -q 'inf A' <<< \"\$msg\"" \
  "uncorrelated maps: '$msg'"
msg=$("$spire" resolution "$dir/zeromean.mrc" "$dir/negated.mrc" --orientations 50 2>&1)
check "! grep -q 'inf A' <<< \"\$msg\"" "uncorrelated maps, rotation search: '$msg'"
echo "1 passed, 0 failed"
