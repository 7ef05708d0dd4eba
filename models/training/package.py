"""Writes one model package: model.onnx, manifest.json, metrics.json, roc.png, reliability.png, MODEL_CARD.md."""
import hashlib
import io
import json
import os
import platform

import numpy as np
import onnx
import torch

import plots
from card import model_card
from train import THREADS_PER_MEMBER

OPSET = 13
HYPERPARAMETERS = ("widths", "dropout", "lr", "weight_decay", "batch", "max_epochs", "patience", "folds", "repeats", "scale", "rotate_deg", "translate", "hflip",
                   "contrast", "brightness", "label_smoothing", "mixup", "flip_tta", "erase", "erase_size", "upsample", "ema", "optimizer", "pairwise",
                   "repeat_settings")


def export_onnx(ens, path):
    ens.eval()
    buf = io.BytesIO()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        ens, dummy, buf, opset_version=OPSET, input_names=["image"], output_names=["logits", "cam"],
        dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "cam": {0: "N"}}, do_constant_folding=True,
    )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    proto.producer_name = "vigil-models-training"
    proto.doc_string = "Vigil model package graph: image [N,1,28,28] -> logits [N,2], cam [N,1,28,28]"
    data = proto.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def manifest_for(cfg, result, sha):
    t = round(result["threshold"], 6)
    n = result["normalisation"]
    # A US DICOM is a screen capture; BUSI's images (BreastMNIST's source) are the B-mode field of view
    # alone, so ultrasound first crops to the image region (before any op that takes statistics, MONOCHROME1's
    # inversion included). The op needs manifest schema v4.
    ultrasound = "US" in cfg["applicability"].get("modalities", [])
    region_crop = [{"op": "cropUltrasoundRegion"}] if ultrasound else []
    # A radiograph's stored values are not what MedMNIST's source images hold: those were exported for display
    # (JPEG/PNG), i.e. through the image's own window or VOI LUT. voiLut (schema v5) applies it, before the
    # MONOCHROME1 inversion and any statistics; a no-op for images without one (e.g. the MedMNIST DICOM fixtures).
    voi = [] if ultrasound else [{"op": "voiLut"}]
    manifest = {
        "schemaVersion": 4 if ultrasound else 5,
        "id": cfg["id"],
        "name": cfg["name"],
        "version": cfg["version"],
        "sha256": sha,
        "license": "CC-BY-4.0",
        "authors": ["Vigil"],
        "provenance": cfg["provenance"],
        "intendedUse": cfg["intendedUse"],
        "clinicalUse": False,
        "applicability": cfg["applicability"],
        # Schema v3: outside this population the series is still analysed, with a warning.
        "intendedPopulation": cfg["intendedPopulation"],
        "input": {"unit": "image", "tensors": [{"name": "image", "dtype": "float32", "shape": ["N", 1, 28, 28], "layout": "NCHW"}]},
        # MedMNIST: centre-crop to the short edge, then downsample to 28x28 (area
        # averaging, so a full-size radiograph is not aliased).
        "preprocessing": [
            {"op": "modalityRescale"},
            *region_crop,
            *voi,
            {"op": "invertMonochrome1"},
            {"op": "cropSquare"},
            {"op": "resize", "size": [28, 28], "interpolation": "area"},
            {"op": "normalize", "method": "minmax"},
            {"op": "normalize", "method": "fixed", "mean": [n["mean"]], "std": [n["std"]]},
        ],
        "outputs": [
            {"kind": "classification", "tensor": "logits", "labels": cfg["labels"], "activation": "softmax", "thresholds": [round(1 - t, 6), t], "normalLabels": [cfg["labels"][0]]},
            {"kind": "heatmap", "tensor": "cam", "label": cfg["labels"][1], "normalize": "minmax"},
        ],
    }
    return manifest


def _r(v, k=4):
    return None if v is None else round(float(v), k)


def _calibration_json(result):
    c = result["calibration"]
    r6 = lambda d: {k: _r(v, 6) for k, v in d.items()}
    return {
        "method": c["method"],
        "scale": _r(c["scale"], 6),
        "bias": _r(c["bias"], 6),
        "formula": "p(positive) = sigmoid(scale * mean member logit + bias), inside model.onnx",
        "fittedOn": result["selection"],
        "chosenBy": "lowest cross-validated NLL on the same cases (10 stratified folds x 5 repeats) among none, temperature, Platt",
        "cvNll": r6(c["cvNll"]),
        "uncalibrated": {k: r6(v) for k, v in c["uncalibrated"].items()},
        "calibratedNll": r6(c["calibratedNll"]),
        "reliabilityUncalibrated": [{**b, "meanPredicted": _r(b["meanPredicted"], 6), "observed": _r(b["observed"], 6)} for b in c["reliabilityUncalibrated"]],
    }


