#!/usr/bin/env python3
"""Compares breast-model settings by cross-validation on BreastMNIST train+val (never the test split).

    /usr/bin/python3 models/training/compare.py <name> ['{"widths": [24, 48, 96]}'] [--data DIR] [--threads 1]

Starts from the shipped us-breast-malignancy settings (train_all.py), applies the JSON overrides, trains one
member per fold for max_epochs and prints the pooled out-of-fold AUC (with and without the mirrored-image
average) and the mean held-out AUC per epoch. This is how the shipped settings were chosen (see README.md);
the folds use their own seed (777), not the shipped model's, so the comparison does not reuse its splits.
Overrides are any of train_all.py's settings, plus "upsample" (bilinear x2 enlargement of the input inside
the network), "ema" (per-step decay of an exponential moving average of the weights, which is then kept)
"optimizer": "sgd" (Nesterov momentum 0.9 instead of AdamW) and "pairwise" (weight of a squared-hinge
ranking term added to the loss). cv_ensembles.py scores averages of --save runs.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import data  # noqa: E402
import metrics as M  # noqa: E402
import train  # noqa: E402
from train_all import REPO, TASKS  # noqa: E402

# Test-time views scored besides the plain and mirrored image: one-pixel shifts (each also mirrored).
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]


def shift(x, dy, dx):
    """Translates an NCHW tensor by (dy, dx) pixels, repeating the border (Pad edge + Slice in ONNX)."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    h, w = int(x.shape[2]), int(x.shape[3])
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    return padded[:, :, p - dy:p - dy + h, p - dx:p - dx + w]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("overrides", nargs="?", default="{}")
    ap.add_argument("--data", default=os.environ.get("VIGIL_MEDMNIST", os.path.join(REPO, "..", "shared", "data", "medmnist")))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--member-seed", type=int, default=0, help="offset of the members' seeds (same folds, other initialisations)")
    ap.add_argument("--save", help="write the out-of-fold logits (mirror-averaged) to this .npy, to score ensembles of runs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = {**TASKS["us-breast-malignancy"], "verbose": False, **json.loads(args.overrides)}
    splits, _ = data.load_breast(args.data)
    x8 = np.concatenate([splits["train"][0], splits["val"][0]])
    y = np.concatenate([splits["train"][1], splits["val"][1]])
    mean, std = train.normalisation_stats(data.minmax01(x8))
    x = train.to_tensor(x8, mean, std)
    oof_tta, oof_plain, oof_shift = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    log, curves = [], []
    t0 = time.time()
    for k, held in enumerate(train.stratified_folds(y, cfg["folds"], args.seed)):
        fit = np.setdiff1d(np.arange(len(y)), held)
        m = train.train_member({**cfg, "flip_tta": True}, x[fit], y[fit], x[held], y[held], args.seed + args.member_seed + k, log, early_stopping=False)
        oof_tta[held] = train.member_logits(m, x[held], True)
        oof_plain[held] = train.member_logits(m, x[held], False)
        oof_shift[held] = np.mean([train.member_logits(m, shift(x[held], dy, dx), True) for dy, dx in SHIFTS], 0)
        curves.append([h["valAuc"] for h in log[-1]["history"]])
        print(f"fold {k + 1}: held-out AUC {M.auc(y[held], oof_tta[held]):.4f} (mirror-averaged), {M.auc(y[held], oof_plain[held]):.4f} (plain)  {time.time() - t0:.0f} s", flush=True)
    if args.save:
        np.save(args.save, oof_tta)
        np.save(args.save[:-4] + ".shift.npy", oof_shift)
    c = np.mean(curves, 0)
    by_epoch = " ".join(f"{e + 1}:{c[e]:.4f}" for e in range(4, len(c), 5))
    print(f"RESULT {args.name} {args.overrides}: out-of-fold AUC {M.auc(y, oof_tta):.4f} (mirror-averaged), {M.auc(y, oof_plain):.4f} (plain), "
          f"{M.auc(y, oof_shift):.4f} (mirrors x 1-pixel shifts); "
          f"mean held-out AUC by epoch {by_epoch}; {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
