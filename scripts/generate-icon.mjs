// Draws Vigil's application icon (build/icon.png, 1024×1024 RGBA) without any
// image tool: a dark rounded square with a stylised eye whose iris is a
// crosshair. electron-builder derives the .ico (Windows), .icns (macOS) and the
// Linux icon set from this PNG. Run: node scripts/generate-icon.mjs [out.png]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { deflateSync } from 'node:zlib';

const SIZE = 1024;
const out = process.argv[2] ?? 'build/icon.png';

const TEAL = [63, 208, 201];
const TOP = [30, 38, 52];
const BOTTOM = [12, 16, 22];

// Signed distances (negative inside), in pixels.
const circle = (x, y, cx, cy, r) => Math.hypot(x - cx, y - cy) - r;
function roundedSquare(x, y, half, radius) {
  const qx = Math.abs(x - SIZE / 2) - (half - radius);
  const qy = Math.abs(y - SIZE / 2) - (half - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}
// Almond (the eye): intersection of two circles, 2·W wide and 2·H tall.
const W = 360;
const H = 205;
const D = (W * W - H * H) / (2 * H);
const almond = (x, y) => Math.max(circle(x, y, SIZE / 2, SIZE / 2 + D, D + H), circle(x, y, SIZE / 2, SIZE / 2 - D, D + H));
const stroke = (d, width) => Math.abs(d) - width / 2;
function segment(x, y, ax, ay, bx, by, width) {
  const px = x - ax;
  const py = y - ay;
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - t * dx, py - t * dy) - width / 2;
}
const coverage = (d) => Math.max(0, Math.min(1, 0.5 - d));

function eye(x, y) {
  const c = SIZE / 2;
  let d = stroke(almond(x, y), 34);
  d = Math.min(d, stroke(circle(x, y, c, c, 132), 26));
  d = Math.min(d, circle(x, y, c, c, 52));
  for (const [ax, ay, bx, by] of [
    [c, c - 168, c, c - 250],
    [c, c + 168, c, c + 250],
    [c - 168, c, c - 250, c],
    [c + 168, c, c + 250, c],
  ]) {
    d = Math.min(d, segment(x, y, ax, ay, bx, by, 22));
  }
  return d;
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
  const row = y * (SIZE * 4 + 1);
  raw[row] = 0; // filter: none
  const t = y / (SIZE - 1);
  const bg = TOP.map((v, i) => v + (BOTTOM[i] - v) * t);
  for (let x = 0; x < SIZE; x++) {
    const px = x + 0.5;
    const py = y + 0.5;
    const a = coverage(roundedSquare(px, py, 462, 190));
    const e = coverage(eye(px, py));
    const o = row + 1 + x * 4;
    for (let i = 0; i < 3; i++) raw[o + i] = Math.round(bg[i] + (TEAL[i] - bg[i]) * e);
    raw[o + 3] = Math.round(255 * a);
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header[8] = 8; // bit depth
header[9] = 6; // RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', header),
  chunk('IDAT', deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, png);
console.log(`${out}: ${SIZE}x${SIZE}, ${png.length} bytes`);
