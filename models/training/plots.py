"""ROC and reliability plots as PNG with numpy + zlib only (no matplotlib needed).

A tiny raster canvas: anti-aliasing-free lines, rectangles and a 5x7 bitmap
font (upper-case letters, digits, punctuation), scaled 2x.
"""
import struct
import zlib

import numpy as np

_FONT = {
    " ": ["00000"] * 7,
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "D": ["11100", "10010", "10001", "10001", "10001", "10010", "11100"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"],
    "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
    "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Y": ["10001", "10001", "01010", "00100", "00100", "00100", "00100"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    ",": ["00000", "00000", "00000", "00000", "01100", "00100", "01000"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    "+": ["00000", "00100", "00100", "11111", "00100", "00100", "00000"],
    "=": ["00000", "00000", "11111", "00000", "11111", "00000", "00000"],
    "(": ["00010", "00100", "01000", "01000", "01000", "00100", "00010"],
    ")": ["01000", "00100", "00010", "00010", "00010", "00100", "01000"],
    "[": ["01110", "01000", "01000", "01000", "01000", "01000", "01110"],
    "]": ["01110", "00010", "00010", "00010", "00010", "00010", "01110"],
    ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
    "/": ["00001", "00010", "00010", "00100", "01000", "01000", "10000"],
    "%": ["11001", "11010", "00010", "00100", "01000", "01011", "10011"],
    "'": ["00100", "00100", "01000", "00000", "00000", "00000", "00000"],
    "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
    ">": ["01000", "00100", "00010", "00001", "00010", "00100", "01000"],
    "<": ["00010", "00100", "01000", "10000", "01000", "00100", "00010"],
}

BLACK = (0, 0, 0)
GREY = (170, 170, 170)
DARK_GREY = (110, 110, 110)
LIGHT = (225, 225, 225)
BLUE = (31, 90, 180)
RED = (200, 50, 40)
ORANGE = (235, 140, 30)


class Canvas:
    def __init__(self, width, height):
        self.w = width
        self.h = height
        self.px = np.full((height, width, 3), 255, dtype=np.uint8)

    def dot(self, x, y, color, r=0):
        x, y = int(round(x)), int(round(y))
        self.px[max(0, y - r):min(self.h, y + r + 1), max(0, x - r):min(self.w, x + r + 1)] = color

    def line(self, x0, y0, x1, y1, color, width=1):
        n = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 1
        r = width // 2
        for t in np.linspace(0.0, 1.0, n):
            self.dot(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, color, r)

    def dashed(self, x0, y0, x1, y1, color, dash=6):
        length = max(abs(x1 - x0), abs(y1 - y0))
        steps = max(1, int(length // dash))
        for k in range(0, steps, 2):
            a, b = k / steps, min(1.0, (k + 1) / steps)
            self.line(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a, x0 + (x1 - x0) * b, y0 + (y1 - y0) * b, color)

    def rect(self, x0, y0, x1, y1, color):
        x0, x1 = sorted((int(round(x0)), int(round(x1))))
        y0, y1 = sorted((int(round(y0)), int(round(y1))))
        self.px[max(0, y0):min(self.h, y1 + 1), max(0, x0):min(self.w, x1 + 1)] = color

    def text(self, x, y, s, color=BLACK, scale=2, anchor="left"):
        s = s.upper()
        width = len(s) * 6 * scale
        if anchor == "center":
            x -= width / 2
        elif anchor == "right":
            x -= width
        x, y = int(round(x)), int(round(y))
        for k, ch in enumerate(s):
            glyph = _FONT.get(ch, _FONT[" "])
            for r, row in enumerate(glyph):
                for c, bit in enumerate(row):
                    if bit == "1":
                        self.rect(x + (k * 6 + c) * scale, y + r * scale, x + (k * 6 + c) * scale + scale - 1, y + r * scale + scale - 1, color)

    def vtext(self, x, y, s, color=BLACK, scale=2):
        """Text rotated 90 degrees counter-clockwise, centred on (x, y)."""
        tmp = Canvas(len(s) * 6 * scale, 7 * scale)
        tmp.text(0, 0, s, color, scale)
        rot = np.rot90(tmp.px)
        h, w = rot.shape[:2]
        x0, y0 = int(x - w / 2), int(y - h / 2)
        mask = rot.sum(axis=2) < 765
        region = self.px[y0:y0 + h, x0:x0 + w]
        region[mask[:region.shape[0], :region.shape[1]]] = rot[mask][: region[mask[:region.shape[0], :region.shape[1]]].shape[0]]

    def png(self):
        raw = b"".join(b"\x00" + self.px[y].tobytes() for y in range(self.h))

        def chunk(tag, data):
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


class Axes:
    """Unit-square plot area inside a canvas."""

    def __init__(self, canvas, left, top, size):
        self.c = canvas
        self.l, self.t, self.s = left, top, size

    def xy(self, x, y):
        return self.l + x * self.s, self.t + (1 - y) * self.s

    def frame(self, xlabel, ylabel, ticks=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)):
        c = self.c
        for v in ticks:
            x, _ = self.xy(v, 0)
            _, y = self.xy(0, v)
            c.line(x, self.t, x, self.t + self.s, LIGHT)
            c.line(self.l, y, self.l + self.s, y, LIGHT)
            c.text(x, self.t + self.s + 8, f"{v:.1f}", anchor="center")
            c.text(self.l - 8, y - 7, f"{v:.1f}", anchor="right")
        c.line(self.l, self.t, self.l, self.t + self.s, BLACK, 2)
        c.line(self.l, self.t + self.s, self.l + self.s, self.t + self.s, BLACK, 2)
        c.line(self.l + self.s, self.t, self.l + self.s, self.t + self.s, BLACK)
        c.line(self.l, self.t, self.l + self.s, self.t, BLACK)
        c.text(self.l + self.s / 2, self.t + self.s + 34, xlabel, anchor="center")
        c.vtext(self.l - 62, self.t + self.s / 2, ylabel)

    def polyline(self, xs, ys, color, width=3):
        pts = [self.xy(x, y) for x, y in zip(xs, ys)]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            self.c.line(x0, y0, x1, y1, color, width)


def roc_png(fpr, tpr, title, subtitle, op_point=None, op_label=""):
    c = Canvas(640, 640)
    ax = Axes(c, 100, 90, 460)
    c.text(320, 16, title, anchor="center")
    c.text(320, 44, subtitle, BLUE, anchor="center")
    ax.frame("1 - SPECIFICITY (FALSE POSITIVE RATE)", "SENSITIVITY (TRUE POSITIVE RATE)")
    x0, y0 = ax.xy(0, 0)
    x1, y1 = ax.xy(1, 1)
    c.dashed(x0, y0, x1, y1, GREY)
    ax.polyline(fpr, tpr, BLUE)
    if op_point is not None:
        x, y = ax.xy(*op_point)
        c.dot(x, y, RED, 5)
        c.text(x + 12, y + 8, op_label, RED)
    return c.png()


def reliability_png(bins, title, subtitle, before=None, legend=None):
    """Reliability diagram of `bins`; with `before`, the same cases' uncalibrated bins as a grey line
    (legend: (label of bins, label of before))."""
    c = Canvas(640, 800)
    ax = Axes(c, 100, 90, 460)
    c.text(320, 16, title, anchor="center")
    c.text(320, 44, subtitle, BLUE, anchor="center")
    ax.frame("MEAN PREDICTED PROBABILITY", "OBSERVED FREQUENCY")
    # Bars: observed frequency per bin; dots: (mean predicted, observed).
    for b in bins:
        if b["n"] == 0:
            continue
        bx0, by0 = ax.xy(b["lo"] + 0.01, 0)
        bx1, by1 = ax.xy(b["hi"] - 0.01, b["observed"])
        c.rect(bx0, by1, bx1, by0 - 1, (190, 210, 240))
    x0, y0 = ax.xy(0, 0)
    x1, y1 = ax.xy(1, 1)
    c.dashed(x0, y0, x1, y1, GREY)
    if before is not None:
        prior = [(b["meanPredicted"], b["observed"]) for b in before if b["n"] > 0]
        ax.polyline([p[0] for p in prior], [p[1] for p in prior], DARK_GREY, 2)
        for x, y in prior:
            px, py = ax.xy(x, y)
            c.dot(px, py, DARK_GREY, 3)
    if legend is not None:
        # Under the x-axis label, outside the plot: inside it, it hides bins wherever they fall.
        c.rect(112, 614, 132, 618, BLUE)
        c.text(140, 610, legend[0], BLUE, scale=1)
        if before is not None:
            c.rect(112, 630, 132, 633, DARK_GREY)
            c.text(140, 626, legend[1], DARK_GREY, scale=1)
    pts = [(b["meanPredicted"], b["observed"]) for b in bins if b["n"] > 0]
    ax.polyline([p[0] for p in pts], [p[1] for p in pts], BLUE, 3)
    for x, y in pts:
        px, py = ax.xy(x, y)
        c.dot(px, py, BLUE, 4)
    # Histogram of predictions underneath.
    top, height = 680, 70
    c.text(100, 652, "CASES PER BIN", anchor="left")
    most = max(1, max(b["n"] for b in bins))
    for b in bins:
        bx0, _ = ax.xy(b["lo"] + 0.01, 0)
        bx1, _ = ax.xy(b["hi"] - 0.01, 0)
        h = height * b["n"] / most
        c.rect(bx0, top + height - h, bx1, top + height, ORANGE)
        c.text((bx0 + bx1) / 2, top + height + 6, str(b["n"]), anchor="center", scale=1)
    c.line(100, top + height, 560, top + height, BLACK)
    return c.png()