def metrics_json(cfg, result, sha, size, log, env):
    test = result["test"]
    keys = ["auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "ece", "brier"]
    return {
        "modelId": cfg["id"],
        "version": cfg["version"],
        "sha256": sha,
        "modelBytes": size,
        "labels": cfg["labels"],
        "positiveLabel": cfg["labels"][1],
        "dataset": cfg["dataset"],
        "dataPreparation": log,
        "counts": result["counts"],
        "preprocessing": {"minmaxThenFixed": result["normalisation"]},
        "calibration": _calibration_json(result),
        "threshold": round(result["threshold"], 6),
        "thresholdRule": f"Youden's J (max sensitivity + specificity - 1) on {result['selection']}, on the calibrated probabilities (calibration fitted on the same cases)",
        "test": {
            "n": test["n"],
            "positives": test["positives"],
            **{k: _r(test[k], 6) for k in keys},
            "confusion": test["confusion"],
            "ci95": {k: [_r(v, 6) for v in test["ci95"][k]] for k in keys},
            "ciMethod": f"percentile bootstrap, {cfg['bootstrap']} resamples of the test cases, seed {cfg['seed']}",
            "accuracyAtThreshold0.5": _r(test["accuracyAtHalf"], 6),
            "reliability": [{**b, "meanPredicted": _r(b["meanPredicted"], 6), "observed": _r(b["observed"], 6)} for b in result["reliability"]],
            # The ROC points behind roc.png, so the Models page can draw the curve itself.
            "roc": {"fpr": [_r(v, 6) for v in result["roc"]["fpr"]], "tpr": [_r(v, 6) for v in result["roc"]["tpr"]]},
        },
        "validation": {k: (_r(v, 6) if isinstance(v, float) else v) for k, v in result["val"].items()},
        "paperBaselines": cfg["baselines"],
        "training": {
            "seed": cfg["seed"],
            "ensembleMembers": len(result["members"]),
            "selection": result["selection"],
            "members": [{k: m[k] for k in ("repeat", "fold", "heldOut", "seed", "epochsRun", "bestEpoch", "bestValAuc", "seconds") if k in m} for m in result["members"]],
            "seconds": result["seconds"],
            "hyperparameters": {k: cfg[k] for k in HYPERPARAMETERS if k in cfg},
            "environment": env,
        },
    }


def write_plots(cfg, m, out_dir):
    """roc.png and reliability.png, drawn from metrics.json alone (so cards and plots can be redrawn without training)."""
    test = m["test"]
    ci = test["ci95"]
    with open(os.path.join(out_dir, "roc.png"), "wb") as f:
        f.write(plots.roc_png(
            test["roc"]["fpr"], test["roc"]["tpr"],
            f"{cfg['id']} - ROC, TEST SPLIT (N={test['n']})",
            f"AUC {test['auc']:.3f} (95% CI {ci['auc'][0]:.3f}-{ci['auc'][1]:.3f})",
            (1 - test["specificity"], test["sensitivity"]), f"T={m['threshold']:.3f} (YOUDEN ON {'CV' if cfg.get('folds') else 'VAL'})",
        ))
    with open(os.path.join(out_dir, "reliability.png"), "wb") as f:
        cal = m["calibration"]
        f.write(plots.reliability_png(
            test["reliability"], f"{cfg['id']} - RELIABILITY, TEST SPLIT",
            f"ECE {test['ece']:.3f} (95% CI {ci['ece'][0]:.3f}-{ci['ece'][1]:.3f}), 10 BINS",
            before=cal["reliabilityUncalibrated"],
            legend=(f"SHIPPED ({cal['method'].upper()}, FITTED WITHOUT TEST)", f"UNCALIBRATED, ECE {cal['uncalibrated']['test']['ece']:.3f}"),
        ))


def write_package(cfg, result, log, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    sha, size = export_onnx(result["ensemble"], os.path.join(out_dir, "model.onnx"))
    env = {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__, "opset": OPSET,
           "threadsPerMember": THREADS_PER_MEMBER, "workers": result["workers"], "cpus": os.cpu_count()}
    manifest = manifest_for(cfg, result, sha)
    m = metrics_json(cfg, result, sha, size, log, env)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    write_plots(cfg, m, out_dir)
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(model_card(cfg, manifest, m))
    return manifest, m
