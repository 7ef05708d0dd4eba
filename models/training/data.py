"""Data loading for the Vigil model recipes (MedMNIST v2, 28x28, CC BY 4.0).

BreastMNIST: the official split as stored. PneumoniaMNIST: the official
training set is rebuilt from two partial copies (see PROVENANCE.md next to the
data): the Kaggle variant (official val/test, truncated train) and the
balanced subset (all 1,214 official train normals). The union of their train
sets, deduplicated by pixel content, with every image that also occurs in
val or test removed, is the training set.

Labels are returned as the product's positive class (1 = positive):
pneumonia for the chest model, malignant for the breast model (the dataset's
label 0 = malignant, so it is flipped here).
"""
import hashlib
import os

import numpy as np


def _digest(image):
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def _flat(labels):
    return np.asarray(labels).reshape(-1).astype(np.int64)


def _dedup(images, labels, what, log):
    """Keeps the first image of every pixel-identical group; refuses conflicting labels."""
    seen = {}
    keep = []
    conflicts = 0
    for i, (im, y) in enumerate(zip(images, labels)):
        h = _digest(im)
        if h in seen:
            if labels[seen[h]] != y:
                conflicts += 1
            continue
        seen[h] = i
        keep.append(i)
    if conflicts:
        raise RuntimeError(f"{what}: {conflicts} pixel-identical images carry different labels")
    log[f"{what}_duplicates_removed"] = int(len(images) - len(keep))
    return images[keep], labels[keep], [_digest(im) for im in images[keep]]


def _remove_overlap(images, labels, hashes, others, what, log):
    other = set()
    for imgs in others:
        other.update(_digest(im) for im in imgs)
    keep = [i for i, h in enumerate(hashes) if h not in other]
    log[f"{what}_overlap_with_val_or_test_removed"] = int(len(images) - len(keep))
    return images[keep], labels[keep]


def _overlap_count(a, b):
    return len({_digest(im) for im in a} & {_digest(im) for im in b})


def load_breast(root):
    """Official BreastMNIST split; y = 1 for malignant (dataset label 0)."""
    path = os.path.join(root, "breastmnist.npz")
    d = np.load(path)
    log = {"files": [os.path.basename(path)]}
    out = {}
    for split in ("train", "val", "test"):
        out[split] = (d[f"{split}_images"], 1 - _flat(d[f"{split}_labels"]))
    x, y, hashes = _dedup(out["train"][0], out["train"][1], "train", log)
    x, y = _remove_overlap(x, y, hashes, [out["val"][0], out["test"][0]], "train", log)
    out["train"] = (x, y)
    log["val_test_overlap"] = _overlap_count(out["val"][0], out["test"][0])
    return out, log


def load_pneumonia(root):
    """Official PneumoniaMNIST val/test; train rebuilt from the two partial copies; y = 1 for pneumonia."""
    kaggle = np.load(os.path.join(root, "pneumoniamnist_kaggle-variant.npz"))
    balanced = np.load(os.path.join(root, "pneumoniamnist_balanced-subset.npz"))
    log = {"files": ["pneumoniamnist_kaggle-variant.npz", "pneumoniamnist_balanced-subset.npz"]}
    xs = np.concatenate([kaggle["train_images"], balanced["train_images"]])
    ys = np.concatenate([_flat(kaggle["train_labels"]), _flat(balanced["train_labels"])])
    log["train_union_before_dedup"] = int(len(xs))
    x, y, hashes = _dedup(xs, ys, "train", log)
    val = (kaggle["val_images"], _flat(kaggle["val_labels"]))
    test = (kaggle["test_images"], _flat(kaggle["test_labels"]))
    x, y = _remove_overlap(x, y, hashes, [val[0], test[0]], "train", log)
    log["val_test_overlap"] = _overlap_count(val[0], test[0])
    log["official_train_composition"] = {"normal": 1214, "pneumonia": 3494}
    return {"train": (x, y), "val": val, "test": test}, log


def minmax01(x):
    """Per-image min-max to 0..1 in float32 (the product's `normalize: minmax` on the 28x28 grid)."""
    x = x.astype(np.float32)
    lo = x.reshape(len(x), -1).min(axis=1)[:, None, None]
    hi = x.reshape(len(x), -1).max(axis=1)[:, None, None]
    rng = (hi - lo).astype(np.float32)
    safe = np.where(rng > 0, rng, np.float32(1))
    return np.where(rng > 0, (x - lo) / safe, np.float32(0)).astype(np.float32)
