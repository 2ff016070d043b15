#!/usr/bin/env bash
# Usage: errors.sh SPIRE. The exit codes of README "Commands" and the checks of issue 19
# item 8: parse and filesystem errors are user errors (2); stale temporary files of a killed
# writer are cleaned; --quiet prints nothing; pixel positions not in 1/m, a stray PDB atom and
# a float64 value beyond float32 are named. Data files are written with h5py, as other tools
# write them. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }
run() { set +e; msg=$("$spire" "$@" 2>&1); rc=$?; set -e; }
# expect RC PATTERN WHAT ARGS...: spire ARGS exits RC and its output matches PATTERN.
expect() {
  local want_rc=$1 pattern=$2 what=$3; shift 3
  run "$@"
  check "[ $rc -eq $want_rc ] && grep -q -- \"$pattern\" <<< \"\$msg\"" "$what: rc $rc (want $want_rc), '$msg'"
}

# --- exit codes: 0 done, 2 user error (command line included) --------------------------
expect 0 "^spire " "--version" --version
expect 0 "simulate" "--help" --help
expect 0 "--n-images" "simulate --help" simulate --help
expect 2 "A subcommand is required" "no subcommand"
expect 2 "nosuch" "unknown subcommand" nosuch
expect 2 "--bogus" "unknown option" resolution a.mrc b.mrc --bogus
expect 2 "n-images" "malformed number" simulate --n-images abc
expect 2 "n-images" "number out of range" simulate --n-images 0
expect 2 "nosuch.pdb" "missing file option" simulate --pdb "$dir/nosuch.pdb"

sim="simulate --n-images 4 --detector-pixels 32 --noise none --photon-energy 8000"
"$spire" $sim --volume-size 15 --out "$dir/m.h5" > /dev/null
echo "a file" > "$dir/afile"
expect 2 "error: .*afile/sub" "output folder under a file" resolution "$dir/m_model.mrc" "$dir/m_model.mrc" \
  --orientations 20 --out "$dir/afile/sub"
check "! grep -q 'unexpected' <<< \"\$msg\"" "a filesystem error is a user error: '$msg'"
expect 2 "error: .*afile/d.h5" "dataset under a file" $sim --volume-size 0 --out "$dir/afile/d.h5"

# --- stale temporary files: a killed writer's (its pid gone) are removed on the next write
# of the same file; a live process's are left alone -------------------------------------
true & dead=$!
wait $dead
mkdir "$dir/r"
stale=("$dir/s.h5.tmp-$dead" "$dir/s_model.mrc.tmp-$dead" "$dir/r/summary.json.tmp-$dead" "$dir/r/fsc.csv.tmp-$dead"
       "$dir/r/aligned.mrc.tmp-$dead")
for f in "${stale[@]}" "$dir/s.h5.tmp-$$"; do echo partial > "$f"; done
"$spire" $sim --volume-size 15 --out "$dir/s.h5" > /dev/null
"$spire" resolution "$dir/s_model.mrc" "$dir/m_model.mrc" --orientations 20 --quiet --out "$dir/r"
for f in "${stale[@]}"; do check "[ ! -e '$f' ]" "stale $f removed"; done
check "[ -e '$dir/s.h5.tmp-$$' ]" "a live process's temporary file is kept"
rm "$dir/s.h5.tmp-$$"

# --- --quiet: nothing on stdout or stderr ---------------------------------------------
expect 0 "^$" "simulate --quiet" $sim --volume-size 15 --out "$dir/q.h5" --quiet
check "[ -z \"\$msg\" ] && [ -s '$dir/q.h5' ] && [ -s '$dir/q_model.mrc' ]" "simulate --quiet printed '$msg'"
expect 0 "^$" "resolution --quiet" resolution "$dir/q_model.mrc" "$dir/m_model.mrc" --orientations 20 --quiet \
  --out "$dir/rq"
check "[ -z \"\$msg\" ] && [ -s '$dir/rq/summary.json' ]" "resolution --quiet printed '$msg'"

# --- input a user gets wrong -----------------------------------------------------------
python3 - "$dir" <<'EOF'
import h5py, numpy as np, sys
d = sys.argv[1]
src = h5py.File(f"{d}/m.h5", "r")
def copy(name, change):
    with h5py.File(f"{d}/{name}", "w") as f:
        for k in src.keys():
            f[k] = src[k][()]
        for k, v in src.attrs.items():
            f.attrs[k] = v
        change(f)
