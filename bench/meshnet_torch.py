"""PyTorch eager reference for the inference bench: rebuilds a MeshNet ONNX graph
(Conv + Relu/Elu only) as torch modules with the same weights and times the forward
pass on the DICOM series conformed as the README says: one warm-up pass, then
<runs> timed passes (median), with torch.set_num_threads(<threads>) (the same count as
ONNX Runtime's intra-op threads; Debian's torch otherwise starts with 1 thread here).
--flush-denormal: torch.set_flush_denormal(True), the counterpart of the
set_denormal_as_zero setting Vigil gives ONNX Runtime (eager PyTorch's default is off).
usage: meshnet_torch.py <model.onnx> <series dir> <threads> [runs] [--flush-denormal] -> JSON on stdout"""
import json, sys, time, glob
import numpy as np, onnx, pydicom, torch
from onnx import numpy_helper

flags = [a for a in sys.argv[1:] if a.startswith("--")]
args = [a for a in sys.argv[1:] if not a.startswith("--")]
model_path, series, threads = args[0], args[1], int(args[2])
runs = int(args[3]) if len(args) > 3 else 3
torch.set_num_threads(threads)
flush_denormal = torch.set_flush_denormal(True) if "--flush-denormal" in flags else False
g = onnx.load(model_path).graph
init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
layers = []
for n in g.node:
    if n.op_type == "Conv":
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        w = torch.from_numpy(init[n.input[1]].copy())
        conv = torch.nn.Conv3d(w.shape[1], w.shape[0], w.shape[2:], padding=tuple(a.get("pads", [0] * 6)[:3]),
                               dilation=tuple(a.get("dilations", [1, 1, 1])))
        conv.weight.data = w
        conv.bias.data = torch.from_numpy(init[n.input[2]].copy())
        layers.append(conv)
    elif n.op_type == "Relu":
        layers.append(torch.nn.ReLU())
    elif n.op_type == "Elu":
        layers.append(torch.nn.ELU())
    else:
        raise SystemExit(f"unsupported op {n.op_type}")
net = torch.nn.Sequential(*layers).eval()


def load():
    ds = sorted((pydicom.dcmread(f) for f in glob.glob(series + "/*.dcm")), key=lambda d: int(d.InstanceNumber))
    vol = np.stack([d.pixel_array for d in ds]).astype(np.float32)
    x = vol[::-1, ::-1, :].transpose(2, 0, 1)
    x = (x - x.min()) / (x.max() - x.min())
    return torch.from_numpy(np.ascontiguousarray(x))[None, None]


def forward(x):
    with torch.no_grad():
        return net(x)


# Warm-up (first call allocates and selects kernels), then `runs` timed repetitions; medians reported.
x = load()
logits = forward(x)
load_ms, forward_ms, post_ms = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    x = load()
    t1 = time.perf_counter()
    logits = forward(x)
    t2 = time.perf_counter()
    counts = np.bincount(logits.argmax(1).numpy().ravel(), minlength=logits.shape[1]).tolist()
    t3 = time.perf_counter()
    load_ms.append((t1 - t0) * 1e3)
    forward_ms.append((t2 - t1) * 1e3)
    post_ms.append((t3 - t2) * 1e3)
med = lambda v: float(np.median(v))
print(json.dumps({"threads": torch.get_num_threads(), "flushDenormal": flush_denormal, "mkldnn": torch.backends.mkldnn.is_available(), "runs": runs, "loadMs": med(load_ms), "forwardMs": med(forward_ms), "postMs": med(post_ms),
                  "forwardAllMs": forward_ms, "counts": counts}))
