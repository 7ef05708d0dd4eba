#!/usr/bin/python3
"""Independent oracle for Vigil's import: classifies every file under the given
roots with pydicom (not with Vigil's reader) and computes what Vigil's library
should contain, applying the rules Vigil documents:

* instance.........: pydicom reads the file (dcmread; force=True only when the
                     'DICM' preamble is missing), the file is complete (no element
                     or pixel data runs past the end of the file, every sequence and
                     encapsulated pixel data is delimited), and the dataset has at least
                     one of SOPClassUID / SOPInstanceUID / StudyInstanceUID /
                     SeriesInstanceUID / Modality / PatientID / PatientName
                     (instance-metadata.ts: extractInstanceMetadata).
* dicomdir.........: MediaStorageSOPClassUID 1.2.840.10008.1.3.10, or a dataset with a
                     Directory Record Sequence (instance-metadata.ts: isDicomdir). Its
                     referenced files are followed (dicomdir-reader.ts); one DICOMDIR is
                     imported once per content (sha-256), repeats are duplicates.
* duplicates.......: instances with the same SOP Instance UID (dataset, else file meta
                     MediaStorageSOPInstanceUID) are one instance whatever the encoding.
* patients.........: (IssuerOfPatientID, PatientID), or (raw PatientName, PatientBirthDate)
                     when PatientID is empty (study-index.ts: patientKey).
* derived UIDs.....: empty or not matching ^[0-9.]{1,64}$ -> 2.25.<int of the first 16
                     bytes of sha256("vigil-derived-uid:" + kind + "\\0" + "\\0".join(parts))>
                     (derived-uid.ts), parts as in instance-metadata.ts.

Text values come from pydicom's own decoding (character sets included); only the
documented normalisation (control characters removed, trimmed, length limits, dates
YYYY.MM.DD -> YYYYMMDD) is reapplied here.

Usage: /usr/bin/python3 corpus_oracle.py <root-or-file>...   -> JSON on stdout
"""
import hashlib
import json
import math
import os
import re
import sys
import warnings

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10'
DEFLATED_TS = '1.2.840.10008.1.2.1.99'
UNDEFINED = 0xFFFFFFFF
ID_KEYWORDS = ('SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID', 'Modality', 'PatientID', 'PatientName')
VALID_UID = re.compile(r'^[0-9.]{1,64}$')
CONTROL = re.compile('[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]')
# JavaScript's String.prototype.trim() whitespace set.
JS_WS = '\u0009\u000a\u000b\u000c\u000d\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'


# --- documented normalisation -------------------------------------------------

def js_len(s):
    return len(s.encode('utf-16-le')) // 2


def js_slice(s, n):
    return s.encode('utf-16-le')[: 2 * n].decode('utf-16-le', errors='ignore')


def clean(s, max_len=1024):
    t = CONTROL.sub('', s).strip(JS_WS)
    return js_slice(t, max_len) + '\u2026' if js_len(t) > max_len else t


def normalise_date(s):
    t = s.strip(JS_WS).replace('.', '')
    return t if re.fullmatch(r'\d{8}', t) else clean(t, 32)


def derived_uid(kind, parts):
    h = hashlib.sha256(f'vigil-derived-uid:{kind}\0{chr(0).join(parts)}'.encode('utf-8')).digest()
    return '2.25.' + str(int.from_bytes(h[:16], 'big'))


def js_number_string(v):
    """String(Number(x)) for a numeric value, as JavaScript prints it (integers and simple decimals)."""
    if v is None or v == '':
        return ''
    try:
        f = float(str(v).strip())
    except ValueError:
        return ''
    if not math.isfinite(f):
        return ''
    if f == int(f) and abs(f) < 1e21:
        return str(int(f))
    return repr(f)


# --- pydicom value access -----------------------------------------------------

def text(ds, keyword):
    """The value as pydicom decodes it, multi-values joined with '\\' as stored in DICOM."""
    if keyword not in ds:
        return ''
    v = ds[keyword].value
    if v is None:
        return ''
    if isinstance(v, (MultiValue, list, tuple)):
        return '\\'.join('' if x is None else str(x) for x in v)
    if isinstance(v, bytes):
        return v.decode('latin-1')
    return str(v)


def uid(ds, keyword):
    return re.sub(r'[\0\s]', '', text(ds, keyword))


def first_number(ds, keyword):
    if keyword not in ds:
        return None
    v = ds[keyword].value
    if isinstance(v, (MultiValue, list, tuple)):
        v = v[0] if len(v) else None
    return v


# --- completeness (pydicom is lenient about truncation; Vigil is not) ---------------

