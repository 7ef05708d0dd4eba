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


def _resolution_text(widths, upsample):
    # Feature-map sizes: the input (28, or 28 x upsample when the graph enlarges it first), halved between stages.
    sizes = [28 * upsample // 2**i for i in range(len(widths))]
    return ((f"the 28×28 input first enlarged ×{upsample} bilinearly inside the graph, " if upsample > 1 else "")
            + f"max-pooling {'→'.join(str(x) for x in sizes)}")


def _repeat_upsamples(hp):
    """The input enlargement of each cross-validation repeat (one entry when every member is alike)."""
    return [int({**hp, **o}.get("upsample", 1)) for o in (hp.get("repeat_settings") or [{}])]


def _architecture_text(hp):
    stages = f"{len(hp['widths'])} stages of two 3×3 conv–BatchNorm–ReLU layers\n  (widths {hp['widths']}), "
    overrides = hp.get("repeat_settings") or [{}]
    if all(o == overrides[0] for o in overrides):
        return stages + _resolution_text(hp["widths"], _repeat_upsamples(hp)[0])
    # Repeats with their own settings: runs of equal repeats described once, with what they change
    # besides the input size (the other settings below are those of every repeat without an override).
    groups = []
    for r, o in enumerate(overrides, 1):
        if groups and groups[-1][2] == o:
            groups[-1][1] = r
        else:
            groups.append([r, r, o])

    def describe(o):
        other = ", ".join(f"{k} {v}" for k, v in o.items() if k != "upsample")
        return _resolution_text(hp["widths"], int(o.get("upsample", hp.get("upsample", 1)))) + (f"; {other}" if other else "")

    parts = "; ".join(f"repeat{'s' if a != b else ''} {a}{'–' + str(b) if a != b else ''}: {describe(o)}" for a, b, o in groups)
    return stages + f"set per cross-validation repeat ({parts})"


def _map_sizes_text(hp):
    sizes = sorted({28 * u // 2 ** (len(hp["widths"]) - 1) for u in _repeat_upsamples(hp)})
    return " and ".join(f"{x}×{x}" for x in sizes) + (" (members' maps averaged after upsampling)" if len(sizes) > 1 else "")


def _target_text(cfg, t):
    """The commissioning target, whether this version reaches it, and every version's score on the same test split."""
    tg = cfg["target"]
    def reached(goal):
        return t["auc"] >= goal["auc"] and t["accuracy"] >= goal["accuracy"]
    verdict = "**reached**" if reached(tg) else "**not reached**"
    text = (f"**Target** (test split, set when the model was commissioned): AUC ≥ {tg['auc']} and accuracy ≥ {tg['accuracy']} "
            f"({tg['source']}). This version: AUC {t['auc']:.3f}, accuracy {t['accuracy']:.3f}: {verdict}.")
    low = tg.get("minimum")
    if low:
        text += (f" The minimum bar, {low['source']} (AUC {low['auc']} / accuracy {low['accuracy']}), is "
                 f"{'beaten' if t['auc'] > low['auc'] and t['accuracy'] > low['accuracy'] else 'not beaten'}.")
    history = ", ".join(f"{v} {auc:.3f} / {acc:.3f}" for v, auc, acc in cfg["testHistory"]) + f" and this version {t['auc']:.3f} / {t['accuracy']:.3f}"
    text += (f"\n\nThe same test cases have been scored for every version (AUC / accuracy): {history}. Each recipe was chosen "
             "without the test split, but later versions were designed after earlier ones had been scored on it, so the figure "
             "above is a repeated look at one split, not an unbiased estimate of performance on new cases; `vigil validate` on "
             "a clinic's own cases is.")
    return text


def model_card(cfg, manifest, m):
    t = m["test"]
    v = m["validation"]
    c = t["confusion"]
    pos, neg = cfg["labels"][1], cfg["labels"][0]
    # Ultrasound screen captures are first cut to the B-mode image (BUSI's images hold nothing else).
    region_crop = any(op["op"] == "cropUltrasoundRegion" for op in manifest["preprocessing"])
    region_text = ("reduces colour (RGB, YBR, palette) to its luminance 0.299 R + 0.587 G + 0.114 B, "
                   "crops a screen capture to its B-mode image region (Sequence of Ultrasound Regions), ") if region_crop else ""
    region_op = "`cropUltrasoundRegion`, " if region_crop else ""
    # Radiographs go through their own window / VOI LUT first, as the exported JPEGs MedMNIST used were rendered.
    voi = any(op["op"] == "voiLut" for op in manifest["preprocessing"])
    region_text += ("applies the image's own window or VOI LUT (as a viewer shows it, and as the source images were "
                    "exported for display), ") if voi else ""
    region_op += "`voiLut`, " if voi else ""
    rows = "\n".join(f"| {NAMES[k]} | {_ci(m, k)} |" for k in NAMES)
    base = "\n".join(f"| {b['method']} | {b['auc']:.3f} | {b['accuracy']:.3f} |" for b in cfg["baselines"])
    tr = m["training"]
    hp = tr["hyperparameters"]
    cv = bool(hp.get("folds"))
    if cv:
        members = "; ".join(f"repeat {x['repeat']} fold {x['fold']} (seed {x['seed']}): {x['bestValAuc']:.4f} on {x['heldOut']} cases" for x in tr["members"])
    else:
        members = "; ".join(f"seed {x['seed']}: best epoch {x['bestEpoch']} of {x['epochsRun']} (val AUC {x['bestValAuc']:.4f})" for x in tr["members"])
    tta = hp.get("flip_tta", False)
    regularisers = ", ".join(x for x in (f"label smoothing {hp['label_smoothing']}" if hp.get("label_smoothing") else "", f"mixup (alpha {hp['mixup']})" if hp.get("mixup") else "") if x)
    if cv:
        members_text = (f"{tr['ensembleMembers']} members from {hp.get('repeats', 1)}× repeated {hp['folds']}-fold stratified cross-validation "
                        "on train+val (one per fold and repeat, trained on the other folds), logits and maps averaged inside the graph")
        stopping = (f"Epochs: no early stopping inside a fold; every member trains {hp['max_epochs']} epochs (cosine to zero) and keeps its last "
                    f"weights. That count and the other settings were chosen by comparing cross-validated AUCs on train+val "
                    f"(models/training/README.md), never on test. Each fold's held-out AUC: {members}.")
        sel_text = (f"Selection cases ({v['cases']}; n = {v['n']}, used for calibration and the threshold)")
    else:
        members_text = f"Ensemble of {tr['ensembleMembers']} member(s) with different seeds, logits averaged inside the graph"
        stopping = (f"Early stopping: validation AUC checked each epoch (ties broken by validation loss), patience {hp['patience']} epochs; "
                    f"the best epoch's weights are kept. {members}.")
        sel_text = f"Validation split (n = {v['n']}, used for early stopping, calibration and the threshold)"
    architecture = _architecture_text(hp)
    ema_text = (f"\n- Weight averaging: each member keeps an exponential moving average of its weights and BatchNorm statistics "
                f"(decay {hp['ema']} per step), not its last weights." if hp.get("ema") else "")
    cal = m["calibration"]
    method_text = {"none": "none (the cross-validated NLL of the raw ensemble logit was lowest)",
                   "temperature": f"temperature scaling, T = {1 / cal['scale']:.4f}",
                   "platt": f"Platt scaling, p = sigmoid({cal['scale']:.4f} z {'−' if cal['bias'] < 0 else '+'} {abs(cal['bias']):.4f})"}[cal["method"]]
    cv_nll = ", ".join(f"{k} {v:.4f}" for k, v in cal["cvNll"].items())
    un, sel_name = cal["uncalibrated"], ("out-of-fold train+val" if cv else "validation")
    calibration_table = f"""| Cases | ECE before → after | Brier before → after | NLL before → after |
|---|---|---|---|
| {sel_name} (n = {v['n']}, fitted here) | {_f(un['selection']['ece'])} → {_f(v['ece'])} | {_f(un['selection']['brier'])} → {_f(v['brier'])} | {_f(un['selection']['nll'])} → {_f(cal['calibratedNll']['selection'])} |
| test (n = {t['n']}) | {_f(un['test']['ece'])} → {_f(t['ece'])} | {_f(un['test']['brier'])} → {_f(t['brier'])} | {_f(un['test']['nll'])} → {_f(cal['calibratedNll']['test'])} |"""
    recipe = f"\n## How the recipe was chosen\n\n{cfg['recipeSelection']}\n" if cfg.get("recipeSelection") else ""
    cv_calibration = ("" if not cv else f" The calibration is fitted on out-of-fold scores that average {hp.get('repeats', 1)} "
                      f"member(s) per case, while the shipped graph averages all {tr['ensembleMembers']}; averaging more members "
                      "shrinks the logits, so mid-range probabilities tend to be under-confident (see the reliability plot).")
    if tta:
        members_text += "; each member also scores the left-right mirrored image (test-time augmentation inside the graph; the mirrored map is mirrored back)"
    prep = m["dataPreparation"]
    prep_lines = "\n".join(f"  - {k}: {v}" for k, v in prep.items())
    counts = m["counts"]
    n = m["preprocessing"]["minmaxThenFixed"]
    return f"""# Model card: {cfg['name']}

| | |
|---|---|
| Model id | `{cfg['id']}` |
| Version | {cfg['version']} |
| Changes in this version | {cfg['changes']} |
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
deviation of the scaled {'train+val' if cv else 'training'} pixels). For full-size DICOM the product first
applies the Modality LUT rescale, {region_text}inverts MONOCHROME1, crops the centred square
of the short edge and downsamples it to 28×28 by area averaging (manifest.json:
{region_op}`cropSquare`, `resize` with `interpolation: area`), as MedMNIST built its images
from the source (centre crop to the short edge, then resize).

## Model and training

- Architecture: compact CNN, {architecture}, global average pooling, dropout
  {hp['dropout']}, one linear unit (the `{pos}` logit). {members_text}.{ema_text}
- Interpretability: second output `cam` = class activation map of the `{pos}`
  logit (exact for a GAP + linear head), each member's map bilinearly upsampled
  to 28×28, averaged over the members, then ReLU, inside the ONNX graph (the
  product maps it back onto the source image).
- Loss: binary cross-entropy{(' with ' + regularisers) if regularisers else ''}. Optimiser: AdamW (lr {hp['lr']}, weight decay
  {hp['weight_decay']}), batch {hp['batch']}, 2-epoch linear warm-up then cosine decay
  over {'' if cv else 'at most '}{hp['max_epochs']} epochs.
- Augmentation (training only): random scaling {hp['scale']}, rotation ±{hp['rotate_deg']}°,
  translation ±{hp['translate']} of the half-width (random crops of the rescaled image),
  {'horizontal flips (left/right is not anatomically fixed in breast ultrasound)' if hp['hflip'] else 'no flips (chest anatomy is not left/right symmetric)'},
  contrast ×(1 ± {hp['contrast']}) and brightness ± {hp['brightness']} (normalised units).
- {stopping}
- Calibration: {method_text}, fitted on {tr.get('selection', 'the validation split')} and baked into
  the exported logits (model.onnx outputs calibrated scores). The map was chosen among none, temperature
  and Platt scaling by cross-validated NLL on the same cases ({cv_nll}); the test split played no part.
  Before (raw ensemble logit) and after:

{calibration_table}

- Decision threshold: **{m['thresholdRule']}**: `{pos}` when p({pos}) ≥ **{m['threshold']}**.
  The test split was used only for the final evaluation below.
- Seeded (seed {tr['seed']}), `torch.use_deterministic_algorithms(True)`; training took {tr['seconds']:.0f} s in
  {tr['environment']['workers']} worker process(es), one PyTorch thread per member, on a {tr['environment'].get('cpus', '?')}-core CPU
  (PyTorch {tr['environment']['torch']}, ONNX opset {tr['environment']['opset']}).
- Reproduce: `npm run models:train` (see models/training/README.md).
{recipe}
## Evaluation (test split, n = {t['n']}, {t['positives']} `{pos}`)

Threshold {m['threshold']} (chosen on {'cross-validation' if cv else 'validation'}). 95% confidence intervals: {t['ciMethod']}.

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

{sel_text}: AUC {_f(v['auc'])}, accuracy {_f(v['accuracy'])}, sensitivity
{_f(v['sensitivity'])}, specificity {_f(v['specificity'])}.

![ROC curve, test split](roc.png)

![Reliability diagram, test split](reliability.png)

### Comparison with the MedMNIST v2 paper (Table 3, test split)

| Method | AUC | ACC |
|---|---|---|
{base}
| **This model ({cfg['id']} {cfg['version']})** | **{t['auc']:.3f}** | **{t['accuracy']:.3f}** |

{cfg['comparisonNote']}

{_target_text(cfg, t)}

## Limitations

- Input is 28×28 pixels: fine detail of a full-resolution radiograph or
  ultrasound image is lost; the model sees only coarse appearance.
- Dataset shift: {cfg['shiftText']} Performance on other populations, vendors,
  acquisition protocols or post-processing is unknown and may be much worse.
- Small test set: the confidence intervals above are wide{' (156 cases, 42 malignant)' if cfg['id'] == 'us-breast-malignancy' else ''}.
- Full-size DICOM is centre-cropped and area-downsampled to 28×28 as MedMNIST
  did, but MedMNIST's exact resampling filter may differ from the product's area
  average, and images of other aspect ratios or framing (calipers, annotations,
  side panels) reach the model in a different shape. Validate locally.
- Probabilities are calibrated on {tr.get('selection', 'the validation split')} only (test ECE above).{cv_calibration}
- The class activation map shows where the evidence for `{pos}` lies at
  {_map_sizes_text(hp)} resolution; it is not a segmentation and may highlight non-anatomical cues.
"""
