"""Agreement statistics between judge scores and human scores, as the paper reports them,
and the fidelity of one picture to another (PSNR, SSIM), as `spagent bench` reports it.

Implemented here (NumPy only) so that evaluation needs no SciPy at run time;
tests check every figure against SciPy's. Ties are handled as SciPy does by
default: average ranks for Spearman, tau-b for Kendall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PSNR_CAP_DB", "kendall", "pearson", "psnr", "spearman", "ranks", "ssim"]


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


# Fidelity of one picture to another -------------------------------------------------------

PSNR_CAP_DB = 100.0  # what identical pictures score: their PSNR is infinite, and an average of dB must stay finite

# SSIM's constants as Wang, Bovik, Sheikh and Simoncelli (2004) chose them.
_SSIM_K1, _SSIM_K2, _SSIM_SIDE, _SSIM_SIGMA = 0.01, 0.03, 11, 1.5


def _pictures(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim not in (2, 3):
        raise ValueError(f"expected two pictures of one shape, (height, width) or (height, width, channels), "
                         f"got {x.shape} and {y.shape}")
    return x, y


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio of `b` against `a` in dB, over every pixel and channel.

    Identical pictures score `PSNR_CAP_DB` (100 dB) instead of infinity, so
    that means over frames and probes stay finite. No score exceeds the cap:
    a difference that small (one level in one value out of more than about
    150,000, in 8 bits) is as good as none.
    """
    x, y = _pictures(a, b)
    error = float(np.mean((x - y) ** 2))
    if error == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * float(np.log10(data_range**2 / error)))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean structural similarity of `b` to `a` (Wang et al. 2004), 1.0 for identical pictures.

    The local statistics are weighted by an 11x11 Gaussian window (sigma 1.5)
    with K1=0.01 and K2=0.03, taken only where the window fits inside the picture
    (as the authors' reference code does), and averaged over those positions. A
    colour picture is scored per channel and the channels averaged, as
    scikit-image and torchmetrics do, so the figures compare with published
    ones. The authors' suggestion to downsample large pictures first is not
    applied. Pictures need both sides of at least 11 pixels.
    """
    x, y = _pictures(a, b)
    if min(x.shape[:2]) < _SSIM_SIDE:
        raise ValueError(f"SSIM needs both sides of at least {_SSIM_SIDE} pixels, got {x.shape[1]}x{x.shape[0]}")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2
    # One filtering pass over the five statistics at once: means, second moments, cross moment.
    mu_x, mu_y, xx, yy, xy = _gaussian_valid(np.stack([x, y, x * x, y * y, x * y]))
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(index.mean(axis=(0, 1)).mean())


def _gaussian_valid(stack: np.ndarray) -> np.ndarray:
    """Filters (n, height, width, channels) by the SSIM window over height and width, keeping only
    the positions where the whole window lies inside (no padding to invent values at the borders)."""
    offsets = np.arange(_SSIM_SIDE) - (_SSIM_SIDE - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    weights /= weights.sum()
    # The window is separable: a pass down the rows, then along the columns, each a sum of shifts.
    rows = stack.shape[1] - _SSIM_SIDE + 1
    down = sum(w * stack[:, k : k + rows] for k, w in enumerate(weights))
    columns = stack.shape[2] - _SSIM_SIDE + 1
    return sum(w * down[:, :, k : k + columns] for k, w in enumerate(weights))
