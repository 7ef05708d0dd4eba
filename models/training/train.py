"""Training, evaluation and export of one Vigil model package (see train_all.py)."""
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

import metrics as M
from data import minmax01
from model import ExportWrapper, SmallCamNet, hflip


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
    out = out * gain + bias
    erase = cfg.get("erase", 0.0)
    if erase > 0:
        out = random_erase(out, erase, cfg.get("erase_size", 8), gen)
    return out


def random_erase(x, prob, size, gen):
    """Cutout (DeVries & Taylor 2017): with probability `prob` a size x size square at a random
    position (possibly clipped at the border) is set to 0, the mean of the normalised pixels."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=gen).view(n, 1, 1)
    cx = torch.randint(0, w, (n,), generator=gen).view(n, 1, 1)
    on = (torch.rand(n, generator=gen) < prob).view(n, 1, 1)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    half = size // 2
    hole = on & ((rows - cy).abs() <= half) & ((cols - cx).abs() <= half)
    return x.masked_fill(hole.unsqueeze(1), 0.0)


@torch.no_grad()
def logits_of(model, x, batch=512):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy().astype(np.float64)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def bce(y, z):
    return float(np.mean(np.logaddexp(0, z) - y * z))


def fit_temperature(y, z):
    """Temperature scaling (Guo et al. 2017): grid search of log T for minimum NLL. Returns (1/T, 0)."""
    grid = np.exp(np.linspace(-1.5, 2.0, 701))
    nll = [bce(y, z / t) for t in grid]
    return 1.0 / float(grid[int(np.argmin(nll))]), 0.0


def fit_platt(y, z):
    """Platt scaling (Platt 1999): p = sigmoid(a z + b) by Newton's method on the NLL, with Platt's
    smoothed targets (N+ + 1)/(N+ + 2) and 1/(N- + 2), which keep a (nearly) separable set from
    driving a to infinity."""
    y = np.asarray(y)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = 1.0, 0.0
    for _ in range(100):
        p = sigmoid(a * z + b)
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.sum((p - t) * z), np.sum(p - t)])
        h = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


CALIBRATORS = {"none": lambda y, z: (1.0, 0.0), "temperature": fit_temperature, "platt": fit_platt}


def choose_calibration(y, z, seed, folds=10, repeats=5):
    """Picks the calibration map (none, temperature, Platt) with the lowest cross-validated NLL on the
    selection cases themselves (stratified folds: fit on the rest, score the held-out fold), then fits
    it on all of them. The test split plays no part. Returns (method, scale, bias, cv NLL per method)."""
    y = np.asarray(y)
    cv = {}
    for name, fit in CALIBRATORS.items():
        losses = []
        for r in range(repeats):
            for held in stratified_folds(y, folds, seed + r):
                rest = np.setdiff1d(np.arange(len(y)), held)
                a, b = fit(y[rest], z[rest])
                losses.append(bce(y[held], a * z[held] + b) * len(held))
        cv[name] = float(np.sum(losses) / (repeats * len(y)))
    method = min(cv, key=cv.get)
    a, b = CALIBRATORS[method](y, z)
    return method, a, b, cv


def loss_of(model, xb, yb, cfg, rng):
    """BCE with optional label smoothing, mixup (Zhang et al. 2018; pairs mixed within the batch) and a pairwise ranking term."""
    ls = cfg.get("label_smoothing", 0.0)
    target = yb * (1 - ls) + 0.5 * ls
    alpha = cfg.get("mixup", 0.0)
    if alpha > 0:
        lam = float(rng.beta(alpha, alpha))
        perm = torch.from_numpy(rng.permutation(len(xb)))
        xb = lam * xb + (1 - lam) * xb[perm]
        target = lam * target + (1 - lam) * target[perm]
    z = model(xb)
    loss = F.binary_cross_entropy_with_logits(z, target)
    w = cfg.get("pairwise", 0.0)
    if w > 0:
        # Ranking term (a squared-hinge AUC surrogate, as in deep AUC maximisation): every malignant image in
        # the batch should score at least `pairwise_margin` above every other one.
        pos, neg = z[yb > 0.5], z[yb < 0.5]
        if len(pos) and len(neg):
            gap = pos.view(-1, 1) - neg.view(1, -1)
            loss = loss + w * F.relu(cfg.get("pairwise_margin", 1.0) - gap).pow(2).mean()
    return loss


@torch.no_grad()
def member_logits(model, x, flip_tta=False):
    """Positive-class logits of one member (eval mode), averaged with the mirrored image's when flip_tta."""
    z = logits_of(model, x)
    return 0.5 * (z + logits_of(model, hflip(x))) if flip_tta else z


