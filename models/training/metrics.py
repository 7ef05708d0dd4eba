"""Binary classification metrics with bootstrap confidence intervals (numpy only).

The TypeScript side (electron/services/ai/validation-metrics.ts) implements the
same definitions so the product's `vigil validate` reports what this reports.
"""
import numpy as np


def auc(y, p):
    """Area under the ROC curve = Mann-Whitney U / (n_pos * n_neg), ties counted 1/2."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sp = p[order]
    # Average ranks over ties.
    i = 0
    n = len(p)
    while i < n:
        j = i
        while j + 1 < n and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _fast_auc(y, p):
    """AUC for bootstrap resamples (same definition; ties via average ranks through searchsorted)."""
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    less = np.searchsorted(neg, pos, side="left")
    less_eq = np.searchsorted(neg, pos, side="right")
    return float((less + 0.5 * (less_eq - less)).sum() / (len(pos) * len(neg)))


def roc_curve(y, p):
    """(fpr, tpr, thresholds) over every distinct score, highest first; starts at (0, 0)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    ps = p[order]
    distinct = np.where(np.diff(ps))[0]
    idx = np.r_[distinct, len(ps) - 1]
    tps = np.cumsum(ys)[idx]
    fps = (1 + idx) - tps
    tpr = np.r_[0.0, tps / max(1, ys.sum())]
    fpr = np.r_[0.0, fps / max(1, (1 - ys).sum())]
    return fpr, tpr, np.r_[np.inf, ps[idx]]


def youden_threshold(y, p):
    """Operating point maximising sensitivity + specificity - 1 (Youden's J) on the given split.

    Returned as the midpoint between the cut score and the next lower distinct
    score, so `score >= threshold` reproduces the chosen cut; ties in J are
    broken towards the higher sensitivity.
    """
    fpr, tpr, thr = roc_curve(y, p)
    j = tpr - fpr
    best = int(np.flatnonzero(j == j.max())[-1])
    best = max(best, 1)
    cut = thr[best]
    lower = np.asarray(p)[np.asarray(p) < cut]
    t = (cut + lower.max()) / 2.0 if len(lower) else cut
    return float(t), float(j[best])


def confusion(y, p, t):
    pred = np.asarray(p) >= t
    y = np.asarray(y) == 1
    return {"tp": int((pred & y).sum()), "fp": int((pred & ~y).sum()), "tn": int((~pred & ~y).sum()), "fn": int((~pred & y).sum())}


def _ratio(a, b):
    return float(a / b) if b > 0 else float("nan")


def threshold_metrics(c):
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    sens = _ratio(tp, tp + fn)
    ppv = _ratio(tp, tp + fp)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "sensitivity": sens,
        "specificity": _ratio(tn, tn + fp),
        "ppv": ppv,
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def calibration(y, p, bins=10):
    """Equal-width reliability bins over [0, 1]; ECE = sum_b n_b/N |acc_b - conf_b|."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.floor(p * bins).astype(np.int64), 0, bins - 1)  # as validation-metrics.ts
    rows = []
    ece = 0.0
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        if n == 0:
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": 0, "meanPredicted": None, "observed": None})
            continue
        conf = float(p[m].mean())
        acc = float(y[m].mean())
        ece += n / len(p) * abs(acc - conf)
        rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": n, "meanPredicted": conf, "observed": acc})
    return float(ece), rows


def brier(y, p):
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def point_metrics(y, p, t):
    c = confusion(y, p, t)
    m = {"auc": auc(y, p), **threshold_metrics(c)}
    m["ece"] = calibration(y, p)[0]
    m["brier"] = brier(y, p)
    return m, c


def bootstrap_ci(y, p, t, n_boot=2000, seed=12345, alpha=0.05):
    """Percentile bootstrap (resampling cases with replacement) 95% CI of every metric at a fixed threshold."""
    rng = np.random.RandomState(seed)
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    n = len(y)
    keys = ["auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "ece", "brier"]
    draws = {k: [] for k in keys}
    for _ in range(n_boot):
        i = rng.randint(0, n, n)
        yb, pb = y[i], p[i]
        c = confusion(yb, pb, t)
        tm = threshold_metrics(c)
        draws["auc"].append(_fast_auc(yb, pb))
        for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"):
            draws[k].append(tm[k])
        draws["ece"].append(calibration(yb, pb)[0])
        draws["brier"].append(brier(yb, pb))
    out = {}
    for k in keys:
        a = np.asarray(draws[k], dtype=np.float64)
        a = a[~np.isnan(a)]
        out[k] = [float(np.quantile(a, alpha / 2)), float(np.quantile(a, 1 - alpha / 2))] if len(a) else [None, None]
    return out
