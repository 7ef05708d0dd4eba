"""Training, evaluation and export of one Vigil model package (see train_all.py)."""
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

import metrics as M
from data import minmax01
from model import ExportWrapper, SmallCamNet


def seed_everything(seed):
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def normalisation_stats(x_train01):
    """Mean and std of the min-max-scaled training pixels, rounded to 6 decimals (as written to the manifest)."""
    return round(float(x_train01.mean()), 6), round(float(x_train01.std()), 6)


def to_tensor(x_uint8, mean, std):
    x = (minmax01(x_uint8) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(x.astype(np.float32)).unsqueeze(1)


def augment(x, cfg, gen):
    """Random scaling, rotation, translation (i.e. random crops of a rescaled image), flips where valid, mild contrast."""
    n = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)
    s = u(*cfg["scale"])
    a = u(-cfg["rotate_deg"], cfg["rotate_deg"]) * math.pi / 180.0
    tx = u(-cfg["translate"], cfg["translate"])
    ty = u(-cfg["translate"], cfg["translate"])
    flip = torch.ones(n)
    if cfg["hflip"]:
        flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = u(1 - cfg["contrast"], 1 + cfg["contrast"]).view(n, 1, 1, 1)
    bias = u(-cfg["brightness"], cfg["brightness"]).view(n, 1, 1, 1)
    return out * gain + bias


@torch.no_grad()
def logits_of(model, x, batch=512):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy().astype(np.float64)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def bce(y, z):
    return float(np.mean(np.logaddexp(0, z) - y * z))


def fit_temperature(y, z):
    """Temperature scaling (Guo et al. 2017) on the validation logits: grid search of log T for minimum NLL."""
    grid = np.exp(np.linspace(-1.5, 2.0, 701))
    nll = [bce(y, z / t) for t in grid]
    return float(grid[int(np.argmin(nll))])


def train_member(cfg, xtr, ytr, xva, yva, seed, log):
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCamNet(widths=tuple(cfg["widths"]), dropout=cfg["dropout"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps_per_epoch = math.ceil(len(xtr) / cfg["batch"])
    total = steps_per_epoch * cfg["max_epochs"]
    warm = steps_per_epoch * 2
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, k / total))))
    ytr_t = torch.from_numpy(ytr.astype(np.float32))
    best = None
    history = []
    stale = 0
    t0 = time.time()
    for epoch in range(cfg["max_epochs"]):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        running = 0.0
        for i in range(0, len(xtr), cfg["batch"]):
            idx = perm[i:i + cfg["batch"]]
            xb = augment(xtr[idx], cfg, gen)
            loss = F.binary_cross_entropy_with_logits(model(xb), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss) * len(idx)
        zva = logits_of(model, xva)
        val_auc, val_loss = M.auc(yva, zva), bce(yva, zva)
        history.append({"epoch": epoch + 1, "trainLoss": running / len(xtr), "valLoss": val_loss, "valAuc": val_auc, "lr": sched.get_last_lr()[0]})
        key = (round(val_auc, 4), -val_loss)
        if best is None or key > best[0]:
            best = (key, epoch + 1, copy.deepcopy(model.state_dict()))
            stale = 0
        else:
            stale += 1
        print(f"  [{cfg['id']} seed {seed}] epoch {epoch + 1:3d}  train loss {running / len(xtr):.4f}  val loss {val_loss:.4f}  val AUC {val_auc:.4f}{'  *' if stale == 0 else ''}", flush=True)
        if stale >= cfg["patience"]:
            break
    model.load_state_dict(best[2])
    model.eval()
    log.append({"seed": seed, "epochsRun": len(history), "bestEpoch": best[1], "bestValAuc": best[0][0], "seconds": round(time.time() - t0, 1), "history": history})
    return model


def run_task(cfg, data, threads=2):
    torch.set_num_threads(threads)
    started = time.time()
    xtr_u8, ytr = data["train"]
    xva_u8, yva = data["val"]
    xte_u8, yte = data["test"]
    mean, std = normalisation_stats(minmax01(xtr_u8))
    xtr, xva, xte = (to_tensor(a, mean, std) for a in (xtr_u8, xva_u8, xte_u8))
    members_log = []
    members = [train_member(cfg, xtr, ytr, xva, yva, cfg["seed"] + k, members_log) for k in range(cfg["ensemble"])]
    ens = ExportWrapper(members, 1.0).eval()

    @torch.no_grad()
    def raw_logit(x):
        return ens(x)[0][:, 1].double().numpy() * 2.0

    zva = raw_logit(xva)
    temperature = fit_temperature(yva, zva)
    ens = ExportWrapper(members, temperature).eval()

    @torch.no_grad()
    def prob(x):
        return torch.softmax(ens(x)[0].double(), dim=1)[:, 1].numpy()

    pva = prob(xva)
    pte = prob(xte)
    threshold, youden_j = M.youden_threshold(yva, pva)
    threshold = round(threshold, 6)  # exactly the value written to the manifest
    val_metrics, val_conf = M.point_metrics(yva, pva, threshold)
    test_metrics, test_conf = M.point_metrics(yte, pte, threshold)
    ci = M.bootstrap_ci(yte, pte, threshold, n_boot=cfg["bootstrap"], seed=cfg["seed"])
    ece, rel_bins = M.calibration(yte, pte)
    fpr, tpr, _ = M.roc_curve(yte, pte)
    acc05 = M.threshold_metrics(M.confusion(yte, pte, 0.5))["accuracy"]
    return {
        "ensemble": ens,
        "normalisation": {"mean": mean, "std": std},
        "temperature": temperature,
        "threshold": threshold,
        "youdenJ": youden_j,
        "val": {"n": int(len(yva)), "positives": int(yva.sum()), **val_metrics, "confusion": val_conf},
        "test": {"n": int(len(yte)), "positives": int(yte.sum()), **test_metrics, "confusion": test_conf, "ci95": ci, "accuracyAtHalf": acc05},
        "reliability": rel_bins,
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "members": members_log,
        "testProbabilities": pte,
        "seconds": round(time.time() - started, 1),
        "counts": {s: {"n": int(len(d[1])), "positives": int(d[1].sum())} for s, d in data.items()},
    }
