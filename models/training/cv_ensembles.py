#!/usr/bin/env python3
"""Scores ensembles of compare.py runs (their --save out-of-fold logits) on BreastMNIST train+val, never the test split.

    /usr/bin/python3 models/training/cv_ensembles.py LS=ls0.npy+ls100.npy W=w0.npy+w100.npy [--against LS] [--boot 2000]
        [--pooled W:LS,W2:LS2]

Each NAME=a.npy+b.npy+... is one ensemble: the mean of those runs' out-of-fold logits per case (the runs
must share compare.py's folds, i.e. its default --seed). Prints every ensemble's pooled out-of-fold AUC and
its best member's, and with --against the paired bootstrap of the AUC difference to that ensemble
(the same resampled cases for both; percentile 95% interval and the share of resamples with no gain).
--pooled averages the AUC differences of several NAME:BASELINE pairs (e.g. one pair per member seed) on
the same resamples, so a gain that recurs at every seed is tested as one effect.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import data  # noqa: E402
import metrics as M  # noqa: E402
from train_all import REPO  # noqa: E402


def paired_bootstrap(y, pairs, n_boot, seed):
    """Mean over pairs (z_base, z_new) of AUC(z_new) - AUC(z_base) on n_boot resamples of the cases
    (each resample must hold both classes)."""
    rng = np.random.RandomState(seed)
    diffs = []
    while len(diffs) < n_boot:
        i = rng.randint(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            diffs.append(np.mean([M.auc(y[i], zb[i]) - M.auc(y[i], za[i]) for za, zb in pairs]))
    return np.asarray(diffs)


def interval(d):
    return f"paired bootstrap 95% CI {np.quantile(d, 0.025):+.4f} to {np.quantile(d, 0.975):+.4f}, P(no gain) {np.mean(d <= 0):.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ensembles", nargs="+", help="NAME=run1.npy+run2.npy+...")
    ap.add_argument("--against", help="NAME of the ensemble the others are compared with (paired bootstrap)")
    ap.add_argument("--pooled", help="NAME:BASELINE,NAME:BASELINE,... pairs whose AUC differences are averaged")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--data", default=os.environ.get("VIGIL_MEDMNIST", os.path.join(REPO, "..", "shared", "data", "medmnist")))
    args = ap.parse_args()
    splits, _ = data.load_breast(args.data)
    y = np.concatenate([splits["train"][1], splits["val"][1]])
    groups = {}
    for spec in args.ensembles:
        name, _, files = spec.partition("=")
        runs = [np.load(f) for f in files.split("+")]
        if any(r.shape != y.shape for r in runs):
            sys.exit(f"{name}: a run's out-of-fold logits do not match the {len(y)} train+val cases")
        groups[name] = (np.mean(runs, 0), [M.auc(y, r) for r in runs])
    for name, (z, member_aucs) in groups.items():
        line = f"{name}: out-of-fold AUC {M.auc(y, z):.4f} ({len(member_aucs)} runs; best run {max(member_aucs):.4f}, runs {' '.join(f'{a:.4f}' for a in member_aucs)})"
        if args.against and name != args.against:
            base = groups[args.against][0]
            d = paired_bootstrap(y, [(base, z)], args.boot, seed=0)
            line += f"; vs {args.against} {M.auc(y, z) - M.auc(y, base):+.4f} ({interval(d)})"
        print(line, flush=True)
    if args.pooled:
        pairs = [p.split(":") for p in args.pooled.split(",")]
        zs = [(groups[b][0], groups[a][0]) for a, b in pairs]
        gain = np.mean([M.auc(y, zb) - M.auc(y, za) for za, zb in zs])
        d = paired_bootstrap(y, zs, args.boot, seed=0)
        print(f"pooled over {', '.join(f'{a} vs {b}' for a, b in pairs)}: mean AUC difference {gain:+.4f} ({interval(d)})", flush=True)


if __name__ == "__main__":
    main()
