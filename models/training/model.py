"""A compact CNN for 28x28 single-channel images with a class-activation-map head.

Three stages of two 3x3 conv-BN-ReLU layers (28 -> 14 -> 7, or 56 -> 28 -> 14
when the input is first enlarged x2), global average pooling and one linear unit
(the positive-class logit). Because the head is linear after global average
pooling, the class activation map (Zhou et al., CVPR 2016) is exact: CAM = w . F + b
on the last feature map (7x7 or 14x14), whose spatial mean is the logit. The
export wrapper upsamples it to 28x28 inside the graph.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def _block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCamNet(nn.Module):
    """One stage per entry of `widths` (2x2 max-pooling between stages). `upsample` > 1 first enlarges the
    input bilinearly inside the network (so the product's 28x28 preprocessing is unchanged) and the
    feature maps keep `upsample` times more resolution at the same depth."""

    def __init__(self, widths=(24, 48, 96), dropout=0.2, upsample=1):
        super().__init__()
        layers = [nn.Upsample(scale_factor=upsample, mode="bilinear", align_corners=False)] if upsample > 1 else []
        cin = 1
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [*_block(cin, w), *_block(w, w)]
            cin = w
        c = widths[-1]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, 1)

    def forward(self, x):
        f = self.features(x)
        return self.fc(self.dropout(f.mean(dim=(2, 3)))).squeeze(1)

    def cam(self, f):
        w = self.fc.weight.view(1, -1, 1, 1)
        return (f * w).sum(dim=1, keepdim=True) + self.fc.bias.view(1, 1, 1, 1)


def hflip(x):
    """Left-right mirror of an NCHW tensor (a Gather with constant indices in ONNX, exact).

    int() makes the width a constant when traced for export: a Range built from the
    traced shape with a negative step came out empty in ONNX Runtime."""
    idx = torch.arange(int(x.shape[3]) - 1, -1, -1, device=x.device)
    return x.index_select(3, idx)


def member_outputs(m, image, flip_tta=False):
    """(logit [N,1], CAM [N,1,h,w]) of one member; with flip_tta, the mean over the image and its
    mirror (the mirrored CAM is mirrored back, so the CAM's spatial mean is still the logit)."""
    f = m.features(image)
    z, cam = m.fc(f.mean(dim=(2, 3))), m.cam(f)
    if flip_tta:
        g = m.features(hflip(image))
        z = 0.5 * (z + m.fc(g.mean(dim=(2, 3))))
        cam = 0.5 * (cam + hflip(m.cam(g)))
    return z, cam


class ExportWrapper(nn.Module):
    """Graph shipped as model.onnx: input "image" [N,1,28,28] (normalised) ->
    "logits" [N,2] (softmax gives [p(negative), p(positive)], calibrated)
    and "cam" [N,1,28,28] (the positive-class activation maps bilinearly upsampled
    to the input's size, averaged, then ReLU'd; the product min-max normalises it
    for display).

    Several members (an ensemble, possibly of different architectures) average their logits and maps; with flip_tta
    each member also sees the left-right mirrored image (test-time augmentation
    inside the graph, for images whose orientation is not anatomically fixed).
    """

    def __init__(self, members, scale, bias, flip_tta=False):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.flip_tta = bool(flip_tta)
        # Calibration map on the averaged logit, fitted on the selection cases (1/T and 0 for temperature scaling).
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("bias", torch.tensor(float(bias)))

    def forward(self, image):
        outs = [member_outputs(m, image, self.flip_tta) for m in self.members]
        z = torch.stack([o[0] for o in outs], 0).mean(0) * self.scale + self.bias
        logits = torch.cat([-0.5 * z, 0.5 * z], dim=1)
        # Members may map at different resolutions (an upsampled input gives a finer map), so each map is
        # brought to the input's size before averaging; members of one resolution share one resize, and
        # since the resize is linear, resizing their mean equals averaging their resized maps.
        # int(): constants when traced for export (traced shapes are tensors, which would never compare equal).
        size = (int(image.shape[2]), int(image.shape[3]))
        by_size = {}
        for _, cam in outs:
            by_size.setdefault(tuple(int(d) for d in cam.shape[2:]), []).append(cam)
        maps = [F.interpolate(torch.stack(c, 0).sum(0), size=size, mode="bilinear", align_corners=False) for c in by_size.values()]
        cam = torch.stack(maps, 0).sum(0) / len(outs)
        return logits, F.relu(cam)
