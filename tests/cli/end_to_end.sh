#!/usr/bin/env bash
# Usage: end_to_end.sh SPIRE. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" --version | grep -q "^spire "
"$spire" simulate --n-images 300 --detector-pixels 48 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 31 --out "$dir/data.h5" > "$dir/simulate.log"
check "[ -f '$dir/data.h5' ] && [ -f '$dir/data_model.mrc' ]" "simulate wrote the dataset and the model map"
"$spire" info --check-all "$dir/data.h5" | grep -q "300 of 48 x 48"

run="grid.n=31 orientations.oracle=true generations.stop_change=0 runtime.fft_planning=estimate phasing.final_average=2"
"$spire" reconstruct "$dir/data.h5" $run generations.max=2 --quiet --out "$dir/r"
for f in density.mrc intensity.mrc autocorrelation.mrc fsc.csv fsc.png fsc.svg density_slices.png density_slices.svg \
         intensity_slices.png intensity_slices.svg convergence.png convergence.svg coverage.png coverage.svg orientations.csv \
         half_1.mrc half_2.mrc orientations.h5 checkpoint.h5 settings.toml summary.json generations/000/density.mrc \
         generations/000/intensity.mrc generations/000/autocorrelation.mrc generations/001/density.mrc; do
  check "[ -s '$dir/r/$f' ]" "reconstruct wrote $f"
done
check "[ ! -e '$dir/r/generations/002' ] && ! ls '$dir/r' | grep -q tmp" "no extra generation, no temporary files"
corr=$(python3 -c "import json,sys; print(json.load(open('$dir/r/summary.json'))['correlation_with_reference'])")
check "python3 -c 'import sys; sys.exit(0 if $corr > 0.9 else 1)'" "oracle reconstruction correlates with the model (got $corr)"
check "python3 -c \"import json; t = json.load(open('$dir/r/summary.json'))['totals']; assert t['generations'] == 2 and t['merging_s'] > 0\"" \
  "summary.json has the totals per stage"
check "python3 -c \"import json; assert json.load(open('$dir/r/summary.json'))['local_tolerance'] == 1e-5\"" \
  "noise-free images: the local slices at slicing.tolerance (orientations.local_tolerance = 0, auto)"
check "[ \$(head -1 '$dir/r/fsc.csv') = 'shell,frequency_inv_angstrom,resolution_angstrom,fsc_reference,fsc_half_data,voxels' ]" \
  "fsc.csv holds the FSC against the model and the half-data FSC"
check "python3 -c \"import json; s = json.load(open('$dir/r/summary.json')); assert s['final_phasing']['runs_averaged'] == 2; assert s['half_data']['correlation'] > 0.8; assert all(isinstance(s[f'resolution_{w}fsc_{t}_angstrom'], float) and isinstance(s[f'resolution_{w}fsc_{t}_beyond_grid_edge'], bool) for w in ('', 'half_data_') for t in ('0.5', '0.143'))\"" \
  "summary.json reports the averaged phasing and the half-data FSC, resolutions as numbers"

# Resume: 1 generation + 1 more from the checkpoint give what 2 straight give, bit for bit
# (lighter runs: fewer CG iterations and phasing loops).
light="$run merging.cg_iterations=15 phasing.loops=2 output.half_maps=false"
"$spire" reconstruct "$dir/data.h5" $light generations.max=2 --quiet --out "$dir/straight"
"$spire" reconstruct "$dir/data.h5" $light generations.max=1 --quiet --out "$dir/resumed"
"$spire" reconstruct --resume "$dir/resumed" generations.max=2 --quiet
check "[ -s '$dir/resumed/generations/001/density.mrc' ]" "the resumed run wrote generation 1"
for f in density.mrc intensity.mrc autocorrelation.mrc orientations.csv generations/001/density.mrc; do
  check "cmp -s '$dir/resumed/$f' '$dir/straight/$f'" "resumed $f equals the uninterrupted run's"
done
rm "$dir/r/density.mrc"
msg=$("$spire" reconstruct --resume "$dir/r" 2>&1)
check "grep -q 'finished' <<< \"\$msg\"" "resuming a finished run says so: '$msg'"
msg=$("$spire" reconstruct --resume "$dir/r" --quiet 2>&1)
check "[ -z \"\$msg\" ]" "--quiet: resuming a finished run prints nothing: '$msg'"
check "[ -s '$dir/r/density.mrc' ]" "a finished run's outputs are written again"

# Resume errors: exit code 2, the message names the file or the setting.
expect_error() {  # expect_error PATTERN WHAT ARGS...
  local pattern=$1 what=$2; shift 2
  set +e
  msg=$("$spire" reconstruct "$@" 2>&1); rc=$?
  set -e
  check "[ $rc -eq 2 ] && grep -q \"$pattern\" <<< \"\$msg\"" "$what: rc $rc, '$msg'"
}
expect_error "merging.tolerance changes the result" "resume with a setting that changes the result" \
  --resume "$dir/r" merging.tolerance=1e-5
expect_error "nothing/checkpoint.h5: no checkpoint" "resume without a checkpoint" --resume "$dir/nothing"
cp -r "$dir/r" "$dir/rc"
echo "garbage" > "$dir/rc/checkpoint.h5"
expect_error "rc/checkpoint.h5: not an HDF5 file" "resume from a corrupt checkpoint" --resume "$dir/rc"
"$spire" simulate --n-images 300 --detector-pixels 48 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --seed 2 --out "$dir/other.h5" > "$dir/simulate_other.log"
expect_error "r/checkpoint.h5: the run was made from other data" "resume with other data" \
  --resume "$dir/r" "$dir/other.h5"

# Bad input: a clear error naming the problem and the file, exit code 2, nothing written.
set +e
msg=$("$spire" reconstruct "$dir/missing.h5" --out "$dir/x" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'missing.h5' <<< \"\$msg\"" "missing data file: rc $rc, '$msg'"
echo "not hdf5" > "$dir/text.h5"
set +e
msg=$("$spire" reconstruct "$dir/text.h5" --out "$dir/x" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'text.h5' <<< \"\$msg\"" "corrupt data file: rc $rc, '$msg'"
set +e
msg=$("$spire" reconstruct "$dir/data.h5" grid.n=30 --out "$dir/x" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'grid.n' <<< \"\$msg\"" "even grid size: rc $rc, '$msg'"
set +e
msg=$("$spire" reconstruct "$dir/data.h5" data.first=300 --out "$dir/x" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'data.h5: data.first = 300 but the file holds 300' <<< \"\$msg\"" "data.first past the end: rc $rc, '$msg'"
check "[ ! -e '$dir/x' ]" "a rejected run writes nothing"

# A range of the file: images 200..299 only.
"$spire" reconstruct "$dir/data.h5" $light data.first=200 generations.max=1 --quiet --out "$dir/range"
check "python3 -c \"import json; assert json.load(open('$dir/range/summary.json'))['images'] == 100\"" "data.first=200 uses the last 100 images"
echo "1 passed, 0 failed"
