"""FINUFFT's side of `scripts/bench generation`: the same two transforms on the same points
(raw float32 files written by bench_generation): slicing's type 2 (sign +1) of one batch of
references at n^3 modes, execute timed on points set once (as spire's Slicer); merging's
type 1 (sign -1) of every image onto (2n-1)^3 modes, setpts + execute timed (spire's figure
includes its sorting too). Prints one JSON object, or one with "error"."""
import json
import os
import sys
import time

import numpy as np

outdir, n, tol2, tol1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
try:
    import finufft
except ImportError as e:
    print(json.dumps({"error": f"cannot import finufft: {e}"}))
    sys.exit(0)


def points(name):
    return [np.fromfile(os.path.join(outdir, f"{name}_{a}.f32"), dtype=np.float32) for a in "xyz"]


rng = np.random.default_rng(1)
x, y, z = points("slicing")
plan = finufft.Plan(2, (n, n, n), eps=tol2, isign=1, dtype=np.complex64)
plan.setpts(x, y, z)
f = rng.standard_normal((n, n, n)).astype(np.complex64)
best2 = 1e30
for _ in range(2):
    t0 = time.perf_counter()
    plan.execute(f)
    best2 = min(best2, time.perf_counter() - t0)
m2 = len(x)
del plan, x, y, z

x, y, z = points("merging")
nk = 2 * n - 1
c = (1 + 1j * rng.random(len(x))).astype(np.complex64)
plan = finufft.Plan(1, (nk, nk, nk), eps=tol1, isign=-1, dtype=np.complex64)
t0 = time.perf_counter()
plan.setpts(x, y, z)
plan.execute(c)
t1 = time.perf_counter() - t0
print(json.dumps({"version": finufft.__version__, "slicing_nufft_points": m2, "slicing_nufft_s": best2,
                  "merging_nufft_points": len(x), "merging_nufft_s": t1}))
