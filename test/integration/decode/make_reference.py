#!/usr/bin/env python3
"""
Reference pixels for the decode-correctness test (test/e2e/decodes-every-transfer-syntax.spec.ts).

For every input file with Pixel Data, the *native* tools decode it to an
uncompressed Explicit VR Little Endian file in a temp folder:

  native (implicit/explicit LE, big endian, deflated)  dcmconv +te
  JPEG 1.2.840.10008.1.2.4.50/51/53/55/57/70           dcmdjpeg
  JPEG-LS 1.2.840.10008.1.2.4.80/81                    dcmdjpls
  RLE 1.2.840.10008.1.2.5                              dcmdrle
  anything else (JPEG 2000 .90/.91, ...)                gdcmconv --raw

Two cases have no native decoder to ask, and are read from the original file's
own bytes instead (pydicom parses, numpy reads the value; recorded in referenceTool):

  Float / Double Float Pixel Data (7FE0,0008 / 7FE0,0009)   the float values as stored
  Explicit VR Big Endian, Bits Allocated 32                 big-endian 32-bit samples: dcmconv +te
      and gdcmconv --raw swap 32-bit OW in 16-bit halves (0x00130EE8 -> 0x0EE80013), which
      contradicts the little-endian encoding of the same instance; the disagreement is recorded

and, for every encapsulated syntax gdcm can decode, `gdcmconv --raw` as a second,
independent reference (agreement is recorded). pydicom only *parses* the
uncompressed reference file: its PixelData element is plain bytes, read with
numpy as the stored values (no pydicom pixel handler is used). Colour images
also get dcmtk's rendering to RGB (`dcm2pnm +op -O +Fa`, 8 bits per channel;
dcmtk converts YBR_FULL/YBR_FULL_422/PALETTE COLOR to RGB), which is what the
viewer's loader produces for colour images.

usage: make_reference.py OUT_DIR FILE... (or --list FILE_WITH_PATHS)
Writes OUT_DIR/manifest.json and, per image file, OUT_DIR/<n>.stored.f64
(float64 LE, frame-major, samples interleaved) and OUT_DIR/<n>.rgb.u8 (colour).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pydicom

NATIVE = {'1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'}
DCMTK = {
    '1.2.840.10008.1.2.4.50': 'dcmdjpeg', '1.2.840.10008.1.2.4.51': 'dcmdjpeg', '1.2.840.10008.1.2.4.53': 'dcmdjpeg',
    '1.2.840.10008.1.2.4.55': 'dcmdjpeg', '1.2.840.10008.1.2.4.57': 'dcmdjpeg', '1.2.840.10008.1.2.4.70': 'dcmdjpeg',
    '1.2.840.10008.1.2.4.80': 'dcmdjpls', '1.2.840.10008.1.2.4.81': 'dcmdjpls',
    '1.2.840.10008.1.2.5': 'dcmdrle',
}
LOSSY = {'1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.53', '1.2.840.10008.1.2.4.55',
         '1.2.840.10008.1.2.4.81', '1.2.840.10008.1.2.4.91', '1.2.840.10008.1.2.4.203', '1.2.840.10008.1.2.4.111'}
NAMES = {
    '1.2.840.10008.1.2': 'Implicit VR LE', '1.2.840.10008.1.2.1': 'Explicit VR LE', '1.2.840.10008.1.2.2': 'Explicit VR BE',
    '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR LE', '1.2.840.10008.1.2.4.50': 'JPEG Baseline (1)',
    '1.2.840.10008.1.2.4.51': 'JPEG Extended (2,4)', '1.2.840.10008.1.2.4.53': 'JPEG Spectral Selection (6,8)',
    '1.2.840.10008.1.2.4.55': 'JPEG Full Progression (10,12)', '1.2.840.10008.1.2.4.57': 'JPEG Lossless (14)',
    '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1', '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
    '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-lossless', '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
    '1.2.840.10008.1.2.4.91': 'JPEG 2000', '1.2.840.10008.1.2.5': 'RLE Lossless',
    '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless', '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL', '1.2.840.10008.1.2.4.203': 'HTJ2K',
    '1.2.840.10008.1.2.8.1': 'Deflated Image Frame Compression',
}


def run(cmd, timeout=120):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, (p.stderr.decode('utf8', 'replace') + p.stdout.decode('utf8', 'replace')).strip()


def header(path):
    try:
        return pydicom.dcmread(path, force=True, defer_size='1 KB')
    except Exception as e:  # noqa: BLE001
        return e


def num(ds, kw, default=None):
    v = ds.get(kw, None)
    if v is None or v == '':
        return default
    try:
        return v if isinstance(v, (int, float)) else (float(v) if '.' in str(v) or 'e' in str(v).lower() else int(v))
    except Exception:  # noqa: BLE001
        return default


def stored_values(ref_path):
    """Stored values of an uncompressed explicit LE file, read from its PixelData bytes with numpy."""
    ds = pydicom.dcmread(ref_path, force=True)
    ts = str(ds.file_meta.get('TransferSyntaxUID', ''))
    if ts not in ('1.2.840.10008.1.2.1', '1.2.840.10008.1.2'):
        raise RuntimeError(f'reference file is not little endian native ({ts})')
    rows, cols = int(ds.Rows), int(ds.Columns)
    spp = int(ds.get('SamplesPerPixel', 1) or 1)
    bits = int(ds.BitsAllocated)
    signed = int(ds.get('PixelRepresentation', 0) or 0) == 1
    frames = int(num(ds, 'NumberOfFrames', 1) or 1)
    planar = int(ds.get('PlanarConfiguration', 0) or 0)
    photometric = str(ds.get('PhotometricInterpretation', ''))
    raw = bytes(ds.PixelData)
    per_frame = rows * cols * spp
    if bits == 1:
        vals = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder='little')[: per_frame * frames].astype(np.float64)
    else:
        dtype = {8: 'i1' if signed else 'u1', 16: '<i2' if signed else '<u2', 32: '<i4' if signed else '<u4'}[bits]
        if photometric.startswith('YBR_FULL_422') or photometric.startswith('YBR_PARTIAL_422'):
            # Stored subsampled (2 luma + Cb + Cr per pair): keep the bytes as they are.
            n = rows * cols * 2 * frames
            vals = np.frombuffer(raw, dtype=dtype)[:n].astype(np.float64)
            return {'rows': rows, 'columns': cols, 'samplesPerPixel': spp, 'frames': frames, 'bitsAllocated': bits,
                    'bitsStored': int(ds.get('BitsStored', bits)), 'signed': signed, 'photometric': photometric,
                    'planar': planar, 'subsampled422': True}, vals
        vals = np.frombuffer(raw, dtype=dtype)[: per_frame * frames].astype(np.float64)
    if vals.size < per_frame * frames:
        raise RuntimeError(f'reference PixelData holds {vals.size} values, expected {per_frame * frames}')
    if spp > 1 and planar == 1:
        vals = vals.reshape(frames, spp, rows * cols).transpose(0, 2, 1).reshape(-1)
    return {'rows': rows, 'columns': cols, 'samplesPerPixel': spp, 'frames': frames, 'bitsAllocated': bits,
            'bitsStored': int(ds.get('BitsStored', bits)), 'signed': signed, 'photometric': photometric,
            'planar': planar}, vals


def float_values(path, ts):
    """Float / Double Float Pixel Data as stored (pydicom parses the file; numpy reads the value bytes)."""
    full = pydicom.dcmread(path, force=True)
    double = 'DoubleFloatPixelData' in full
    raw = bytes(full.DoubleFloatPixelData if double else full.FloatPixelData)
    order = '>' if ts == '1.2.840.10008.1.2.2' else '<'
    rows, cols = int(full.Rows), int(full.Columns)
    spp = int(full.get('SamplesPerPixel', 1) or 1)
    frames = int(num(full, 'NumberOfFrames', 1) or 1)
    vals = np.frombuffer(raw, dtype=f'{order}f{8 if double else 4}')[: rows * cols * spp * frames].astype(np.float64)
    if vals.size < rows * cols * spp * frames:
        raise RuntimeError(f'{vals.size} values, expected {rows * cols * spp * frames}')
    return {'rows': rows, 'columns': cols, 'samplesPerPixel': spp, 'frames': frames, 'bitsAllocated': 64 if double else 32,
            'bitsStored': 64 if double else 32, 'signed': True, 'photometric': str(full.get('PhotometricInterpretation', '')),
            'planar': 0, 'floatPixelData': 'double' if double else 'float'}, vals


def big_endian_32bit_values(path, info):
    """32-bit samples of an Explicit VR Big Endian file, read as big-endian 32-bit values."""
    full = pydicom.dcmread(path, force=True)
    n = info['rows'] * info['columns'] * info['samplesPerPixel'] * info['frames']
    vals = np.frombuffer(bytes(full.PixelData), dtype='>i4' if info['signed'] else '>u4')[:n].astype(np.float64)
    if info['samplesPerPixel'] > 1 and info['planar'] == 1:
        vals = vals.reshape(info['frames'], info['samplesPerPixel'], -1).transpose(0, 2, 1).reshape(-1)
    return vals


def rgb_rendering(ref_path, work, frames):
    """dcmtk's RGB rendering (8 bits per channel) of every frame, or None."""
    out = os.path.join(work, 'rgb')
    code, msg = run(['dcm2pnm', '+op', '-O', '+Fa', '+Fc', ref_path, out])
    if code != 0:
        return None, msg
    chunks = []
    for i in range(frames):
        candidates = [f'{out}.{i}.ppm', f'{out}.ppm'] if frames == 1 else [f'{out}.{i}.ppm']
        name = next((c for c in candidates if os.path.exists(c)), None)
        if name is None:
            return None, f'dcm2pnm wrote no frame {i}'
        with open(name, 'rb') as f:
            data = f.read()
        # Binary PPM: P6\n<w> <h>\n<max>\n<data>
        parts, pos = [], 0
        while len(parts) < 4:
            while data[pos:pos + 1].isspace():
                pos += 1
            if data[pos:pos + 1] == b'#':
                pos = data.index(b'\n', pos) + 1
                continue
            end = pos
            while not data[end:end + 1].isspace():
                end += 1
            parts.append(data[pos:end])
            pos = end
        pos += 1
        if parts[0] != b'P6':
            return None, f'dcm2pnm wrote {parts[0]!r}, not a PPM'
        chunks.append(np.frombuffer(data[pos:], dtype=np.uint8))
    return np.concatenate(chunks), None


