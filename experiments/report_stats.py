"""The report's statistics: correlations of information loss with accuracy loss per scope (Pearson,
Spearman with an exact or resampled p-value, least-squares lines).
"""

from __future__ import annotations


import numpy as np

from rvt.registry import specs



#: the paper's family of maps (RVT keys of any strength, and the per-image random permutation): the claim
#: that information loss predicts accuracy loss is the paper's for these; the other keyed maps (a fixed
#: permutation, block scrambling, block-wise) test how far the measure carries beyond them
RVT_FAMILY = tuple(s.label for s in specs() if s.family == "rvt")


def rvt_family(points):
    """The points of RVT_FAMILY transforms."""
    return [p for p in points if p[5] in RVT_FAMILY]


def _fit(points):
    from scipy import stats

    x = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    if len(points) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    low, high = spearman_ci(x, y)
    return {"n": len(points), "pearson": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman": float(spearman.statistic), "spearman_p": spearman_p(x, y),
            "spearman_ci_low": low, "spearman_ci_high": high,
            "slope": float(slope), "intercept": float(intercept)}


#: bootstrap resamples of the points for Spearman's 95 % interval; fewer points than CI_MIN_POINTS get none
CI_RESAMPLES = 2000
CI_MIN_POINTS = 5


def spearman_ci(x, y) -> tuple[float | None, float | None]:
    """Percentile bootstrap 95 % interval of Spearman's rho over the points (paired resampling, seed 0;
    scipy.stats.bootstrap); (None, None) under CI_MIN_POINTS points or when resamples are degenerate."""
    from scipy import stats

    if len(x) < CI_MIN_POINTS:
        return None, None

    def rho(a, b):
        return stats.spearmanr(a, b)[0]

    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = stats.bootstrap((x, y), rho, paired=True, vectorized=False, n_resamples=CI_RESAMPLES,
                                 method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    low, high = float(ci.low), float(ci.high)
    return (None, None) if not (np.isfinite(low) and np.isfinite(high)) else (low, high)


def predicts(c: dict | None) -> str:
    """'yes' where Spearman's interval lies above zero, 'no' where it contains it, 'inverse' below it,
    '-' without an interval: the report says "predicts" only where the interval excludes zero."""
    if not c or c.get("spearman_ci_low") is None:
        return "-"
    if c["spearman_ci_low"] > 0:
        return "yes"
    return "inverse" if c["spearman_ci_high"] < 0 else "no"


#: permutations for Spearman's p: all of them up to 8 points (8! = 40320), else this many random ones
SPEARMAN_RESAMPLES = 50_000


def spearman_p(x, y) -> float:
    """Two-sided p-value of Spearman's rho by permuting the pairings (scipy.stats.permutation_test):
    exact up to 8 points, else SPEARMAN_RESAMPLES seeded random pairings. spearmanr's t approximation
    says p = 0 for 4 points in perfect rank order; the exact p is 2/4! = 0.083."""
    from scipy import stats

    ry = stats.rankdata(y)
    ry = ry - ry.mean()

    def rho(rx, axis=-1):  # Pearson's r of the ranks, vectorised over permutations
        rx = rx - rx.mean(axis=axis, keepdims=True)
        return (rx * ry).sum(axis=axis) / np.sqrt((rx ** 2).sum(axis=axis) * (ry ** 2).sum())

    res = stats.permutation_test((stats.rankdata(x),), rho, permutation_type="pairings", vectorized=True,
                                 n_resamples=SPEARMAN_RESAMPLES, random_state=np.random.default_rng(0))
    return float(res.pvalue)


def correlations(points) -> dict:
    """Pearson and Spearman (with p-values) and the least-squares line, per augmentation order: over
    all models ('pooled') and per model. {(order, 'pooled' | model): fit or None}."""
    out = {}
    for order in sorted({p[4] for p in points}):
        ps = [p for p in points if p[4] == order]
        out[(order, "pooled")] = _fit(ps)
        for model in sorted({p[3] for p in ps}):
            out[(order, model)] = _fit([p for p in ps if p[3] == model])
    return out


def correlations_by_dataset(points) -> dict:
    """:func:`correlations` within each dataset: {(order, '<dataset>: pooled' | '<dataset>: <model>'): fit}.
    How much a map costs depends on the data as well as on the map (CIFAR-10 loses more accuracy at a
    lower information loss than MNIST); within one dataset only the map varies."""
    out = {}
    for ds in sorted({p[6] for p in points}):
        for (order, model), fit in correlations([p for p in points if p[6] == ds]).items():
            out[(order, f"{ds}: {model}")] = fit
    return out


#: the wandb summary's key prefix of each correlation scope (:func:`correlation_scopes`)
WANDB_PREFIX = {"all maps": "corr", "RVT family": "corr_rvt_family", "within a dataset": "corr_dataset"}


def correlation_scopes(points) -> dict:
    """{scope: {(order, model): fit}}, in the order the table and the printout show them: every map and
    dataset pooled per model, the RVT family alone, and each dataset alone."""
    return {"all maps": correlations(points), "RVT family": correlations(rvt_family(points)),
            "within a dataset": correlations_by_dataset(points)}
