#!/usr/bin/env python3
"""Regenerates Vigil's bundled model packages from the MedMNIST data.

    /usr/bin/python3 models/training/train_all.py [--data ../shared/data/medmnist] [--only <id>] [--threads 2]

(or `npm run models:train`). Writes models/<id>/{model.onnx, manifest.json,
metrics.json, MODEL_CARD.md, roc.png, reliability.png} for both models.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
from package import write_package  # noqa: E402
from train import run_task  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))

COMMON = {
    "widths": [16, 32, 64],
    "dropout": 0.2,
    "weight_decay": 5e-4,
    "contrast": 0.1,
    "brightness": 0.1,
    "bootstrap": 2000,
    "seed": 20240501,
    "version": "1.2.0",
}

BASELINES = {
    "pneumonia": [("ResNet-18 (28)", 0.944, 0.854), ("ResNet-18 (224)", 0.956, 0.864), ("ResNet-50 (28)", 0.948, 0.854), ("ResNet-50 (224)", 0.962, 0.884), ("auto-sklearn", 0.942, 0.855), ("AutoKeras", 0.947, 0.878), ("Google AutoML Vision", 0.991, 0.946)],
    "breast": [("ResNet-18 (28)", 0.901, 0.863), ("ResNet-18 (224)", 0.891, 0.833), ("ResNet-50 (28)", 0.857, 0.812), ("ResNet-50 (224)", 0.866, 0.842), ("auto-sklearn", 0.836, 0.803), ("AutoKeras", 0.871, 0.831), ("Google AutoML Vision", 0.919, 0.861)],
}

PAPER_NOTE = (
    "Paper values as transcribed in ../shared/data/medmnist/PROVENANCE.md (MedMNIST v2, Table 3; re-check against the paper before citing). "
    "The paper's ACC uses its own operating point; ours uses the threshold chosen without the test split (on validation, or on cross-validation for the breast model; accuracy at 0.5 is given above)."
)

# The cross-validation runs behind the 1.2.0 breast recipe (compare.py; README.md has the commands). Typed here from
# their printed results: they are a record of how the settings were chosen, not measurements of the shipped model.
BREAST_RECIPE_SELECTION = """Every candidate was scored by 5-fold stratified cross-validation on BreastMNIST train+val (623 images;
fold seed 777, not the shipped model's folds) with `models/training/compare.py`; the test split was not
used. Each member trains 60 epochs on 4 folds and scores the fifth (mirror-averaged); the table gives the
pooled out-of-fold AUC. "Seed" is the members' initialisation (same folds); "2 members" averages two seeds'
logits per case, as the shipped 2-repeat ensemble does.

| run | settings (changes from 1.1.0) | out-of-fold AUC |
|---|---|---|
| A | 1.1.0 recipe | 0.895 (seed 0), 0.881 (seed 100); 2 members 0.898 |
| PT | A, trunk pretrained 10 epochs on the 4,682 PneumoniaMNIST training images | 0.875 |
| ER | A + cutout (p 0.5, 9×9 square) | 0.896 |
| **LS** | **A + label smoothing 0.1** | **0.905 (seed 0), 0.882 (seed 100), 0.883 (seed 200); 2 members 0.903; 3 members 0.903** |
| LS2 | A + label smoothing 0.2 | 0.895 |
| LS+ER | LS + cutout | 0.891 |
| +shift | any of the above, also averaging 1-pixel shifts at test time | −0.000 to +0.006 |

Member seeds alone move the AUC by 0.015, more than most differences here; paired bootstrap of A vs LS (same
folds and seeds): +0.010 (95% CI −0.005 to +0.025). Label smoothing 0.1 was the best or tied at every seed
and ensemble size, so 1.2.0 adds it; pretraining on chest radiographs hurt, cutout and stronger smoothing
did not help, a third member per case added nothing (so the ensemble stays 2 repeats × 5 folds = 10
members), and the shift average was left out (a small, inconsistent gain for 5× the inference).

On the shipped model's own folds (seed 20240501, 2 repeats) the recipe's out-of-fold AUC (Selection cases,
below) is 0.917 against 1.1.0's 0.920 on the same folds: the label-smoothing gain of the comparison folds did
not reproduce, so the two recipes are equal within the noise of 623 cases. The test split was evaluated once,
for this recipe (Evaluation below): it is below 1.1.0's 0.911 and below the 0.92 target."""

TASKS = {
    "cxr-pneumonia": {
        **COMMON,
        "id": "cxr-pneumonia",
        "name": "Paediatric chest X-ray pneumonia classifier (PneumoniaMNIST, 28×28)",
        "labels": ["normal", "pneumonia"],
        "load": data.load_pneumonia,
        "dataset": "PneumoniaMNIST (MedMNIST v2), official val/test; train rebuilt from two partial copies",
        "lr": 3e-3, "batch": 128, "max_epochs": 24, "patience": 8, "ensemble": 3,
        "scale": [0.9, 1.1], "rotate_deg": 10, "translate": 0.08, "hflip": False,
        "applicability": {"modalities": ["CR", "DX"], "bodyParts": ["CHEST"], "viewPositions": ["PA", "AP"], "photometric": ["MONOCHROME1", "MONOCHROME2"]},
        "applicabilityText": "modality CR or DX, body part CHEST, view position PA or AP, MONOCHROME1/2.",
        "intendedPopulation": {"ageYears": {"min": 1, "max": 5}, "note": "Trained on paediatric chest radiographs of children aged 1–5 years (Guangzhou Women and Children's Medical Center; Kermany et al. 2018)."},
        "provenance": "Trained by Vigil (models/training/train_all.py) on PneumoniaMNIST from MedMNIST v2 (Yang et al., Sci Data 2023; CC BY 4.0), derived from Kermany et al., Cell 2018 (CC BY 4.0).",
        "intendedUse": "Research demonstration of a pneumonia / normal classifier for frontal (PA/AP) paediatric chest radiographs (children aged 1–5 years, the source population). Not for clinical use; not for adults.",
        "dataText": "PneumoniaMNIST (MedMNIST v2): paediatric frontal chest radiographs from Guangzhou Women and Children's Medical Center (Kermany et al. 2018), centre-cropped to the short edge and resized to 28×28 by MedMNIST; label 0 = normal, 1 = pneumonia. The official MedMNIST file could not be downloaded; its validation (524) and test (624) splits come from a Kaggle re-distribution whose training split is truncated, and the official training composition (1,214 normal + 3,494 pneumonia) is rebuilt as the union of that training split and a third party's balanced subset, deduplicated by pixel content, with images also present in validation or test removed (see ../shared/data/medmnist/PROVENANCE.md).",
        "sourceAttribution": "- Daniel S. Kermany et al. \"Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning.\" *Cell* 172(5), 1122–1131 (2018); data: Mendeley Data, doi:10.17632/rscbjbr9sj.3, CC BY 4.0.",
        "shiftText": ("trained only on paediatric chest radiographs from one centre in China. Even within PneumoniaMNIST the test split "
                      "behaves differently from the training/validation splits: validation is almost perfectly separated (AUC ≈ 0.998), "
                      "while the test split's normal images score much closer to pneumonia (the 1.1.0 ensemble's median logit for test "
                      "normals was −2.3 against −5.1 for validation normals; pneumonia images scored alike). That shift is already in the "
                      "uncalibrated scores (see the calibration table), so no calibration fitted without the test split removes it: on the "
                      "test split the model is over-confident for pneumonia and the specificity at the chosen threshold is much lower than "
                      "on validation (see the reliability plot). Adult chest radiographs, other vendors and other hospitals are out of "
                      "distribution; a clinic should check calibration and the operating point with `vigil validate` on its own cases."),
        "baselines": [{"method": a, "auc": b, "accuracy": c} for a, b, c in BASELINES["pneumonia"]],
        "comparisonNote": PAPER_NOTE,
    },
    "us-breast-malignancy": {
        **COMMON,
        "id": "us-breast-malignancy",
        "name": "Breast ultrasound malignancy classifier (BreastMNIST, 28×28)",
        "labels": ["normal_or_benign", "malignant"],
        "load": data.load_breast,
        "dataset": "BreastMNIST (MedMNIST v2), official 546/78/156 split",
        # 623 train+val images: settings and epoch count chosen by cross-validation (compare.py, README.md);
        # the shipped ensemble is the 10 members of a 2x repeated 5-fold cross-validation on train+val.
        "lr": 2e-3, "batch": 32, "max_epochs": 60, "folds": 5, "repeats": 2, "label_smoothing": 0.1,
        "scale": [0.85, 1.15], "rotate_deg": 15, "translate": 0.1, "hflip": True, "flip_tta": True,
        "applicability": {"modalities": ["US"], "bodyParts": ["BREAST"]},
        "applicabilityText": "modality US, body part BREAST.",
        "intendedPopulation": {"ageYears": {"min": 25, "max": 75}, "note": "Trained on breast ultrasound images of women aged 25–75 years (Baheya Hospital, Cairo; BUSI, Al-Dhabyani et al. 2020)."},
        "provenance": "Trained by Vigil (models/training/train_all.py) on BreastMNIST from MedMNIST v2 (Yang et al., Sci Data 2023; CC BY 4.0), derived from the BUSI dataset (Al-Dhabyani et al., Data in Brief 2020).",
        "intendedUse": "Research demonstration of a malignant vs normal-or-benign classifier for single breast ultrasound images (B-mode, adult women). Not for clinical use.",
        "dataText": "BreastMNIST (MedMNIST v2): 780 breast ultrasound images of women aged 25–75 from Baheya Hospital, Cairo (BUSI, Al-Dhabyani et al. 2020), resized to 28×28 by MedMNIST; MedMNIST label 0 = malignant, 1 = normal or benign. The product's positive class is malignant (label flipped at load time). Official split 546/78/156.",
        "sourceAttribution": "- Walid Al-Dhabyani, Mohammed Gomaa, Hussien Khaled, Aly Fahmy. \"Dataset of breast ultrasound images.\" *Data in Brief* 28, 104863 (2020).",
        "shiftText": "trained on 623 ultrasound images (BreastMNIST train+val) from one hospital and one ultrasound system (LOGIQ E9). Other scanners, probes, presets and populations are out of distribution.",
        "recipeSelection": BREAST_RECIPE_SELECTION,
        "baselines": [{"method": a, "auc": b, "accuracy": c} for a, b, c in BASELINES["breast"]],
        "comparisonNote": PAPER_NOTE,
    },
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("VIGIL_MEDMNIST", os.path.join(REPO, "..", "shared", "data", "medmnist")))
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--only", choices=sorted(TASKS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cards-only", action="store_true", help="rewrite MODEL_CARD.md from the existing manifest.json + metrics.json (no training)")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"MedMNIST data folder not found: {args.data} (pass --data or set VIGIL_MEDMNIST)")
    started = time.time()
    if args.cards_only:
        import json

        from card import model_card

        for tid, cfg in TASKS.items():
            if args.only and tid != args.only:
                continue
            d = os.path.join(args.out, tid)
            with open(os.path.join(d, "manifest.json")) as f:
                manifest = json.load(f)
            with open(os.path.join(d, "metrics.json")) as f:
                m = json.load(f)
            with open(os.path.join(d, "MODEL_CARD.md"), "w") as f:
                f.write(model_card(cfg, manifest, m))
            print(f"rewrote {tid}/MODEL_CARD.md")
        return
    for tid, cfg in TASKS.items():
        if args.only and tid != args.only:
            continue
        print(f"== {tid}: loading data from {args.data}", flush=True)
        splits, log = cfg["load"](args.data)
        print(f"   data preparation: {log}", flush=True)
        pretrain_data = None
        if cfg.get("pretrain"):
            # The trunk is pretrained on PneumoniaMNIST's training images only (no val/test image of either set).
            pretrain_data = data.load_pneumonia(args.data)[0]["train"]
        result = run_task(cfg, splits, threads=args.threads, pretrain_data=pretrain_data)
        manifest, m = write_package(cfg, result, log, os.path.join(args.out, tid))
        t = m["test"]
        print(f"== {tid}: test AUC {t['auc']:.4f} {t['ci95']['auc']}  accuracy {t['accuracy']:.4f}  sensitivity {t['sensitivity']:.4f}  specificity {t['specificity']:.4f}  threshold {m['threshold']}  ({result['seconds']:.0f} s)", flush=True)
    print(f"done in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