def decode_with(tool, src, dst):
    if tool == 'dcmconv':
        return run(['dcmconv', '+te', src, dst])
    if tool == 'gdcmconv':
        return run(['gdcmconv', '--raw', '-X', src, dst])
    return run([tool, src, dst])


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        return 2
    out_dir = args[0]
    files = args[1:]
    if files[0] == '--list':
        with open(files[1], encoding='utf8') as f:
            files = [line.strip() for line in f if line.strip()]
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    work_root = tempfile.mkdtemp(prefix='vigil-decode-ref-')
    try:
        for n, path in enumerate(files):
            entry = {'path': path, 'index': n}
            manifest.append(entry)
            ds = header(path)
            if isinstance(ds, Exception):
                entry.update(kind='unreadable', reason=f'pydicom cannot parse the header: {ds}')
                continue
            meta = getattr(ds, 'file_meta', None)
            ts = str(meta.get('TransferSyntaxUID', '')) if meta is not None else ''
            entry.update(
                sopInstanceUid=str(ds.get('SOPInstanceUID', '')),
                sopClassUid=str(ds.get('SOPClassUID', '')),
                modality=str(ds.get('Modality', '')),
                transferSyntaxUid=ts,
                syntaxName=NAMES.get(ts, ts or '(no file meta)'),
                lossy=ts in LOSSY,
                photometric=str(ds.get('PhotometricInterpretation', '')),
                rescaleSlope=num(ds, 'RescaleSlope', None),
                rescaleIntercept=num(ds, 'RescaleIntercept', None),
            )
            if 'PixelData' not in ds and 'FloatPixelData' not in ds and 'DoubleFloatPixelData' not in ds:
                entry['kind'] = 'no-image'
                continue
            if 'PixelData' not in ds:
                entry['kind'] = 'image'
                try:
                    info, vals = float_values(path, ts)
                except Exception as e:  # noqa: BLE001
                    entry.update(reference=None, reason=f'float pixel data: cannot read it: {e}')
                    continue
                entry.update(info)
                entry['referencePhotometric'] = info['photometric']
                entry['referenceTool'] = 'numpy (float pixel data as stored; no dcmtk/gdcm decoder)'
                stored_name = f'{n}.stored.f64'
                vals.astype('<f8').tofile(os.path.join(out_dir, stored_name))
                entry['stored'] = stored_name
                continue
            entry['kind'] = 'image'
            work = os.path.join(work_root, str(n))
            os.makedirs(work)
            primary = 'dcmconv' if ts in NATIVE else DCMTK.get(ts, 'gdcmconv')
            ref = os.path.join(work, 'ref.dcm')
            code, msg = decode_with(primary, path, ref)
            if code != 0 and primary != 'gdcmconv':
                entry['primaryFailure'] = f'{primary}: {msg[-300:]}'
                primary = 'gdcmconv'
                code, msg = decode_with(primary, path, ref)
            if code != 0:
                entry.update(reference=None, reason=f'{primary} failed: {msg[-300:]}')
                continue
            entry['referenceTool'] = primary
            try:
                info, vals = stored_values(ref)
            except Exception as e:  # noqa: BLE001
                entry.update(reference=None, reason=f'cannot read the {primary} output: {e}')
                continue
            if ts == '1.2.840.10008.1.2.2' and info['bitsAllocated'] == 32:
                be_vals = big_endian_32bit_values(path, info)
                if not np.array_equal(be_vals, vals):
                    entry['nativeDisagrees'] = (f'{primary} gives max |diff| {float(np.max(np.abs(be_vals - vals)))} '
                                                '(swaps 32-bit OW in 16-bit halves)')
                    entry['referenceTool'] = 'numpy (big-endian 32-bit samples as stored)'
                    vals = be_vals
            entry.update(info)
            entry['referencePhotometric'] = info['photometric']
            stored_name = f'{n}.stored.f64'
            vals.astype('<f8').tofile(os.path.join(out_dir, stored_name))
            entry['stored'] = stored_name
            # Second, independent decoder for encapsulated syntaxes.
            if ts not in NATIVE and primary != 'gdcmconv':
                alt = os.path.join(work, 'alt.dcm')
                code, msg = decode_with('gdcmconv', path, alt)
                if code == 0:
                    try:
                        _, alt_vals = stored_values(alt)
                        same = alt_vals.shape == vals.shape
                        entry['gdcmAgrees'] = bool(same and np.array_equal(alt_vals, vals))
                        if same and not entry['gdcmAgrees']:
                            entry['gdcmMaxAbsDiff'] = float(np.max(np.abs(alt_vals - vals)))
                    except Exception as e:  # noqa: BLE001
                        entry['gdcmAgrees'] = None
                        entry['gdcmNote'] = str(e)[:200]
                else:
                    entry['gdcmAgrees'] = None
                    entry['gdcmNote'] = msg[-200:]
            if info['samplesPerPixel'] > 1 or info['photometric'] == 'PALETTE COLOR':
                rgb, err = rgb_rendering(ref, work, info['frames'])
                if rgb is None:
                    entry['rgbNote'] = err
                else:
                    rgb_name = f'{n}.rgb.u8'
                    rgb.tofile(os.path.join(out_dir, rgb_name))
                    entry['rgb'] = rgb_name
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    with open(os.path.join(out_dir, 'manifest.json'), 'w', encoding='utf8') as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({'files': len(manifest), 'images': sum(1 for e in manifest if e.get('kind') == 'image')}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
