"""The agreement statistics of `spagent eval`, checked against SciPy's."""

from __future__ import annotations

import math

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")

from spagent_graph.metrics import kendall, pearson, spearman  # noqa: E402


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
