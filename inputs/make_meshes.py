"""Write the mesh files the FE decks read (Gmsh 2.2 ASCII, which DMPlex reads).

    python inputs/make_meshes.py            # rewrites inputs/plate_hole*.msh

plate_hole.msh: a quarter of a square plate (side 2W) with a central hole of
radius R, 0 <= x, y <= W, quadrilaterals graded towards the hole.  Physical
groups of its edges (DMPlex "Face Sets" values):
1 left (x = 0, symmetry), 2 bottom (y = 0, symmetry), 3 right (x = W),
4 top (y = W), 5 hole (r = R).  The cells form physical group 10.
plate_hole_coarse.msh: the same shape (W = 4, R = 1) with 12 cells, for FE²
decks whose every quadrature point is an atomistic RVE.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

LEFT, BOTTOM, RIGHT, TOP, HOLE, PLATE = 1, 2, 3, 4, 5, 10


def plate_with_hole(W=10.0, R=1.0, n_arc=8, n_radial=10, grading=1.15):
    """(points (n, 2), quads (m, 4), edges [(tag, (a, b))]) of the quarter plate."""
    n_theta = 2 * n_arc + 1
    theta = np.linspace(0.0, 0.5 * math.pi, n_theta)
    steps = grading ** np.arange(n_radial)
    s = np.concatenate([[0.0], np.cumsum(steps)]) / steps.sum()   # radial fractions, 0..1
    points = np.empty((n_theta, n_radial + 1, 2))
    for k, t in enumerate(theta):
        inner = R * np.array([math.cos(t), math.sin(t)])
        if t <= 0.25 * math.pi + 1e-12:
            outer = np.array([W, W * math.tan(t)])
        else:
            outer = np.array([W / math.tan(t), W])
        points[k] = inner + s[:, None] * (outer - inner)
    index = np.arange(n_theta * (n_radial + 1)).reshape(n_theta, n_radial + 1)
    quads = []
    for k in range(n_theta - 1):
        for j in range(n_radial):
            # Counterclockwise: outward along the ray, then to the next angle.
            quads.append((index[k, j], index[k, j + 1], index[k + 1, j + 1], index[k + 1, j]))
    edges = []
    for j in range(n_radial):
        edges.append((BOTTOM, (index[0, j], index[0, j + 1])))
        edges.append((LEFT, (index[-1, j], index[-1, j + 1])))
    for k in range(n_theta - 1):
        edges.append((HOLE, (index[k, 0], index[k + 1, 0])))
        tag = RIGHT if k < n_arc else TOP
        edges.append((tag, (index[k, -1], index[k + 1, -1])))
    return points.reshape(-1, 2), np.array(quads), edges


def write_gmsh22(path, points, quads, edges):
    """Gmsh 2.2 ASCII: nodes, then line elements (type 1) and quads (type 3) with physical tags."""
    lines = ["$MeshFormat", "2.2 0 8", "$EndMeshFormat", "$PhysicalNames", "6",
             f'1 {LEFT} "left"', f'1 {BOTTOM} "bottom"', f'1 {RIGHT} "right"',
             f'1 {TOP} "top"', f'1 {HOLE} "hole"', f'2 {PLATE} "plate"', "$EndPhysicalNames",
             "$Nodes", str(len(points))]
    lines += [f"{i + 1} {x:.17g} {y:.17g} 0" for i, (x, y) in enumerate(points)]
    lines += ["$EndNodes", "$Elements", str(len(edges) + len(quads))]
    n = 0
    for tag, (a, b) in edges:
        n += 1
        lines.append(f"{n} 1 2 {tag} {tag} {a + 1} {b + 1}")
    for q in quads:
        n += 1
        lines.append(f"{n} 3 2 {PLATE} {PLATE} " + " ".join(str(v + 1) for v in q))
    lines += ["$EndElements", ""]
    Path(path).write_text("\n".join(lines))


def main(argv):
    here = Path(__file__).resolve().parent
    write_gmsh22(here / "plate_hole.msh", *plate_with_hole())
    write_gmsh22(here / "plate_hole_coarse.msh",
                 *plate_with_hole(W=4.0, R=1.0, n_arc=2, n_radial=3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
