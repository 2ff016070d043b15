#!/usr/bin/env bash
# Usage: run_folder.sh SPIRE. One run per output folder: a second run into a folder a live
# run holds is refused (its lock names the pid); a fresh run never replaces an earlier run
# unasked (--force replaces it, --resume continues it); a lock left by a killed run is taken
# over with a note.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }
summary() { python3 -c "import json,sys; s=json.load(open('$1/summary.json')); sys.exit(0 if $2 else 1)"; }

"$spire" simulate --n-images 200 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/data.h5" > /dev/null
light="grid.n=21 orientations.oracle=true runtime.fft_planning=estimate phasing.loops=2 phasing.final_average=1 merging.cg_iterations=15 output.half_maps=false --quiet"
# A search run of some seconds, for the runs that must overlap.
search="grid.n=21 orientations.references=3000 generations.stop_change=0 runtime.fft_planning=estimate phasing.loops=2 phasing.final_average=1 output.half_maps=false --quiet"

# A fresh run into a folder that holds a run: refused, the earlier run untouched.
"$spire" reconstruct "$dir/data.h5" $light generations.max=2 --out "$dir/r"
check "[ ! -e '$dir/r/spire.lock' ]" "a finished run leaves no lock"
before=$(cd "$dir/r" && md5sum checkpoint.h5 summary.json density.mrc generations/001/density.mrc)
set +e
msg=$("$spire" reconstruct "$dir/data.h5" $light generations.max=1 --out "$dir/r" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -qF '$dir/r holds an earlier run (checkpoint.h5, summary.json, generations/); --resume $dir/r continues it, --force replaces it' <<< \"\$msg\"" \
  "a fresh run into a used folder is refused: rc $rc, '$msg'"
check "[ \"\$(cd '$dir/r' && md5sum checkpoint.h5 summary.json density.mrc generations/001/density.mrc)\" = \"\$before\" ]" \
  "the refused run changed nothing"

# --force replaces it: the earlier run's generation 001 goes, the new run's files come.
"$spire" reconstruct "$dir/data.h5" $light generations.max=1 --force --out "$dir/r"
check "[ ! -e '$dir/r/generations/001' ] && [ -s '$dir/r/generations/000/density.mrc' ]" "--force removed the earlier generations"
check "summary '$dir/r' \"s['totals']['generations'] == 1\"" "--force: summary.json is the new run's"
set +e
msg=$("$spire" reconstruct --resume "$dir/r" --force 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -qF -- '--resume continues the run in DIR, --force replaces it' <<< \"\$msg\"" \
  "--resume with --force is refused: rc $rc, '$msg'"

# A run into a folder a live run writes: refused, naming the folder and the live run's pid.
"$spire" reconstruct "$dir/data.h5" $search generations.max=3 --out "$dir/busy" &
first=$!
for _ in $(seq 600); do [ -s "$dir/busy/spire.lock" ] && break; sleep 0.1; done
check "[ \"\$(cut -d' ' -f1 '$dir/busy/spire.lock')\" = $first ]" "the lock holds the run's pid"
set +e
msg=$("$spire" reconstruct "$dir/data.h5" $light generations.max=1 --force --out "$dir/busy" 2>&1); rc=$?
msg2=$("$spire" reconstruct --resume "$dir/busy" 2>&1); rc2=$?
set -e
check "[ $rc -eq 2 ] && grep -qF \"another run is writing $dir/busy (pid $first on host\" <<< \"\$msg\"" \
  "a second run (even with --force) is refused while the first runs: rc $rc, '$msg'"
check "[ $rc2 -eq 2 ] && grep -qF \"another run is writing $dir/busy (pid $first\" <<< \"\$msg2\"" \
  "so is --resume of the folder: rc $rc2, '$msg2'"
wait $first
check "summary '$dir/busy' \"s['totals']['generations'] == 3\" && [ ! -e '$dir/busy/spire.lock' ]" \
  "the first run finished alone"

# Two runs started together into one folder: exactly one runs, the other is refused.
"$spire" reconstruct "$dir/data.h5" $search generations.max=2 --out "$dir/both" > "$dir/a.log" 2>&1 &
a=$!
"$spire" reconstruct "$dir/data.h5" $search generations.max=3 --out "$dir/both" > "$dir/b.log" 2>&1 &
b=$!
set +e
wait $a; rc_a=$?
wait $b; rc_b=$?
set -e
check "[ \$((rc_a + rc_b)) -eq 2 ] && [ \$((rc_a * rc_b)) -eq 0 ]" \
  "one of two simultaneous runs is refused: rc $rc_a, $rc_b ($(cat "$dir/a.log" "$dir/b.log"))"
winner=$([ $rc_a -eq 0 ] && echo 2 || echo 3)
check "summary '$dir/both' \"s['totals']['generations'] == $winner\" && [ \$(ls '$dir/both/generations' | wc -l) -eq $winner ]" \
  "the folder holds the winner's run alone"

# A run killed with -9 leaves its lock; --resume takes it over, saying so.
"$spire" reconstruct "$dir/data.h5" $search generations.max=4 --out "$dir/killed" &
victim=$!
for _ in $(seq 600); do [ -e "$dir/killed/checkpoint.h5" ] && break; sleep 0.1; done
kill -9 $victim
{ wait $victim; } 2> /dev/null || true
check "[ -e '$dir/killed/spire.lock' ]" "kill -9 leaves the lock file"
msg=$("$spire" reconstruct --resume "$dir/killed" 2>&1)
check "grep -qF \"note: taking over $dir/killed/spire.lock, left by pid $victim on host\" <<< \"\$msg\"" \
  "the stale lock is taken over with a note: '$msg'"
check "summary '$dir/killed' \"s['totals']['generations'] == 4\" && [ ! -e '$dir/killed/spire.lock' ]" "the resumed run finished"
echo "1 passed, 0 failed"
