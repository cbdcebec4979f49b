"""Agreement statistics between judge scores and human scores, as the paper reports them.

Implemented here (NumPy only) so that evaluation needs no SciPy at run time;
tests check every figure against SciPy's. Ties are handled as SciPy does by
default: average ranks for Spearman, tau-b for Kendall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["kendall", "pearson", "spearman", "ranks"]


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two score lists of one length, got {a.shape} and {b.shape}")
    return a, b


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Linear correlation; NaN when either side is constant or has fewer than two scores."""
    a, b = _pair(x, y)
    if len(a) < 2:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their positions."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    sorted_values = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(v)]
    averaged = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    result = np.empty(len(v))
    result[order] = averaged
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = _pair(x, y)
    return pearson(ranks(a), ranks(b))


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b over all pairs (O(n^2) memory in blocks; fine for tens of thousands)."""
    a, b = _pair(x, y)
    n = len(a)
    if n < 2:
        return float("nan")
    concordant_minus_discordant = 0.0
    ties_x = ties_y = 0.0
    block = max(1, 4_000_000 // n)
    for start in range(0, n, block):
        dx = np.sign(a[start : start + block, None] - a[None, :])
        dy = np.sign(b[start : start + block, None] - b[None, :])
        concordant_minus_discordant += float((dx * dy).sum())
        ties_x += float((dx == 0).sum())
        ties_y += float((dy == 0).sum())
    # Every unordered pair was counted twice, and each element against itself once.
    pairs = n * (n - 1) / 2
    untied_x = pairs - (ties_x - n) / 2
    untied_y = pairs - (ties_y - n) / 2
    if untied_x <= 0 or untied_y <= 0:
        return float("nan")
    return float(concordant_minus_discordant / 2 / np.sqrt(untied_x * untied_y))
