"""Point estimates and user-level bootstrap intervals for one score table, and paired differences.

Every resample draws users with replacement; a user drawn c times weighs c in every metric:
per-user metrics become count-weighted means over the users where they are defined (gAUC also
weighs each user by their rows), AUC and logloss are recomputed on the drawn users' rows with
those counts as row weights. The draws depend only on the seed and the sorted user ids, so two
models scored on the same users share the same resamples and their replicate differences form a
paired bootstrap.

The two per-user AUC summaries carry FuxiCTR's names (``fuxictr/metrics.py``): ``gauc`` is its
``gAUC`` (the DIN paper's group AUC: each user's AUC weighted by the user's rows), ``avgauc`` its
``avgAUC`` (the plain mean of the users' AUCs); both over the users with both classes.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from .metrics import PROBABILITY, RankedScores, mean_over_users, per_user_metrics, weighted_auc

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = frozenset({"logloss"})
# Per-user columns that are no metric of their own: weights, or summarised under other names.
NOT_AVERAGED = frozenset({"n_rows", "n_positive", "logloss_sum", "auc"})
RESAMPLE_CHUNK = 50  # resamples weighted at once for AUC (chunk x rows floats in memory)


def users_fingerprint(users: np.ndarray) -> str:
    """Short hash of the sorted user ids: equal fingerprints mean identical resamples."""
    return hashlib.sha256(np.asarray(users, dtype=np.int64).tobytes()).hexdigest()[:16]


def resample_user_counts(n_users: int, n_resamples: int, seed: int) -> np.ndarray:
    """How many times each user is drawn in each resample (R x U, rows sum to U)."""
    draws = np.random.default_rng(seed).integers(0, n_users, size=(n_resamples, n_users))
    offsets = (np.arange(n_resamples) * n_users)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_users)
    return counts.reshape(n_resamples, n_users).astype(np.float32)


def _user_mean(values: np.ndarray, counts: np.ndarray,
               weights: np.ndarray | None = None) -> tuple[float, int, np.ndarray]:
    """Mean of a per-user metric over the users where it is defined (not NaN), each user
    weighted by ``weights`` (default 1), and its replicates under the resample ``counts``.

    Returns:
        The point estimate, the users it was computed on, one value per resample.
    """
    defined = ~np.isnan(values)
    drawn = counts[:, defined]
    with np.errstate(invalid="ignore", divide="ignore"):
        if weights is None:
            replicates = (drawn @ values[defined]) / drawn.sum(axis=1)
        else:
            replicates = (drawn @ (values * weights)[defined]) / (drawn @ weights[defined])
    return mean_over_users(values, weights), int(defined.sum()), replicates


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


def evaluate_scores(scores: pd.DataFrame, ks: list[int], n_resamples: int, seed: int,
                    confidence: float) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Point estimates, bootstrap intervals and user counts of every metric on one split.

    Returns:
        summary: ``{"n_rows", "n_users", "users_fingerprint", "metrics": {name: {"value",
        "ci_low", "ci_high", "n_users"}}}``; replicates: one row per resample, one column per
        metric; per_user: the per-user table of :func:`per_user_metrics`.
    """
    ranked = RankedScores(scores)
    per_user = per_user_metrics(scores, ks)
    counts = resample_user_counts(ranked.n_users, n_resamples, seed)
    points: dict[str, float] = {}
    users_counted: dict[str, int] = {}
    replicates: dict[str, np.ndarray] = {}

    everyone = np.ones((1, len(ranked.score)))
    points["auc"] = float(weighted_auc(ranked.score, ranked.label, everyone)[0])
    users_counted["auc"] = ranked.n_users
    replicates["auc"] = np.concatenate([
        weighted_auc(ranked.score, ranked.label, counts[start:start + RESAMPLE_CHUNK][:, ranked.user_code])
        for start in range(0, n_resamples, RESAMPLE_CHUNK)])
    if PROBABILITY in scores:
        loss, rows = per_user["logloss_sum"].to_numpy(), per_user["n_rows"].to_numpy(float)
        points["logloss"] = float(loss.sum() / rows.sum())
        users_counted["logloss"] = ranked.n_users
        replicates["logloss"] = (counts @ loss) / (counts @ rows)

    user_auc = per_user["auc"].to_numpy()
    for name, weights in (("gauc", per_user["n_rows"].to_numpy(float)), ("avgauc", None)):
        points[name], users_counted[name], replicates[name] = _user_mean(user_auc, counts, weights)
    for column in (c for c in per_user.columns if c not in NOT_AVERAGED):
        points[column], users_counted[column], replicates[column] = _user_mean(
            per_user[column].to_numpy(), counts)
    summary, replicate_frame = _summarise(points, users_counted, replicates, ranked.users,
                                          confidence)
    return {"n_rows": len(scores), **summary}, replicate_frame, per_user


