"""Numba kernels of the run's structural analysis.  Arrays in, arrays out."""

import math

import numba


@numba.njit(cache=True)
def rdf_histogram(x, types, n_local, nbr_start, nbr_index, half, n_types, r_max, n_bins, hist):
    """hist[t_i, t_j, bin] += 1 for each owned i and neighbour j with r < r_max.

    An unordered pair counts in both (t_i, t_j) and (t_j, t_i): a full list
    holds it in both rows (of the ranks that own i and j), a half list
    (`half`) once over all ranks.
    hist: (n_types, n_types, n_bins) int64.
    """
    width = r_max / n_bins
    for i in range(n_local):
        ti = types[i]
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx = x[i, 0] - x[j, 0]
            dy = x[i, 1] - x[j, 1]
            dz = x[i, 2] - x[j, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            if r < r_max:
                b = min(int(r / width), n_bins - 1)
                hist[ti, types[j], b] += 1
                if half:
                    hist[types[j], ti, b] += 1


@numba.njit(cache=True)
def composition_modes(x, types, n_local, type_a, type_b, kvecs, out):
    """out[i, 2m], out[i, 2m+1] = s_i cos(k_m . x_i), s_i sin(k_m . x_i), s = +1 (a), -1 (b), 0."""
    for i in range(n_local):
        t = types[i]
        s = 1.0 if t == type_a else (-1.0 if t == type_b else 0.0)
        for m in range(kvecs.shape[0]):
            phase = kvecs[m, 0] * x[i, 0] + kvecs[m, 1] * x[i, 1] + kvecs[m, 2] * x[i, 2]
            out[i, 2 * m] = s * math.cos(phase)
            out[i, 2 * m + 1] = s * math.sin(phase)
