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

"$spire" reconstruct "$dir/data.h5" grid.n=31 orientations.oracle=true generations.max=2 runtime.fft_planning=estimate --quiet --out "$dir/r"
for f in density.mrc autocorrelation.mrc fsc.csv fsc.png density_slices.png orientations.csv settings.toml summary.json; do
  check "[ -s '$dir/r/$f' ]" "reconstruct wrote $f"
done
corr=$(python3 -c "import json,sys; print(json.load(open('$dir/r/summary.json'))['correlation_with_reference'])")
check "python3 -c 'import sys; sys.exit(0 if $corr > 0.9 else 1)'" "oracle reconstruction correlates with the model (got $corr)"

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
check "[ ! -e '$dir/x' ]" "a rejected run writes nothing"
echo "1 passed, 0 failed"
