"""PyTorch eager reference for the inference bench: rebuilds a MeshNet ONNX graph
(Conv + Relu/Elu only) as torch modules with the same weights and times one forward
pass on the DICOM series conformed as the README says.
usage: meshnet_torch.py <model.onnx> <series dir> <threads> -> JSON on stdout"""
import json, sys, time, glob
import numpy as np, onnx, pydicom, torch
from onnx import numpy_helper

model_path, series, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
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
t0 = time.perf_counter()
ds = sorted((pydicom.dcmread(f) for f in glob.glob(series + "/*.dcm")), key=lambda d: int(d.InstanceNumber))
vol = np.stack([d.pixel_array for d in ds]).astype(np.float32)
x = vol[::-1, ::-1, :].transpose(2, 0, 1)
x = (x - x.min()) / (x.max() - x.min())
t1 = time.perf_counter()
with torch.no_grad():
    logits = net(torch.from_numpy(np.ascontiguousarray(x))[None, None])
t2 = time.perf_counter()
counts = np.bincount(logits.argmax(1).numpy().ravel(), minlength=logits.shape[1]).tolist()
print(json.dumps({"loadMs": (t1 - t0) * 1e3, "forwardMs": (t2 - t1) * 1e3, "counts": counts}))