def train_member(cfg, xtr, ytr, xva, yva, seed, log, early_stopping=True):
    """Trains one member. With early_stopping, keeps the epoch with the best validation AUC (patience
    cfg["patience"]); without, trains cfg["max_epochs"] epochs (cosine to zero) and keeps the last
    weights, the held-out split only being logged."""
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.RandomState(seed % (2**32))
    model = new_member(cfg)
    # Exponential moving average of the weights (and BatchNorm statistics), updated after every step;
    # the averaged copy is what gets evaluated and kept.
    ema = WeightAverage(model, cfg["ema"]) if cfg.get("ema") else None
    if cfg.get("optimizer", "adamw") == "sgd":
        # Nesterov SGD: weight_decay is then plain L2 added to the gradient.
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, nesterov=True, weight_decay=cfg["weight_decay"])
    else:
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
            loss = loss_of(model, augment(xtr[idx], cfg, gen), ytr_t[idx], cfg, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(model)
            running += float(loss) * len(idx)
        scored = model if ema is None else ema.model
        zva = member_logits(scored, xva, cfg.get("flip_tta", False))
        val_auc, val_loss = M.auc(yva, zva), bce(yva, zva)
        history.append({"epoch": epoch + 1, "trainLoss": running / len(xtr), "valLoss": val_loss, "valAuc": val_auc, "lr": sched.get_last_lr()[0]})
        key = (round(val_auc, 4), -val_loss)
        if not early_stopping:
            best = (key, epoch + 1, None)
        elif best is None or key > best[0]:
            best = (key, epoch + 1, copy.deepcopy(scored.state_dict()))
            stale = 0
        else:
            stale += 1
        if cfg.get("verbose", True):
            print(f"  [{cfg['id']} seed {seed}] epoch {epoch + 1:3d}  train loss {running / len(xtr):.4f}  held-out loss {val_loss:.4f}  AUC {val_auc:.4f}{'  *' if early_stopping and stale == 0 else ''}", flush=True)
        if early_stopping and stale >= cfg["patience"]:
            break
    if ema is not None:
        model = ema.model
    if early_stopping:
        model.load_state_dict(best[2])
    model.eval()
    log.append({"seed": seed, "epochsRun": len(history), "bestEpoch": best[1], "bestValAuc": best[0][0], "seconds": round(time.time() - t0, 1), "history": history})
    return model


class WeightAverage:
    """Exponential moving average of a model's parameters and BatchNorm buffers (Polyak averaging):
    avg = decay * avg + (1 - decay) * current after each optimiser step, with the decay warmed up as
    min(decay, (1 + t) / (10 + t)) so the early, random weights fade quickly."""

    def __init__(self, model, decay):
        self.model = copy.deepcopy(model)
        self.decay = float(decay)
        self.steps = 0

    @torch.no_grad()
    def update(self, model):
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        current = model.state_dict()
        for name, avg in self.model.state_dict().items():
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(current[name], alpha=1 - d)
            else:
                avg.copy_(current[name])


def stratified_folds(y, k, seed):
    """k disjoint held-out index sets, each with the same share of positives (shuffled with `seed`)."""
    rng = np.random.RandomState(seed)
    folds = [[] for _ in range(k)]
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[j % k].append(int(i))
    return [np.sort(np.asarray(f)) for f in folds]


def new_member(cfg):
    return SmallCamNet(widths=tuple(cfg["widths"]), dropout=cfg["dropout"], upsample=cfg.get("upsample", 1))


# Every member trains on this many PyTorch threads, whatever the number of worker processes, so its
# weights never depend on how many run at once (batches are small: a second thread gains little).
THREADS_PER_MEMBER = 1


def _train_member_job(job):
    """One member, trained in a worker process with THREADS_PER_MEMBER threads (so its weights are those
    of a sequential run); returns plain arrays, which cross the process boundary by pickling."""
    cfg, xfit, yfit, xheld, yheld, seed, early_stopping = job
    torch.set_num_threads(THREADS_PER_MEMBER)
    log = []
    m = train_member(cfg, torch.from_numpy(xfit), yfit, torch.from_numpy(xheld), yheld, seed, log, early_stopping=early_stopping)
    return {k: v.numpy() for k, v in m.state_dict().items()}, log[-1]


def train_members(jobs, workers):
    """Trains the members described by `jobs` ((cfg, x_fit, y_fit, x_held, y_held, seed, early_stopping),
    x as NCHW float32 arrays) in `workers` spawned processes, each member on one thread: the weights do
    not depend on `workers`. Returns the members (eval mode), their training logs, in job order, and the
    number of processes used."""
    used = max(1, min(workers, len(jobs)))
    if used > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(used) as pool:
            outs = pool.map(_train_member_job, jobs, chunksize=1)
    else:
        threads = torch.get_num_threads()
        outs = [_train_member_job(job) for job in jobs]
        torch.set_num_threads(threads)
    members = []
    for job, (state, _) in zip(jobs, outs):
        m = new_member(job[0])
        m.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        members.append(m.eval())
    return members, [entry for _, entry in outs], used


# Settings a repeat may change: how its members are built and trained. Not the folds, the mirrored-image
# averaging or the widths, which the out-of-fold averaging, the exported graph and the card treat as global.
PER_REPEAT = ("upsample", "dropout", "lr", "weight_decay", "max_epochs", "label_smoothing", "mixup", "erase", "erase_size", "ema", "optimizer", "pairwise")


def repeat_settings(cfg):
    """Each repeat's settings: cfg["repeat_settings"][r] (overrides, e.g. a different architecture per
    repeat) over cfg, or cfg itself for every repeat."""
    repeats = cfg.get("repeats", 1)
    overrides = cfg.get("repeat_settings") or [{}] * repeats
    if len(overrides) != repeats:
        raise ValueError(f"repeat_settings has {len(overrides)} entries for {repeats} repeats")
    bad = sorted({k for o in overrides for k in o} - set(PER_REPEAT))
    if bad:
        raise ValueError(f"repeat_settings cannot change {bad} (only {', '.join(PER_REPEAT)})")
    return [{**cfg, **o} for o in overrides]


def cross_validate(cfg, x, y, seed, log, workers=1):
    """Repeated k-fold cross-validation on x (already normalised): cfg["repeats"] times (default 1) a
    fresh stratified split into cfg["folds"] folds, one member per fold trained on the other folds for
    a fixed number of epochs (with that repeat's settings). Returns all members and the out-of-fold
    logits: for every case the mean over the members (one per repeat) that never saw it, i.e. what the
    exported ensemble is made of."""
    settings = repeat_settings(cfg)
    xs = x.numpy()
    jobs, held_of = [], []
    for r, rcfg in enumerate(settings):
        for k, held in enumerate(stratified_folds(y, cfg["folds"], seed + 1000 * r)):
            fit = np.setdiff1d(np.arange(len(y)), held)
            jobs.append((rcfg, xs[fit], y[fit], xs[held], y[held], seed + r * cfg["folds"] + k, False))
            held_of.append((r, k, held))
    members, logs, used = train_members(jobs, workers)
    oof = np.zeros(len(y))
    for (r, k, held), (rcfg, *_), m, entry in zip(held_of, jobs, members, logs):
        log.append({**entry, "repeat": r + 1, "fold": k + 1, "heldOut": int(len(held))})
        oof[held] += member_logits(m, x[held], cfg.get("flip_tta", False)) / len(settings)
    return members, oof, used


def run_task(cfg, data, workers=2):
    """Trains the members (in `workers` processes), calibrates and picks the operating point on the
    selection cases (the validation split, or with cfg["folds"] the out-of-fold predictions of a
    cross-validation on train+val), then evaluates once on the test split."""
    started = time.time()
    # The parent only scores (out-of-fold, calibration, test): pinned too, so the last bits of the
    # reported metrics do not depend on the machine's default thread count.
    torch.set_num_threads(THREADS_PER_MEMBER)
    xtr_u8, ytr = data["train"]
    xva_u8, yva = data["val"]
    xte_u8, yte = data["test"]
    members_log = []
    flip_tta = cfg.get("flip_tta", False)
    if cfg.get("folds"):
        # Tiny data set: every train+val case serves both for fitting and (out of fold) for selection.
        xsel_u8, ysel = np.concatenate([xtr_u8, xva_u8]), np.concatenate([ytr, yva])
        mean, std = normalisation_stats(minmax01(xsel_u8))
        xsel, xte = to_tensor(xsel_u8, mean, std), to_tensor(xte_u8, mean, std)
        members, zsel, used = cross_validate(cfg, xsel, ysel, cfg["seed"], members_log, workers)
        selection = f"the out-of-fold predictions of {cfg.get('repeats', 1)}× repeated {cfg['folds']}-fold cross-validation on train+val"
    else:
        mean, std = normalisation_stats(minmax01(xtr_u8))
        xtr, xsel, xte = (to_tensor(a, mean, std) for a in (xtr_u8, xva_u8, xte_u8))
        ysel = yva
        jobs = [(cfg, xtr.numpy(), ytr, xsel.numpy(), ysel, cfg["seed"] + k, True) for k in range(cfg["ensemble"])]
        members, logs, used = train_members(jobs, workers)
        members_log.extend(logs)
        with torch.no_grad():
            zsel = ExportWrapper(members, 1.0, 0.0, flip_tta).eval()(xsel)[0][:, 1].double().numpy() * 2.0
        selection = "the validation split"
    method, scale, bias, cv_nll = choose_calibration(ysel, zsel, cfg["seed"])
    ens = ExportWrapper(members, scale, bias, flip_tta).eval()

    @torch.no_grad()
    def prob(x):
        return torch.softmax(ens(x)[0].double(), dim=1)[:, 1].numpy()

    # The selection scores are the ensemble's (for breast: out-of-fold) logits through the same map.
    psel = sigmoid(scale * zsel + bias) if cfg.get("folds") else prob(xsel)
    # Test scores from the exported graph itself (float32, calibration inside), as the product will compute them;
    # the raw logits below only feed the "uncalibrated" comparison.
    pte = prob(xte)
    with torch.no_grad():
        zte = ExportWrapper(members, 1.0, 0.0, flip_tta).eval()(xte)[0][:, 1].double().numpy() * 2.0
    p_uncal_sel, p_uncal_te = sigmoid(zsel), sigmoid(zte)
    ece_uncal_te, bins_uncal_te = M.calibration(yte, p_uncal_te)
    uncalibrated = {
        "selection": {"ece": M.calibration(ysel, p_uncal_sel)[0], "brier": M.brier(ysel, p_uncal_sel), "nll": bce(ysel, zsel)},
        "test": {"ece": ece_uncal_te, "brier": M.brier(yte, p_uncal_te), "nll": bce(yte, zte)},
    }
    calibrated_nll = {"selection": bce(ysel, scale * zsel + bias), "test": bce(yte, scale * zte + bias)}
    threshold, youden_j = M.youden_threshold(ysel, psel)
    threshold = round(threshold, 6)  # exactly the value written to the manifest
    sel_metrics, sel_conf = M.point_metrics(ysel, psel, threshold)
    test_metrics, test_conf = M.point_metrics(yte, pte, threshold)
    ci = M.bootstrap_ci(yte, pte, threshold, n_boot=cfg["bootstrap"], seed=cfg["seed"])
    ece, rel_bins = M.calibration(yte, pte)
    fpr, tpr, _ = M.roc_curve(yte, pte)
    acc05 = M.threshold_metrics(M.confusion(yte, pte, 0.5))["accuracy"]
    return {
        "ensemble": ens,
        "normalisation": {"mean": mean, "std": std},
        "calibration": {"method": method, "scale": scale, "bias": bias, "cvNll": cv_nll, "uncalibrated": uncalibrated, "calibratedNll": calibrated_nll,
                        "reliabilityUncalibrated": bins_uncal_te},
        "threshold": threshold,
        "youdenJ": youden_j,
        "selection": selection,
        "val": {"cases": selection, "n": int(len(ysel)), "positives": int(ysel.sum()), **sel_metrics, "confusion": sel_conf},
        "test": {"n": int(len(yte)), "positives": int(yte.sum()), **test_metrics, "confusion": test_conf, "ci95": ci, "accuracyAtHalf": acc05},
        "reliability": rel_bins,
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "members": members_log,
        "testProbabilities": pte,
        "seconds": round(time.time() - started, 1),
        "workers": used,
        "counts": {s: {"n": int(len(d[1])), "positives": int(d[1].sum())} for s, d in data.items()},
    }
