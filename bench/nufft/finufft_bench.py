"""FINUFFT's side of `scripts/bench nufft`: the same transforms, timed and checked the same
way as bench_nufft.cpp (uniform random points, set-points and execute timed separately,
best of `reps` executes, accuracy on sampled entries against direct sums).
Prints one JSON object per case, or one with "error" when finufft cannot be imported."""
import json
import sys
import time

import numpy as np

n_modes = int(sys.argv[1]) if len(sys.argv) > 1 else 81
m = int(sys.argv[2]) if len(sys.argv) > 2 else 16_000_000
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 0
try:
    import finufft
except ImportError as e:
    print(json.dumps({"program": "finufft", "error": f"cannot import finufft: {e}"}))
    sys.exit(0)


def sampled_error(ttype, x, y, z, inp, out, samples=20):
    rng = np.random.default_rng(7)
    half = n_modes // 2
    k = np.arange(n_modes) - half
    num = den = 0.0
    for _ in range(samples):
        if ttype == 2:
            j = rng.integers(len(x))
            ex, ey, ez = (np.exp(1j * k * float(v[j])) for v in (x, y, z))
            exact = np.einsum("xyz,x,y,z->", inp.astype(np.complex128), ex, ey, ez)
            got = out[j]
        else:
            k3, k2, k1 = (rng.integers(n_modes) - half for _ in range(3))
            ph = k1 * x.astype(np.float64) + k2 * y.astype(np.float64) + k3 * z.astype(np.float64)
            exact = np.sum(inp.astype(np.complex128) * np.exp(1j * ph))
            got = out[k1 + half, k2 + half, k3 + half]
        num += abs(got - exact) ** 2
        den += abs(exact) ** 2
    return float(np.sqrt(num / den))


def run(precision, tol):
    rdt, cdt = (np.float32, np.complex64) if precision == "float" else (np.float64, np.complex128)
    rng = np.random.default_rng(1)
    x, y, z = (rng.uniform(-np.pi, np.pi, m).astype(rdt) for _ in range(3))
    c = (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(cdt)
    f = (rng.standard_normal((n_modes,) * 3) + 1j * rng.standard_normal((n_modes,) * 3)).astype(cdt)
    for ttype in (2, 1):
        opts = {"nthreads": threads} if threads > 0 else {}
        t0 = time.perf_counter()
        plan = finufft.Plan(ttype, (n_modes,) * 3, eps=tol, isign=1, dtype=cdt, **opts)
        t_plan = time.perf_counter() - t0
        t0 = time.perf_counter()
        plan.setpts(x, y, z)
        t_setpts = time.perf_counter() - t0
        best = 1e30
        for _ in range(reps):
            t0 = time.perf_counter()
            out = plan.execute(f if ttype == 2 else c)
            best = min(best, time.perf_counter() - t0)
        # finufft's mode arrays are indexed [k1, k2, k3] (k3 fastest in memory).
        err = sampled_error(ttype, x, y, z, c if ttype == 1 else f, out)
        print(json.dumps({"program": "finufft", "version": finufft.__version__,
                          "precision": precision, "tolerance": tol, "type": ttype,
                          "modes": n_modes, "points": m, "plan_s": round(t_plan, 3),
                          "setpts_s": round(t_setpts, 3), "exec_s": round(best, 3),
                          "setpts_pts_per_s": m / t_setpts, "exec_pts_per_s": m / best,
                          "rel_error": err}), flush=True)
        del plan


run("float", 1e-5)
run("double", 1e-6)
run("double", 1e-12)
