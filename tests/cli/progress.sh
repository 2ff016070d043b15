#!/usr/bin/env bash
# Usage: progress.sh SPIRE. What a person watching a run (or its log) sees when the output
# goes to a pipe: the header at once, one row per generation with the time taken and left,
# progress inside the long steps, why the run stopped and how to go on, the CG warning.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }
has() { grep -qF -- "$1" "$2"; }

export SPIRE_PROGRESS_INTERVAL=0  # a line whenever a step advances (default: one per 5 s)
"$spire" simulate --n-images 200 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/data.h5" | cat > "$dir/simulate.log"
check "has 'simulating patterns: ' '$dir/simulate.log'" "simulate shows its progress in a pipe"
check "! grep -q $'\r' '$dir/simulate.log'" "no carriage returns in a pipe"

run="grid.n=21 orientations.references=300 runtime.fft_planning=estimate phasing.final_average=2 merging.cg_iterations=4 merging.final_cg_iterations=4"
mkdir "$dir/models" && mv "$dir/data_model.mrc" "$dir/models/m.mrc"  # not beside the data: only --reference finds it
"$spire" reconstruct "$dir/data.h5" $run generations.max=3 --reference "$dir/models/m.mrc" --out "$dir/r" \
  > "$dir/run.log" 2> "$dir/run.err"
log="$dir/run.log"
check "has 'left (at most)' '$log'" "the header names the time columns"
check "[ \$(grep -n 'gen  *stage' '$log' | cut -d: -f1) -lt \$(grep -n '^ *0  *start' '$log' | cut -d: -f1) ]" \
  "the header comes before the first generation"
check "grep -qE '^ +1 +search .* Å +[0-9]+ s +[0-9]' '$log'" "a row per generation with its FSC, elapsed and time left"
check "has 'generation 1 of at most 3 (search), slicing and matching (reference batches): ' '$log'" \
  "progress inside slicing and matching"
check "has 'merging (orientations): ' '$log'" "progress inside merging"
check "has 'final density, phasing runs to average: 2 of 2 (100%)' '$log'" "progress of the final phasing"
check "has 'half map 2 of 2, phasing runs to average: ' '$log'" "progress of the half maps"
check "has '3 generations, ' '$log' && has 'stopped at generations.max = 3 before the stopping rules were met' '$log'" \
  "the closing line says why the run stopped"
check "has \"to go on: spire reconstruct --resume $dir/r generations.max=6\" '$log'" "and how to go on"
check "! grep -q $'\r' '$log'" "no carriage returns in a pipe"
check "has 'CG stopped at its cap (merging.final_cg_iterations = 4) in the final merge from every pixel' '$dir/run.err'" \
  "the CG cap warning on stderr (the loop runs on the detector's cells: the merge that counts is the final one)"
check "python3 -c \"import json; s = json.load(open('$dir/r/summary.json')); assert 'merging.final_cg_iterations = 4' in s['warning']; assert all(g['resolution_fsc_0.5_angstrom'] > 0 for g in s['generations'])\"" \
  "summary.json keeps the warning and each generation's FSC against the model"

# Going on as told, to convergence: the rule that ended it is named.
"$spire" reconstruct --resume "$dir/r" generations.max=30 > "$dir/resume.log"
check "grep -qE '^  [0-9]+ generations, .*: converged: ' '$dir/resume.log'" "a converged run names its rule"
check "python3 -c \"import json; s = json.load(open('$dir/r/summary.json')); assert s['fsc_reference'].endswith('models/m.mrc') and s['correlation_with_reference'] > 0.5\"" \
  "the resumed run keeps the --reference it was started with"
echo "progress: all checks passed"
