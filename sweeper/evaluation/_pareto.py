"""The Pareto front of (recall, precision) points and its hypervolume, in pure NumPy."""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume_2d", "pareto_front"]


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates, both coordinates maximised.

    A point is dominated when another is at least as good in both coordinates and better in one.
    Duplicates of a front point are all kept. Returned in order of decreasing first coordinate.
    Runs in O(n log n) without a Python loop: sort by the first coordinate (then the second), and
    keep each point whose second coordinate beats the running maximum of those before it.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`points` must have shape (n, 2), but got {points.shape}.")
    if points.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    first, second = points[order, 0], points[order, 1]
    best_before = np.r_[-np.inf, np.maximum.accumulate(second)[:-1]]
    strict = second > best_before
    # A run of identical points shares the verdict of its first member.
    repeated = np.r_[False, (first[1:] == first[:-1]) & (second[1:] == second[:-1])]
    run_start = np.maximum.accumulate(np.where(repeated, 0, np.arange(order.size)))
    return order[strict[run_start]].astype(np.int64)




def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] = (0.0, 0.0)) -> float:
    """Area dominated by ``points`` (both coordinates maximised) and bounded by ``reference``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    points = points[(points[:, 0] > reference[0]) & (points[:, 1] > reference[1])]
    if points.shape[0] == 0:
        return 0.0
    front = points[pareto_front(points)]
    front = front[np.argsort(-front[:, 0])]
    area = 0.0
    previous_second = reference[1]
    for first, second in front:
        area += (first - reference[0]) * (second - previous_second)
        previous_second = second
    return float(area)
