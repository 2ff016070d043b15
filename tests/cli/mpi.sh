#!/usr/bin/env bash
# Usage: mpi.sh SPIRE MPIEXEC [LAUNCHER FLAGS...]. spire reconstruct under mpirun: 2 ranks
# on 2 emulated nodes write the outputs once (rank 0), with every image's orientation, and
# the oracle map still matches the model; a failing rank ends the job with exit code 2; other
# subcommands refuse to run on several ranks; so does --resume (a checkpoint is one process's);
# a soft assignment on photon counts merges every rank's candidates as one process would.
set -euo pipefail
spire=$1
mpiexec=$2
shift 2
launch=("$mpiexec" -n 2 "$@")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 120 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/data.h5" > /dev/null
"${launch[@]}" "$spire" reconstruct "$dir/data.h5" grid.n=21 orientations.oracle=true generations.max=2 \
  runtime.fft_planning=estimate distribution.ranks_per_node=1 --out "$dir/oracle" > "$dir/oracle.log"
check "grep -q '2 MPI ranks on 2 emulated nodes' '$dir/oracle.log'" "rank 0 reports the ranks and nodes"
check "[ \$(grep -c 'wrote' '$dir/oracle.log') -eq 1 ]" "one rank prints (got: $(cat "$dir/oracle.log"))"
check "[ \$(wc -l < '$dir/oracle/orientations.csv') -eq 121 ]" "orientations.csv holds every rank's images"
corr=$(python3 -c "import json; print(json.load(open('$dir/oracle/summary.json'))['correlation_with_reference'])")
check "python3 -c 'import sys; sys.exit(0 if $corr > 0.9 else 1)'" "2-rank oracle map correlates with the model (got $corr)"
check "python3 -c 'import json,sys; s=json.load(open(\"$dir/oracle/summary.json\")); sys.exit(0 if s[\"ranks\"] == 2 and s[\"nodes\"] == 2 else 1)'" "summary.json names the ranks and nodes"
check "[ ! -e '$dir/oracle/checkpoint.h5' ]" "several ranks write no checkpoint"

# A checkpoint is one process's: resuming it under mpirun is a clear error.
"$spire" reconstruct "$dir/data.h5" grid.n=21 orientations.oracle=true generations.max=1 \
  runtime.fft_planning=estimate --quiet --out "$dir/one" > /dev/null
set +e
msg=$("${launch[@]}" "$spire" reconstruct --resume "$dir/one" generations.max=2 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'resume runs on one process' <<< \"\$msg\"" "--resume refuses several ranks: rc $rc, '$msg'"

# The search path with slices in windows (distributed, 2 streams).
"${launch[@]}" "$spire" reconstruct "$dir/data.h5" grid.n=21 generations.max=2 orientations.references=200 \
  orientations.batch_size=30 phasing.loops=1 runtime.fft_planning=estimate distribution.ranks_per_node=1 \
  distribution.strategy=distributed distribution.n_streams=2 --quiet --out "$dir/search"
check "[ \$(wc -l < '$dir/search/orientations.csv') -eq 121 ]" "search run wrote every orientation"

# Photon counts: a soft assignment by default (orientations.assignment = auto), the ranks'
# candidates merged per reference over every rank's images: the first search generation as
# one process's (its candidates per image equal, its change to float rounding: measured 3e-4).
"$spire" simulate --n-images 120 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise poisson \
  --volume-size 21 --out "$dir/counts.h5" > /dev/null
soft=(grid.n=21 generations.max=2 orientations.references=200 phasing.loops=1 runtime.fft_planning=estimate)
"$spire" reconstruct "$dir/counts.h5" "${soft[@]}" --out "$dir/soft1" > "$dir/soft1.log"
"${launch[@]}" "$spire" reconstruct "$dir/counts.h5" "${soft[@]}" distribution.ranks_per_node=1 --quiet --out "$dir/soft2"
check "grep -q 'soft assignment in the grid stages' '$dir/soft1.log'" "photon counts run soft by default"
check "grep -q '\"orientations_assignment\": \"soft\"' '$dir/soft2/summary.json'" "summary.json says soft"
check "python3 -c 'import json,sys; a,b=(json.load(open(\"$dir/\"+d+\"/summary.json\"))[\"generations\"][1] for d in (\"soft1\",\"soft2\")); sys.exit(0 if a[\"candidates_per_image\"] > 1.5 and abs(a[\"candidates_per_image\"]-b[\"candidates_per_image\"]) < 1e-3 and abs(a[\"change\"]-b[\"change\"]) < 1e-3*a[\"change\"] else 1)'" "2 ranks' soft generation is one process's"

set +e
msg=$("${launch[@]}" "$spire" reconstruct "$dir/missing.h5" --out "$dir/x" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'missing.h5' <<< \"\$msg\"" "a failing rank ends the job: rc $rc, '$msg'"
set +e
msg=$("${launch[@]}" "$spire" simulate --n-images 5 --out "$dir/y.h5" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -q 'runs as one process' <<< \"\$msg\"" "simulate refuses several ranks: rc $rc"
check "[ ! -e '$dir/y.h5' ]" "nothing simulated"
echo "1 passed, 0 failed"
