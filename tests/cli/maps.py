"""Helpers for tests/cli/overlay.sh, independent of spire's C++: MRC maps placed by their
headers as ChimeraX places them (voxel (i, j, k) at ORIGIN + voxel * (i, j, k)), a fixture
PDB far from the origin. Usage: maps.py COMMAND ARGS (see the functions below)."""
import struct
import sys

import numpy as np


def read(path):
    raw = open(path, "rb").read()
    nx, ny, nz = struct.unpack("<3i", raw[0:12])
    cell = struct.unpack("<3f", raw[40:52])
    origin = np.array(struct.unpack("<3f", raw[196:208]), dtype=float)
    nlabl = struct.unpack("<i", raw[220:224])[0]
    labels = [raw[224 + 80 * i:304 + 80 * i].decode().rstrip() for i in range(nlabl)]
    data = np.frombuffer(raw[1024:1024 + 4 * nx * ny * nz], dtype="<f4").reshape(nz, ny, nx).astype(float)
    return data, origin, cell[0] / nx, labels


def values(path):
    """The map's values as one float array, in the file's order (x fastest)."""
    return read(path)[0].ravel()


def edge_mean(d):
    mask = np.zeros(d.shape, bool)
    mask[0, :, :] = mask[-1, :, :] = mask[:, 0, :] = mask[:, -1, :] = mask[:, :, 0] = mask[:, :, -1] = True
    return d[mask].mean()


def positions(d, origin, voxel):
    z, y, x = np.indices(d.shape)
    return [origin[0] + voxel * x, origin[1] + voxel * y, origin[2] + voxel * z]


def overlay(a_path, b_path):
    """Pearson correlation over a's voxels of a and b sampled (trilinear) where the headers put them."""
    a, oa, va, _ = read(a_path)
    b, ob, vb, _ = read(b_path)
    p = positions(a, oa, va)
    u = [(p[i] - ob[i]) / vb for i in range(3)]  # b's voxel coordinates, x y z
    size = [b.shape[2], b.shape[1], b.shape[0]]
    inside = np.all([(u[i] >= -1e-6) & (u[i] <= size[i] - 1 + 1e-6) for i in range(3)], axis=0)
    lo = [np.clip(np.floor(np.clip(u[i], 0, size[i] - 1)), 0, max(size[i] - 2, 0)).astype(int) for i in range(3)]
    t = [np.clip(u[i], 0, size[i] - 1) - lo[i] for i in range(3)]
    hi = [np.minimum(lo[i] + 1, size[i] - 1) for i in range(3)]
    out = np.zeros(a.shape)
    for c in range(8):
        ix = hi[0] if c & 1 else lo[0]
        iy = hi[1] if c & 2 else lo[1]
        iz = hi[2] if c & 4 else lo[2]
        w = (t[0] if c & 1 else 1 - t[0]) * (t[1] if c & 2 else 1 - t[1]) * (t[2] if c & 4 else 1 - t[2])
        out += w * b[iz, iy, ix]
    out = np.where(inside, out, edge_mean(b))
    return float(np.corrcoef(a.ravel(), out.ravel())[0, 1])


def centroid(path):
    """The centroid (Angstrom) of the map less its edge mean, over voxels above 10% of the peak."""
    d, o, v, _ = read(path)
    d = d - edge_mean(d)
    w = np.where(d > 0.1 * d.max(), d, 0)
    return [float((w * p).sum() / w.sum()) for p in positions(d, o, v)]


def write_pdb(path, shift):
    """About 600 C/N/O/S atoms on a jittered lattice in four overlapping balls (no symmetry),
    centred near `shift` (Angstrom); prints their electron centroid (weights Z)."""
    rng = np.random.default_rng(7)
    balls = [((0, 0, 0), 11), ((12, 4, -3), 8), ((-6, 11, 6), 6.5), ((3, -9, 10), 5)]
    atoms = []
    for x in np.arange(-20, 20, 2.5):
        for y in np.arange(-20, 20, 2.5):
            for z in np.arange(-20, 20, 2.5):
                if any((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 < r * r for c, r in balls):
                    atoms.append(np.array([x, y, z]) + rng.normal(0, 0.4, 3) + shift)
    elements, z_of = ["C", "C", "C", "N", "O", "C", "N", "O", "C", "S"], {"C": 6, "N": 7, "O": 8, "S": 16}
    lines, total, weight = [], np.zeros(3), 0
    for i, p in enumerate(atoms):
        el = elements[i % len(elements)] if i % 40 else "S"
        lines.append(f"ATOM  {i + 1:5d}  {el:<3s} GLY A{i // 8 + 1:4d}    {p[0]:8.3f}{p[1]:8.3f}{p[2]:8.3f}"
                     f"{1.0:6.2f}{20.0:6.2f}          {el:>2s}")
        total += z_of[el] * p
        weight += z_of[el]
    open(path, "w").write("\n".join(lines) + "\nEND\n")
    print(" ".join(f"{v:.4f}" for v in total / weight))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "overlay":
        print(f"{overlay(*args):.4f}")
    elif cmd == "centroid":
        print(" ".join(f"{v:.4f}" for v in centroid(args[0])))
    elif cmd == "pdb":
        write_pdb(args[0], np.array([float(v) for v in args[1:4]]))
    elif cmd == "header":
        _, origin, voxel, labels = read(args[0])
        print(" ".join(f"{v:.4f}" for v in origin), f"{voxel:.6f}")
        print("\n".join(labels))
