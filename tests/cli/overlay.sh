#!/usr/bin/env bash
# Usage: overlay.sh SPIRE. Maps that overlay the model (issue 17), checked from the MRC
# headers alone, as ChimeraX places maps (maps.py, numpy, no spire code): a fixture PDB far
# from the origin; spire simulate's model map sits on its atoms; reconstruct's
# density_aligned.mrc overlays the model map (density.mrc, in the reconstruction's own
# frame, need not); intensity.mrc's label gives its reciprocal voxel; spire resolution
# against a PDB and against a model of another voxel and box gives the same FSC as against
# the model on the map's grid. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
maps="python3 $(dirname "$0")/maps.py"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }
json() { python3 -c "import json; print(json.load(open('$1'))['$2'])"; }
near() { python3 -c "import sys; sys.exit(0 if abs($1 - ($2)) <= $3 else 1)"; }

centroid=$($maps pdb "$dir/far.pdb" 70 -40 55)
"$spire" simulate --pdb "$dir/far.pdb" --n-images 300 --detector-pixels 48 --photons 1e14 --beam-radius 0.1e-6 \
  --noise none --volume-size 31 --out "$dir/data.h5" > "$dir/simulate.log"
read -r cx cy cz <<< "$centroid"
check "grep -q \"centroid ($(printf '%.3f, %.3f, %.3f' $cx $cy $cz)) A\" '$dir/simulate.log'" \
  "simulate prints the atoms' centroid $centroid: $(cat "$dir/simulate.log")"
check "\"$spire\" info '$dir/data.h5' | grep 'model centroid ($(printf '%.3f, %.3f, %.3f' $cx $cy $cz)) A' > /dev/null" \
  "the dataset records the centroid (model_centroid_angstrom)"
# The model map's density, placed by its header, is where the atoms are (within a voxel).
read -r ox oy oz voxel <<< "$($maps header "$dir/data_model.mrc" | sed -n 1p)"
check "near $ox '$cx - 15 * $voxel' 1e-3 && near $oz '$cz - 15 * $voxel' 1e-3" \
  "the model map's origin is the centroid less the box centre: $ox $oy $oz"
read -r mx my mz <<< "$($maps centroid "$dir/data_model.mrc")"
check "near $mx $cx $voxel && near $my $cy $voxel && near $mz $cz $voxel" \
  "the model map's density ($mx $my $mz) overlays the atoms ($centroid)"

run="grid.n=31 orientations.oracle=true generations.stop_change=0 runtime.fft_planning=estimate"
"$spire" reconstruct "$dir/data.h5" $run generations.max=1 output.half_maps=false --out "$dir/r" > "$dir/r.log"
check "grep -q 'density_aligned.mrc' '$dir/r.log' && [ \"\$(json '$dir/r/summary.json' density_aligned | grep -c density_aligned.mrc)\" = 1 ]" \
  "the wrote line and summary.json name density_aligned.mrc"
reported=$(json "$dir/r/summary.json" correlation_with_reference)
aligned=$($maps overlay "$dir/data_model.mrc" "$dir/r/density_aligned.mrc")
plain=$($maps overlay "$dir/data_model.mrc" "$dir/r/density.mrc")
echo "header-only overlay correlation with the model map: density.mrc $plain, density_aligned.mrc $aligned (reported $reported)"
check "python3 -c 'import sys; sys.exit(0 if $aligned >= $reported - 0.02 and $reported > 0.9 else 1)'" \
  "density_aligned.mrc overlays the model by its header: $aligned, the alignment reported $reported"
check "$maps header '$dir/r/density_aligned.mrc' | sed -n 1p | grep -q \"^$ox $oy $oz\"" \
  "density_aligned.mrc has the model map's origin"

# intensity.mrc: its voxels are frequency indices; a label gives their size in 1/A.
inverse=$(json "$dir/r/summary.json" intensity_voxel_inverse_angstrom)
check "$maps header '$dir/r/intensity.mrc' | grep \"reciprocal voxel 1/(n voxel) = $(printf '%.6g' "$inverse") 1/A\" > /dev/null" \
  "intensity.mrc's label gives the reciprocal voxel $inverse: $($maps header "$dir/r/intensity.mrc")"

# spire resolution: the model map from the PDB, and a model of another voxel and box
# (a closer detector: finer voxels; 61^3), resampled, give the FSC of the model on the grid.
fsc() { python3 -c "import csv; print(' '.join(r['fsc'] for r in csv.DictReader(open('$1/fsc.csv'))))"; }
same_fsc() {  # same_fsc DIR_A DIR_B TOLERANCE
  python3 -c "import sys; a, b = [[float(v) for v in s.split()] for s in sys.argv[1:3]]; sys.exit(0 if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= $3 else 1)" \
    "$(fsc "$1")" "$(fsc "$2")"
}
"$spire" resolution "$dir/data_model.mrc" "$dir/r/density.mrc" --quiet --out "$dir/grid"
"$spire" resolution --reference-pdb "$dir/far.pdb" "$dir/r/density.mrc" --quiet --out "$dir/pdb"
check "same_fsc '$dir/grid' '$dir/pdb' 1e-4" "--reference-pdb gives the model map's FSC: $(fsc "$dir/pdb") vs $(fsc "$dir/grid")"
check "[ \"\$($maps overlay '$dir/data_model.mrc' '$dir/pdb/aligned.mrc')\" = \"\$($maps overlay '$dir/data_model.mrc' '$dir/grid/aligned.mrc')\" ]" \
  "aligned.mrc against the PDB overlays the model map as against the map"
"$spire" simulate --pdb "$dir/far.pdb" --n-images 1 --detector-pixels 48 --detector-distance 0.1 --noise none \
  --volume-size 61 --out "$dir/fine.h5" --quiet
"$spire" resolution "$dir/fine_model.mrc" "$dir/r/density.mrc" --out "$dir/fine" > "$dir/fine.log"
check "grep -q 'resampled onto this grid' '$dir/fine.log'" "a finer model is resampled: $(cat "$dir/fine.log")"
check "same_fsc '$dir/grid' '$dir/fine' 0.03" "a finer model of another box gives the grid model's FSC: $(fsc "$dir/fine") vs $(fsc "$dir/grid")"
fine_overlay=$($maps overlay "$dir/data_model.mrc" "$dir/fine/aligned.mrc")
check "python3 -c 'import sys; sys.exit(0 if $fine_overlay >= $reported - 0.02 else 1)'" \
  "aligned.mrc against the resampled model overlays the model: $fine_overlay"
echo "1 passed, 0 failed"
