"""A compact CNN for 28x28 single-channel images with a class-activation-map head.

Three stages of two 3x3 conv-BN-ReLU layers (28 -> 14 -> 7), global average
pooling and one linear unit (the positive-class logit). Because the head is
linear after global average pooling, the class activation map (Zhou et al.,
CVPR 2016) is exact: CAM = w . F + b on the 7x7 feature map, whose spatial
mean is the logit. The export wrapper upsamples it to 28x28 inside the graph.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def _block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCamNet(nn.Module):
    def __init__(self, widths=(24, 48, 96), dropout=0.2):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            *_block(1, a), *_block(a, a), nn.MaxPool2d(2),
            *_block(a, b), *_block(b, b), nn.MaxPool2d(2),
            *_block(b, c), *_block(c, c),
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, 1)

    def forward(self, x):
        f = self.features(x)
        return self.fc(self.dropout(f.mean(dim=(2, 3)))).squeeze(1)

    def cam(self, f):
        w = self.fc.weight.view(1, -1, 1, 1)
        return (f * w).sum(dim=1, keepdim=True) + self.fc.bias.view(1, 1, 1, 1)


class ExportWrapper(nn.Module):
    """Graph shipped as model.onnx: input "image" [N,1,28,28] (normalised) ->
    "logits" [N,2] (softmax gives [p(negative), p(positive)], temperature-scaled)
    and "cam" [N,1,28,28] (ReLU of the positive-class activation map, bilinear
    upsampled; the product min-max normalises it for display).

    Several members (an ensemble) average their logits and maps.
    """

    def __init__(self, members, temperature):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("inv_t", torch.tensor(1.0 / float(temperature)))

    def forward(self, image):
        zs = []
        cams = []
        for m in self.members:
            f = m.features(image)
            zs.append(m.fc(f.mean(dim=(2, 3))))
            cams.append(m.cam(f))
        z = torch.stack(zs, 0).mean(0) * self.inv_t
        cam = torch.stack(cams, 0).mean(0)
        logits = torch.cat([-0.5 * z, 0.5 * z], dim=1)
        cam = F.interpolate(F.relu(cam), size=(image.shape[2], image.shape[3]), mode="bilinear", align_corners=False)
        return logits, cam