def check_complete(ds, stream_size):
    """Raises ValueError when an element's declared length runs past the end of the data."""
    for tag in list(ds.keys()):
        raw = ds._dict.get(tag)  # the raw element: get_item() would convert deferred values
        if isinstance(raw, Sequence) or isinstance(getattr(raw, 'value', None), Sequence):
            continue
        length = getattr(raw, 'length', None)
        offset = getattr(raw, 'value_tell', None)
        if length is None or offset is None or length == UNDEFINED:
            continue
        if offset + length > stream_size:
            raise ValueError(f'truncated: element {tag} at byte {offset} declares {length} bytes, data ends at {stream_size}')


def read(path):
    """Returns (dataset, how) or raises; records pydicom's own end-of-file warnings as errors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size='1 KB')
            how = 'dcmread'
        except InvalidDicomError:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size='1 KB', force=True)
            how = 'dcmread(force=True)'
    eof = [str(w.message) for w in caught if 'End of file reached' in str(w.message) or 'before delimiter' in str(w.message)]
    if eof:
        raise ValueError(f'truncated: pydicom: {eof[0]}')
    return ds, how


def classify(path):
    try:
        return classify_unchecked(path)
    except Exception as e:  # noqa: BLE001 - e.g. garbage read with force=True that pydicom cannot convert
        return {'path': path, 'size': os.path.getsize(path), 'sha256': sha256_of(path), 'kind': 'unreadable',
                'reason': f'pydicom: {type(e).__name__}: {e}'[:300]}


def sha256_of(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def classify_unchecked(path):
    rec = {'path': path, 'size': os.path.getsize(path)}
    rec['sha256'] = sha256_of(path)
    if rec['size'] == 0:
        rec.update(kind='unreadable', reason='empty file')
        return rec
    try:
        ds, how = read(path)
    except Exception as e:  # noqa: BLE001 - every pydicom failure is a rejection
        rec.update(kind='unreadable', reason=f'{type(e).__name__}: {e}'[:300])
        return rec
    rec['how'] = how
    meta = getattr(ds, 'file_meta', None) or pydicom.Dataset()
    ts = str(meta.get('TransferSyntaxUID', '') or '')
    if ts != DEFLATED_TS:
        try:
            check_complete(ds, rec['size'])
        except ValueError as e:
            rec.update(kind='unreadable', reason=str(e))
            return rec
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for _ in ds.iterall():  # converts every raw value (deferred ones are read now)
                pass
    except Exception as e:  # noqa: BLE001
        rec.update(kind='unreadable', reason=f'pydicom cannot convert its values: {type(e).__name__}: {e}'[:300])
        return rec

    if uid(meta, 'MediaStorageSOPClassUID') == DICOMDIR_SOP_CLASS or 'DirectoryRecordSequence' in ds:
        rec['kind'] = 'dicomdir'
        rec['references'] = dicomdir_references(ds, path)
        return rec

    # SOP Class / Instance UID fall back to the file meta (Media Storage SOP Class / Instance UID).
    sop_class = uid(ds, 'SOPClassUID') or uid(meta, 'MediaStorageSOPClassUID')
    sop = uid(ds, 'SOPInstanceUID') or uid(meta, 'MediaStorageSOPInstanceUID')
    identifying = [sop_class, sop] + [text(ds, k).strip() for k in ID_KEYWORDS[2:]]
    if not any(identifying):
        rec.update(kind='not-instance', reason=f'pydicom reads it ({how}) but it has none of {", ".join(ID_KEYWORDS)} (nor file meta SOP UIDs)')
        return rec

    # Trailing PN delimiters are insignificant (PS3.5 6.2.1); Vigil strips them.
    name_raw = re.sub(r'[\^=\s]+$', '', clean(text(ds, 'PatientName'), 512))
    patient_id = clean(text(ds, 'PatientID'), 128)
    issuer = clean(text(ds, 'IssuerOfPatientID'), 128)
    birth = normalise_date(text(ds, 'PatientBirthDate'))
    study_date = normalise_date(text(ds, 'StudyDate') or text(ds, 'SeriesDate') or text(ds, 'ContentDate'))
    modality = clean(text(ds, 'Modality'), 16).upper()
    derived = {'study': False, 'series': False, 'instance': False}

    study = uid(ds, 'StudyInstanceUID')
    if not VALID_UID.match(study):
        study = derived_uid('study', [
            issuer, patient_id, name_raw, birth, study_date, clean(text(ds, 'StudyTime'), 32),
            clean(text(ds, 'AccessionNumber'), 64), clean(text(ds, 'StudyID'), 64), clean(text(ds, 'StudyDescription')),
        ])
        derived['study'] = True
    series = uid(ds, 'SeriesInstanceUID')
    if not VALID_UID.match(series):
        series = derived_uid('series', [
            study, modality, js_number_string(first_number(ds, 'SeriesNumber')), normalise_date(text(ds, 'SeriesDate')),
            clean(text(ds, 'SeriesTime'), 32), clean(text(ds, 'SeriesDescription')),
        ])
        derived['series'] = True
    if not VALID_UID.match(sop):
        sop = derived_uid('instance', [rec['sha256']])
        derived['instance'] = True

    rec.update(
        kind='instance',
        sop=sop,
        study=study,
        series=series,
        derived=derived,
        patientKey=['id', issuer, patient_id] if patient_id else ['name', name_raw, birth],
        # pydicom's decoding, untouched: what Vigil's patients.name_raw is compared with.
        patientName=text(ds, 'PatientName'),
        specificCharacterSet=text(ds, 'SpecificCharacterSet'),
        transferSyntax=ts,
    )
    return rec


def resolve_ci(root, components):
    current = root
    for comp in components:
        direct = os.path.join(current, comp)
        if os.path.exists(direct):
            current = direct
            continue
        try:
            match = next((n for n in sorted(os.listdir(current)) if n.upper() == comp.upper()), None)
        except OSError:
            match = None
        if match is None:
            return os.path.join(root, *components), False
        current = os.path.join(current, match)
    return current, True


def dicomdir_references(ds, path):
    root = os.path.dirname(path)
    refs, seen = [], set()
    for record in ds.get('DirectoryRecordSequence', []) or []:
        if 'ReferencedFileID' not in record:
            continue
        v = record.ReferencedFileID
        comps = [str(c).strip() for c in (v if isinstance(v, (MultiValue, list, tuple)) else [v])]
        comps = [c for c in comps if c]
        if not comps or any(c in ('.', '..') or '/' in c or '\0' in c for c in comps):
            continue
        p, exists = resolve_ci(root, comps)
        if p in seen:
            continue
        seen.add(p)
        refs.append({'path': p, 'exists': exists})
    return refs


def walk(roots):
    files, seen_real = [], set()
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isfile(root):
            candidates = [root]
        else:
            candidates = []
            for d, dirs, names in os.walk(root, followlinks=True):
                dirs.sort()
                candidates += [os.path.join(d, n) for n in sorted(names)]
        for p in candidates:
            if not os.path.isfile(p):
                continue
            real = os.path.realpath(p)
            if real not in seen_real:
                seen_real.add(real)
                files.append(p)
    return files


def main(roots):
    queue = walk(roots)
    walked = len(queue)
    offered = set(queue)
    records, missing = [], []
    i = 0
    while i < len(queue):
        rec = classify(queue[i])
        records.append(rec)
        i += 1
        for ref in rec.get('references', []):
            if ref['path'] in offered:
                continue
            offered.add(ref['path'])
            if ref['exists']:
                queue.append(ref['path'])
            else:
                missing.append({'path': ref['path'], 'dicomdir': rec['path']})

    # Instances grouped by SOP Instance UID: the first file imports, the rest are duplicates.
    by_sop = {}
    for r in records:
        if r['kind'] == 'instance':
            by_sop.setdefault(r['sop'], []).append(r)
    conflicts = []
    for sop, group in by_sop.items():
        shapes = {(g['study'], g['series'], json.dumps(g['patientKey'])) for g in group}
        if len(shapes) > 1:
            conflicts.append({'sop': sop, 'files': [g['path'] for g in group]})
    dicomdir_shas = {r['sha256'] for r in records if r['kind'] == 'dicomdir'}
    n_dicomdir = sum(1 for r in records if r['kind'] == 'dicomdir')
    n_instance_files = sum(len(g) for g in by_sop.values())

    reps = [g[0] for g in by_sop.values()]
    studies = {}
    for r in reps:
        studies.setdefault(r['study'], {}).setdefault(r['series'], 0)
        studies[r['study']][r['series']] += 1
    patients = {json.dumps(r['patientKey']) for r in reps}
    expected = {
        'walkedFiles': walked,
        'offered': walked + len(missing) + (len(queue) - walked),
        'imported': len(by_sop) + len(dicomdir_shas),
        'duplicates': (n_instance_files - len(by_sop)) + (n_dicomdir - len(dicomdir_shas)),
        'rejected': sum(1 for r in records if r['kind'] in ('unreadable', 'not-instance')) + len(missing),
        'patients': len(patients),
        'studies': len(studies),
        'series': sum(len(s) for s in studies.values()),
        'instances': len(by_sop),
    }
    out = {
        'pydicom': pydicom.__version__,
        'expected': expected,
        'studies': studies,
        'missingReferences': missing,
        'duplicateConflicts': conflicts,
        'files': records,
    }
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('usage: corpus_oracle.py <root-or-file>...')
    main(sys.argv[1:])
