#!/usr/bin/python3
"""Baseline for `npm run bench -- import`: index every file under the given folders
with pydicom the way a Python tool would (dcmread(stop_before_pixels=True, force=True),
errors caught), and print {"files", "read", "errors", "walkSeconds", "loopSeconds"} as JSON.
Run with /usr/bin/python3 (the one that has pydicom)."""
import json
import os
import sys
import time
import warnings

import pydicom

warnings.simplefilter('ignore')


def main(roots):
    t0 = time.perf_counter()
    files = []
    for root in roots:
        for d, dirs, names in os.walk(root):
            dirs.sort()
            files += [os.path.join(d, n) for n in sorted(names) if os.path.isfile(os.path.join(d, n))]
    t1 = time.perf_counter()
    read = errors = 0
    for path in files:
        try:
            pydicom.dcmread(path, stop_before_pixels=True, force=True)
            read += 1
        except Exception:  # noqa: BLE001 - a failure to read is part of the work measured
            errors += 1
    t2 = time.perf_counter()
    print(json.dumps({'files': len(files), 'read': read, 'errors': errors, 'walkSeconds': t1 - t0, 'loopSeconds': t2 - t1, 'pydicom': pydicom.__version__}))


if __name__ == '__main__':
    main(sys.argv[1:])
