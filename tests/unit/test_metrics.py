"""The agreement statistics of `spagent eval`, checked against SciPy's; the fidelity metrics of
`spagent bench` (PSNR, SSIM), checked against their formulas and an SSIM written with SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")
ndimage = pytest.importorskip("scipy.ndimage")

from spagent_graph.metrics import kendall, pearson, spearman  # noqa: E402
from spagent_graph.metrics import PSNR_CAP_DB, psnr, ssim  # noqa: E402


def score_lists(seed: int, n: int, ties: bool):
    rng = np.random.default_rng(seed)
    human = rng.uniform(1, 20, n)
    judge = human + rng.normal(0, 4, n)
    if ties:  # judges and annotators give whole numbers: many ties
        human, judge = np.round(human), np.clip(np.round(judge), 1, 20)
    return judge, human


@pytest.mark.parametrize("seed, n, ties", [(0, 10, False), (1, 57, True), (2, 400, True), (3, 3, False)])
def test_correlations_match_scipy(seed: int, n: int, ties: bool):
    judge, human = score_lists(seed, n, ties)
    assert pearson(judge, human) == pytest.approx(scipy_stats.pearsonr(judge, human).statistic, abs=1e-12)
    assert spearman(judge, human) == pytest.approx(scipy_stats.spearmanr(judge, human).statistic, abs=1e-12)
    assert kendall(judge, human) == pytest.approx(scipy_stats.kendalltau(judge, human).statistic, abs=1e-12)


def test_degenerate_inputs_give_nan_or_a_clear_error():
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall([5], [5]))
    with pytest.raises(ValueError, match="one length"):
        spearman([1, 2], [1, 2, 3])


# Fidelity: PSNR and SSIM -------------------------------------------------------------------


def picture(seed: int, shape=(40, 56, 3)) -> np.ndarray:
    """Smooth structure plus texture, as a frame has: SSIM compares structure, so pure noise would tell little."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = 128 + 60 * np.sin(x / 7.0 + seed)[..., None] * np.cos(y / 5.0)[..., None]
    return np.clip(base + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)


def noisy(image: np.ndarray, sigma: float, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def ssim_by_scipy(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM written out independently: SciPy's Gaussian filter (radius 5: an 11x11 window at sigma 1.5),
    borders cropped so that only whole windows count, channel by channel."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for channel in range(a.shape[2]):
        x, y = a[..., channel].astype(np.float64), b[..., channel].astype(np.float64)

        def blur(image):
            return ndimage.gaussian_filter(image, sigma=1.5, truncate=3.5)[5:-5, 5:-5]

        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        scores.append((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())
    return float(np.mean(scores))


def test_identical_pictures_score_the_cap_and_one():
    image = picture(0)
    assert psnr(image, image) == PSNR_CAP_DB == 100.0
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_psnr_matches_its_formula():
    zeros = np.zeros((10, 10), dtype=np.uint8)
    one_off = zeros.copy()
    one_off[3, 4] = 255  # MSE = 255^2 / 100, so PSNR = 10 log10(100) = 20 dB
    assert psnr(zeros, one_off) == pytest.approx(20.0, abs=1e-12)
    a, b = picture(1), noisy(picture(1), 5)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    assert psnr(a / 255.0, b / 255.0, data_range=1.0) == pytest.approx(psnr(a, b), abs=1e-9)


def test_ssim_matches_an_independent_computation():
    for seed, sigma in [(2, 4.0), (3, 20.0), (4, 60.0)]:
        a = picture(seed)
        b = noisy(a, sigma, seed)
        assert ssim(a, b) == pytest.approx(ssim_by_scipy(a, b), abs=1e-10)


def test_ssim_of_one_window_is_the_weighted_formula():
    """An 11x11 picture holds one window: the index is the formula on Gaussian-weighted statistics."""
    clean = picture(5, (11, 11))
    a, b = clean[..., 0].astype(np.float64), noisy(clean, 15)[..., 0].astype(np.float64)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * a).sum(), (w * b).sum()
    vx, vy, cxy = (w * (a - mx) ** 2).sum(), (w * (b - my) ** 2).sum(), (w * (a - mx) * (b - my)).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(a, b) == pytest.approx(expected, abs=1e-10)


def test_more_noise_scores_lower_on_both_and_order_does_not_matter():
    clean = picture(6)
    slightly, badly = noisy(clean, 3), noisy(clean, 30)
    assert PSNR_CAP_DB > psnr(clean, slightly) > psnr(clean, badly)
    assert 1.0 > ssim(clean, slightly) > ssim(clean, badly) > 0.0
    assert psnr(clean, badly) == psnr(badly, clean)
    assert ssim(clean, badly) == pytest.approx(ssim(badly, clean), abs=1e-12)


def test_pictures_that_cannot_be_compared_are_named():
    with pytest.raises(ValueError, match="one shape"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="at least 11 pixels, got 10x12"):
        ssim(np.zeros((12, 10)), np.zeros((12, 10)))
