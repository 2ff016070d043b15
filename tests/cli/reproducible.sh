#!/usr/bin/env bash
# Usage: reproducible.sh SPIRE. A run is reproducible from its folder: the same checkpoint
# resumed twice, with an empty FFTW wisdom cache and with one full of other (patient) plans,
# gives the same maps byte for byte (the checkpoint carries the run's plans), also with
# runtime.fft_planning = measure. A finished run on the loop's box (grid.box), resumed, writes
# the same final maps and half maps again. Fails on the first unexpected result, saying which.
set -euo pipefail
spire=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

"$spire" simulate --n-images 120 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 21 --out "$dir/data.h5" > /dev/null
run="grid.n=21 orientations.references=200 orientations.batch_size=100 phasing.loops=2 merging.cg_iterations=20
     output.half_maps=false phasing.final_average=1 runtime.fft_planning=measure"
# Other plans in a second cache: patient planning of the same sizes.
SPIRE_FFTW_WISDOM="$dir/patient" "$spire" reconstruct "$dir/data.h5" $run runtime.fft_planning=patient \
  generations.max=1 --quiet --out "$dir/scratch"
SPIRE_FFTW_WISDOM="$dir/first" "$spire" reconstruct "$dir/data.h5" $run generations.max=2 --quiet --out "$dir/a"
cp -r "$dir/a" "$dir/b"
SPIRE_FFTW_WISDOM="$dir/empty" "$spire" reconstruct --resume "$dir/a" generations.max=4 --quiet
SPIRE_FFTW_WISDOM="$dir/patient" "$spire" reconstruct --resume "$dir/b" generations.max=4 --quiet
check "[ ! -e '$dir/empty-float' ] && [ ! -e '$dir/empty-double' ]" "a resumed run leaves the cache alone"
for f in density.mrc autocorrelation.mrc orientations.csv generations/003/density.mrc; do
  check "cmp -s '$dir/a/$f' '$dir/b/$f'" "$f is the same whatever the wisdom cache holds"
done

# On the loop's box: a finished run resumed (its outputs written again) gives the same final
# density and half maps: the back end takes the checkpoint's box before the final phasing.
"$spire" simulate --n-images 120 --detector-pixels 32 --photons 1e14 --beam-radius 0.1e-6 --noise none \
  --volume-size 31 --out "$dir/box.h5" > /dev/null
"$spire" reconstruct "$dir/box.h5" grid.n=31 orientations.references=200 orientations.batch_size=100 phasing.loops=2 \
  merging.cg_iterations=20 phasing.final_average=2 generations.max=2 runtime.fft_planning=estimate --quiet --out "$dir/c"
box=$(python3 -c "import json; print(json.load(open('$dir/c/summary.json'))['grid_box'])")
check "[ $box -gt 0 ] && [ $box -lt 31 ]" "the run worked on a box of the 31^3 grid (grid_box $box)"
cp -r "$dir/c" "$dir/d"
"$spire" reconstruct --resume "$dir/d" --quiet
for f in density.mrc half_1.mrc half_2.mrc; do
  check "cmp -s '$dir/c/$f' '$dir/d/$f'" "$f of the finished run resumed equals the run's own"
done
echo "reproducible: resumed twice with different caches, same maps; a finished run on its box resumed, same maps"