def replace(f, key, value):
    del f[key]
    f[key] = value
# pixel positions in 1/Angstrom instead of 1/m
copy("per_angstrom.h5", lambda f: replace(f, "pixel_position_reciprocal", f["pixel_position_reciprocal"][()] * 1e-10))
# a float64 value beyond float32 in the images and in the geometry
def big_image(f):
    i = f["intensities"][()].astype(np.float64)
    i[2, 0, 3, 4] = 1e300
    replace(f, "intensities", i)
copy("big_image.h5", big_image)
def big_geometry(f):
    q = f["pixel_position_reciprocal"][()].astype(np.float64)
    q[0, 5, 6, 2] = 1e300
    replace(f, "pixel_position_reciprocal", q)
copy("big_geometry.h5", big_geometry)
# a PDB model with one atom 9999 A away
lines = []
for i in range(60):
    x, y, z = (i % 4) * 3.8, (i // 4 % 4) * 3.8, (i // 16) * 3.8
    lines.append("ATOM  %5d  CA  GLY A%4d    %8.3f%8.3f%8.3f  1.00 20.00           C  " % (i + 1, i + 1, x, y, z))
lines.append("HETATM%5d  O   HOH A 901    %8.3f%8.3f%8.3f  1.00 20.00           O  " % (61, 9999.0, 0.0, 0.0))
open(f"{d}/far.pdb", "w").write("\n".join(lines) + "\nEND\n")
open(f"{d}/near.pdb", "w").write("\n".join(lines[:-1]) + "\nEND\n")
EOF
unit="per_angstrom.h5: dataset 'pixel_position_reciprocal': pixel_position_reciprocal looks like it is not in 1/m (max |q| = "
expect 2 "$unit" "pixel positions in 1/A (info)" info "$dir/per_angstrom.h5"
expect 2 "$unit" "pixel positions in 1/A (reconstruct)" reconstruct "$dir/per_angstrom.h5" grid.n=15 --quiet \
  --out "$dir/pa"
expect 2 "big_image.h5: dataset 'intensities': image 2 pixel (row 3, column 4): value 1e+300 does not fit in float32" \
  "float64 1e300 in the images" info "$dir/big_image.h5"
check "! grep -q inf <<< \"\$msg\"" "1e300 is not reported as inf: '$msg'"
expect 2 "big_geometry.h5: dataset 'pixel_position_reciprocal': pixel (row 5, column 6) component 2: value 1e+300 does not fit in float32" \
  "float64 1e300 in the geometry" info "$dir/big_geometry.h5"
expect 2 "far.pdb:61: .*HOH.* is 99.. A from the centre" "stray atom" $sim --volume-size 0 --pdb "$dir/far.pdb" \
  --out "$dir/far.h5"
check "! grep -q tolerance <<< \"\$msg\"" "a stray atom does not blame the tolerance: '$msg'"
expect 0 "" "the same model without the stray atom" $sim --volume-size 0 --pdb "$dir/near.pdb" --out "$dir/near.h5"
# --- files libhdf5 1.10 itself crashes or loops on (fuzz/hdf5_findings): read first in a
# separate process, so each is an error naming the file (before: rc 139, or no end) --------
findings="$(dirname "$0")/../../fuzz/hdf5_findings"
segv="$findings/segv-group-btree-detector-3b6c4848.h5"
expect 2 "$segv: reading the file crashed (signal 11" "HDF5 crash in info" info "$segv"
expect 2 "$segv: reading the file crashed (signal 11" "HDF5 crash in reconstruct" reconstruct "$segv" --quiet \
  --out "$dir/segv"
expect 2 "$segv: reading the file crashed (signal 11" "HDF5 crash in convert" convert "$segv" "$dir/segv.h5"
loop="$findings/hang-vlen-attribute-1.h5"
export SPIRE_PROBE_SECONDS=2
expect 2 "$loop: reading the file's structure did not finish in 2 s" "HDF5 endless loop" info "$loop"
unset SPIRE_PROBE_SECONDS
echo "1 passed, 0 failed"