def summarise_per_user(per_user: pd.DataFrame, metrics: list[str], n_resamples: int, seed: int,
                       confidence: float) -> tuple[dict, pd.DataFrame]:
    """Point estimates and bootstrap intervals of per-user metrics: each the mean over the users
    where it is defined (not NaN), resampled as ``evaluate_scores`` resamples users, so that two
    tables of the same users pair (``paired_differences``).

    Args:
        per_user: One row per user, indexed by the user id (sorted here), a column per metric.
        metrics: The columns to summarise.

    Returns:
        summary (``n_users``, ``users_fingerprint``, ``metrics``) and the replicates.
    """
    per_user = per_user.sort_index()
    counts = resample_user_counts(len(per_user), n_resamples, seed)
    points, users_counted, replicates = {}, {}, {}
    for name in metrics:
        points[name], users_counted[name], replicates[name] = _user_mean(
            per_user[name].to_numpy(float), counts)
    return _summarise(points, users_counted, replicates, per_user.index.to_numpy(), confidence)


def _summarise(points: dict[str, float], users_counted: dict[str, int],
               replicates: dict[str, np.ndarray], users: np.ndarray,
               confidence: float) -> tuple[dict, pd.DataFrame]:
    """The summary of metrics computed on ``users`` (sorted ids) and their replicate table."""
    metrics = {}
    for name, value in points.items():
        low, high = _interval(replicates[name], confidence)
        metrics[name] = {"value": value, "ci_low": low, "ci_high": high,
                         "n_users": users_counted[name]}
    summary = {"n_users": len(users), "users_fingerprint": users_fingerprint(users),
               "metrics": metrics}
    replicate_frame = pd.DataFrame(replicates)
    replicate_frame.insert(0, "resample", np.arange(len(replicate_frame)))
    return summary, replicate_frame


def paired_differences(summary_a: dict, summary_b: dict, replicates_a: pd.DataFrame,
                       replicates_b: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Model A minus model B for every metric both report, with a paired bootstrap interval.

    ``a_better`` is True when the interval excludes 0 on A's side (below 0 for logloss).

    Raises:
        ValueError: if the two models were not scored on the same users (different resamples).
    """
    if summary_a["users_fingerprint"] != summary_b["users_fingerprint"]:
        raise ValueError("models scored on different users: their resamples are not paired")
    rows = []
    for name, metric_a in summary_a["metrics"].items():
        if name not in summary_b["metrics"]:
            continue
        difference = replicates_a[name].to_numpy() - replicates_b[name].to_numpy()
        low, high = _interval(difference, confidence)
        lower_better = name in LOWER_IS_BETTER
        rows.append({"metric": name,
                     "difference": metric_a["value"] - summary_b["metrics"][name]["value"],
                     "ci_low": low, "ci_high": high,
                     "a_better": bool(high < 0 if lower_better else low > 0),
                     "b_better": bool(low > 0 if lower_better else high < 0)})
    return pd.DataFrame(rows)
