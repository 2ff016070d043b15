#!/usr/bin/env bash
# Usage: checks.sh SPIRE. What spire reconstruct can check before generation 0 it checks
# there, in a second and writing nothing: the model map (--reference FILE, none, ""; the
# data file's _model.mrc, which only warns), half maps of one image (a warning, none made),
# the memory a run needs (refused with the setting to change); memory that runs out after
# all names the stage; and the memory estimate against a run's measured peak.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 200 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/data.h5" > /dev/null
"$spire" simulate --n-images 5 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 15 --out "$dir/other.h5" > /dev/null
echo "not a map" > "$dir/text.mrc"

# A run of minutes (search from random orientations, 30 generations): what is checked before
# generation 0 ends it at once, with exit code 2, and leaves no folder.
slow="grid.n=21 orientations.references=20000 generations.max=30 generations.stop_change=0 runtime.fft_planning=estimate"
expect_early() {  # expect_early PATTERN WHAT ARGS...
  local pattern=$1 what=$2 out="$dir/early"; shift 2
  set +e
  local start=$SECONDS
  msg=$(timeout 60 "$spire" reconstruct "$dir/data.h5" $slow "$@" --out "$out" 2>&1); rc=$?
  local took=$((SECONDS - start))
  set -e
  check "[ $rc -eq 2 ] && grep -qF -- \"$pattern\" <<< \"\$msg\"" "$what: rc $rc, '$msg'"
  check "[ $took -lt 20 ] && [ ! -e '$out' ]" "$what: refused before any work (took $took s; $out: $(ls "$out" 2>&1 | tr '\n' ' '))"
}
expect_early "other_model.mrc: the model map is 15x15x15 of" "--reference of another grid" \
  --reference "$dir/other_model.mrc"
expect_early "missing.mrc: no such file" "--reference that does not exist" --reference "$dir/missing.mrc"
expect_early "text.mrc: " "--reference that is not an MRC map" --reference "$dir/text.mrc"
expect_early "needs 2.1 TB (orientations.references = 100000000 with slicing.keep_points = true: 2.0 TB of sorted points)" \
  "a reference set whose sorted points cannot fit" orientations.references=100000000
check "grep -qF 'lower orientations.references or set slicing.keep_points = false' <<< \"\$msg\"" \
  "the memory refusal says what to change: '$msg'"

light="orientations.oracle=true generations.max=1 runtime.fft_planning=estimate phasing.loops=2 phasing.final_average=1 merging.cg_iterations=15 --quiet"
summary() { python3 -c "import json,sys; s=json.load(open('$1/summary.json')); sys.exit(0 if $2 else 1)"; }

# The model map found beside the data but of another grid: a warning, the run goes on without it.
msg=$("$spire" reconstruct "$dir/data.h5" grid.n=15 $light --out "$dir/auto" 2>&1)
check "grep -qF 'WARNING: not using $dir/data_model.mrc (found beside the data) for the FSC: the model map is 21x21x21' <<< \"\$msg\"" \
  "a mismatched data_model.mrc is named in a warning: '$msg'"
check "summary '$dir/auto' \"'fsc_reference' not in s and 'data_model.mrc' in s['warning']\"" \
  "the run without the mismatched model map says so in summary.json"

# --reference none and --reference "" turn the pick-up off (data_model.mrc would fit).
"$spire" reconstruct "$dir/data.h5" grid.n=21 $light --out "$dir/with" 2> /dev/null
check "summary '$dir/with' \"'fsc_reference' in s\"" "data_model.mrc of the right grid is picked up"
"$spire" reconstruct "$dir/data.h5" grid.n=21 $light --reference none --out "$dir/none"
check "summary '$dir/none' \"'fsc_reference' not in s\"" "--reference none: no FSC against a model"
"$spire" reconstruct "$dir/data.h5" grid.n=21 $light --reference "" --out "$dir/empty"
check "summary '$dir/empty' \"'fsc_reference' not in s\"" "--reference \"\": no FSC against a model"

# One image: no half maps (they need two), a warning; the run itself succeeds.
msg=$("$spire" reconstruct "$dir/data.h5" grid.n=21 data.images=1 $light --out "$dir/one" 2>&1)
check "grep -qF 'WARNING: 1 image used: no half maps' <<< \"\$msg\" && [ ! -e '$dir/one/half_1.mrc' ]" \
  "one image: half maps off with a warning: '$msg'"
check "summary '$dir/one' \"'half_data' not in s and s['images'] == 1 and 'half maps' in s['warning']\"" \
  "one image: summary.json has no half-data FSC and the warning"

# Memory that runs out after all (here a 1 GB address-space limit, below the estimate of the
# merging grids of n = 151, the loop held to the whole grid by grid.box) names the stage and
# the setting, exit code 2.
# A build with the CUDA back end maps the CUDA libraries' large segments (cuBLASLt, cuFFT) at
# start-up, which such a limit refuses before spire runs: the case is checked wherever spire
# starts at all under the limit (builds without CUDA), and said to be skipped elsewhere.
if ! (ulimit -v 1000000 && "$spire" --version) > /dev/null 2>&1; then
  echo "checks: out-of-memory case skipped (spire's shared libraries do not load under ulimit -v:" \
       "$(ldd "$spire" | grep -oE 'libcu(da|blas|fft)[a-zA-Z]*' | sort -u | tr '\n' ' '))"
else
set +e
msg=$(ulimit -v 1000000 && OMP_NUM_THREADS=2 "$spire" reconstruct "$dir/data.h5" grid.n=151 grid.box=151 \
  $light --reference none --out "$dir/oom" 2>&1); rc=$?
set -e
check "[ $rc -eq 2 ] && grep -qE 'ran out of memory while .*grid.n = 151|needs .*grid.n = 151' <<< \"\$msg\"" \
  "out of memory names the stage and the setting: rc $rc, '$msg'"
fi

# The estimate against the measured peak (maximum resident set): within a factor 2. The
# sorted points of 20,000 references dominate (20 x 20000 x 1024 bytes = 410 MB); the two
# generations are the start and a search, which slices all of them here (search_references).
measured="grid.n=21 orientations.references=20000 orientations.search_references=20000 orientations.batch_size=1000 generations.max=2 runtime.fft_planning=estimate phasing.loops=2 phasing.final_average=1 merging.cg_iterations=15 output.half_maps=false --quiet"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v "$spire" reconstruct "$dir/data.h5" $measured --out "$dir/rss" 2> "$dir/time.log"
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.log")
else  # the same figure (wait4's ru_maxrss), from Python
  rss_kb=$(python3 -c "import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)" \
    "$spire" reconstruct "$dir/data.h5" $measured --out "$dir/rss")
fi
ratio=$(python3 -c "import json; print(json.load(open('$dir/rss/summary.json'))['memory_estimate_bytes'] / ($rss_kb * 1024))")
echo "memory estimate / measured peak: $ratio (peak $rss_kb kB)"
if [[ -n ${ASAN_OPTIONS:-} ]]; then  # scripts/sanitize: the shadow memory and quarantine count too
  echo "checks: estimate/peak ratio not checked under AddressSanitizer"
else
  check "python3 -c 'import sys; sys.exit(0 if 0.5 <= $ratio <= 2 else 1)'" "the estimate is within a factor 2 of the peak (ratio $ratio)"
fi
echo "1 passed, 0 failed"
