"""MODEL_CARD.md generator (numbers come from metrics.json, never typed by hand)."""


def _f(v, k=3):
    return "n/a" if v is None else f"{v:.{k}f}"


def _ci(m, key, k=3):
    lo, hi = m["test"]["ci95"][key]
    return f"{_f(m['test'][key], k)} ({_f(lo, k)}–{_f(hi, k)})"


NAMES = {
    "auc": "AUC (ROC)",
    "accuracy": "Accuracy",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "ppv": "PPV (precision)",
    "npv": "NPV",
    "f1": "F1",
    "ece": "ECE (10 equal-width bins)",
    "brier": "Brier score",
}


def model_card(cfg, manifest, m):
    t = m["test"]
    v = m["validation"]
    c = t["confusion"]
    pos, neg = cfg["labels"][1], cfg["labels"][0]
    rows = "\n".join(f"| {NAMES[k]} | {_ci(m, k)} |" for k in NAMES)
    base = "\n".join(f"| {b['method']} | {b['auc']:.3f} | {b['accuracy']:.3f} |" for b in cfg["baselines"])
    tr = m["training"]
    members = "; ".join(f"seed {x['seed']}: best epoch {x['bestEpoch']} of {x['epochsRun']} (val AUC {x['bestValAuc']:.4f})" for x in tr["members"])
    prep = m["dataPreparation"]
    prep_lines = "\n".join(f"  - {k}: {v}" for k, v in prep.items())
    counts = m["counts"]
    hp = tr["hyperparameters"]
    n = m["preprocessing"]["minmaxThenFixed"]
    return f"""# Model card: {cfg['name']}

| | |
|---|---|
| Model id | `{cfg['id']}` |
| Version | {cfg['version']} |
| Labels | `{neg}`, `{pos}` (positive class: `{pos}`) |
| model.onnx sha-256 | `{m['sha256']}` ({m['modelBytes']:,} bytes) |
| Clinical use | **No. Research demonstration only, not for clinical use.** |
| Licence | CC BY 4.0 (trained on CC BY 4.0 data; attribution below) |

## Intended use

{cfg['intendedUse']}

Not a medical device. It has not been validated prospectively or on data from
any clinic's equipment. Before relying on it for anything, run Vigil's local
validation on your own labelled cases: `npm run vigil -- validate --model
{cfg['id']} --cases <dir-or-csv>`.

Applicability declared in the manifest: {cfg['applicabilityText']}

## Data

{cfg['dataText']}

Splits used (positive = `{pos}`): train {counts['train']['n']} ({counts['train']['positives']} positive),
validation {counts['val']['n']} ({counts['val']['positives']} positive), test {counts['test']['n']} ({counts['test']['positives']} positive).

Data preparation checks (pixel-content SHA-1 of every 28×28 image):
{prep_lines}

### Attribution

- Jiancheng Yang, Rui Shi, Donglai Wei, Zequan Liu, Lin Zhao, Bilian Ke, Hanspeter Pfister, Bingbing Ni.
  "MedMNIST v2 – A large-scale lightweight benchmark for 2D and 3D biomedical image classification."
  *Scientific Data* 10, 41 (2023). Dataset licence CC BY 4.0 (https://medmnist.com/).
{cfg['sourceAttribution']}

## Preprocessing

Training and the product apply the same steps to the 28×28 image: per-image
min–max scaling to 0…1, then `(x − {n['mean']}) / {n['std']}` (mean and standard
deviation of the scaled training pixels). For full-size DICOM the product first
applies Modality LUT rescale, inverts MONOCHROME1, and resizes to 28×28 (see
manifest.json). MedMNIST built its images by centre-cropping the source to its
short edge before resizing; manifest schema v1 has no "crop to short edge" op,
so non-square images are currently resized without that crop (aspect ratio
distorted) — a known train/serve difference for full-size images (see
limitations).

## Model and training

- Architecture: compact CNN, 3 stages of two 3×3 conv–BatchNorm–ReLU layers
  (widths {hp['widths']}), max-pooling 28→14→7, global average pooling, dropout
  {hp['dropout']}, one linear unit (the `{pos}` logit). Ensemble of {tr['ensembleMembers']} member(s)
  with different seeds, logits averaged inside the graph.
- Interpretability: second output `cam` = class activation map of the `{pos}`
  logit (exact for a GAP + linear head), ReLU, bilinearly upsampled to 28×28
  inside the ONNX graph (the product maps it back onto the source image).
- Loss: binary cross-entropy. Optimiser: AdamW (lr {hp['lr']}, weight decay
  {hp['weight_decay']}), batch {hp['batch']}, 2-epoch linear warm-up then cosine decay
  over at most {hp['max_epochs']} epochs.
- Augmentation (training only): random scaling {hp['scale']}, rotation ±{hp['rotate_deg']}°,
  translation ±{hp['translate']} of the half-width (random crops of the rescaled image),
  {'horizontal flips (left/right is not anatomically fixed in breast ultrasound)' if hp['hflip'] else 'no flips (chest anatomy is not left/right symmetric)'},
  contrast ×(1 ± {hp['contrast']}) and brightness ± {hp['brightness']} (normalised units).
- Early stopping: validation AUC checked each epoch (ties broken by validation
  loss), patience {hp['patience']} epochs; the best epoch's weights are kept. {members}.
- Calibration: temperature scaling fitted on the validation split (T = {m['temperature']}),
  baked into the exported logits.
- Decision threshold: **{m['thresholdRule']}**: `{pos}` when p({pos}) ≥ **{m['threshold']}**.
  The test split was used only for the final evaluation below.
- Seeded (seed {tr['seed']}), `torch.use_deterministic_algorithms(True)`, {tr['environment']['threads']} CPU threads;
  training took {tr['seconds']:.0f} s on 2 CPU cores (PyTorch {tr['environment']['torch']}, ONNX opset {tr['environment']['opset']}).
- Reproduce: `npm run models:train` (see models/training/README.md).

## Evaluation (test split, n = {t['n']}, {t['positives']} `{pos}`)

Threshold {m['threshold']} (chosen on validation). 95% confidence intervals: {t['ciMethod']}.

| Metric | Value (95% CI) |
|---|---|
{rows}

Confusion matrix (rows: truth, columns: prediction):

| | predicted `{pos}` | predicted `{neg}` |
|---|---|---|
| `{pos}` | TP {c['tp']} | FN {c['fn']} |
| `{neg}` | FP {c['fp']} | TN {c['tn']} |

Accuracy at a fixed 0.5 threshold (the MedMNIST evaluator's cut-off, for
comparison with the paper only — not the product's operating point): {_f(t['accuracyAtThreshold0.5'])}.

Validation split (n = {v['n']}, used for early stopping, calibration and the
threshold): AUC {_f(v['auc'])}, accuracy {_f(v['accuracy'])}, sensitivity
{_f(v['sensitivity'])}, specificity {_f(v['specificity'])}.

![ROC curve, test split](roc.png)

![Reliability diagram, test split](reliability.png)

### Comparison with the MedMNIST v2 paper (Table 3, test split)

| Method | AUC | ACC |
|---|---|---|
{base}
| **This model ({cfg['id']} {cfg['version']})** | **{t['auc']:.3f}** | **{t['accuracy']:.3f}** |

{cfg['comparisonNote']}

## Limitations

- Input is 28×28 pixels: fine detail of a full-resolution radiograph or
  ultrasound image is lost; the model sees only coarse appearance.
- Dataset shift: {cfg['shiftText']} Performance on other populations, vendors,
  acquisition protocols or post-processing is unknown and may be much worse.
- Small test set: the confidence intervals above are wide{' (156 cases, 42 malignant)' if cfg['id'] == 'us-breast-malignancy' else ''}.
- Full-size DICOM preprocessing does not yet crop to the short edge (see
  Preprocessing); its linear resize also samples without the area averaging of
  the original downscaling, so very large images may alias. Validate locally.
- Probabilities are calibrated on the validation split only (ECE above).
- The class activation map shows where the evidence for `{pos}` lies at 7×7
  resolution; it is not a segmentation and may highlight non-anatomical cues.
"""
