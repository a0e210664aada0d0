"""The import on PostgreSQL (the bulk load, ``worker.bulk_load``) against COPY and against loading
its own result alone, each side in its own process, rounds interleaved (issue 33, target 2).

    .venv/bin/python bench/import_pg.py [--tickets 20000] [--rounds 3] [--before /work/main]

The export, the three sides and the fresh database per round are those of ``bench/import.py``
(``ours``: `hotline import FILE`; ``copy``: COPY of the file's rows into a staging table of text
columns; ``store``: the rows the first ``ours`` round left, loaded alone into a fresh schema by
COPY).  ``--tickets`` sets the size (the issue's 2 M year takes about 25 minutes to generate on a
shared 2-core machine, 200 k about 1); ``--before TREE`` also times `hotline import` of another
checkout (one without the bulk load: the batch-by-batch path), as a fourth side.
Printed: min / median / max event rows per second of each side, and the ratios of the medians
(targets: the import ≥ 1/10 of COPY, ≥ 1/2 of its own result loaded alone).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", type=Path, help="a checkout whose `hotline import` is timed as well")
    ap.add_argument("--admin", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        export, per_day, rows = peer.synthetic_export(Path(folder), args.tickets)
        sides = ["ours", "copy", "store"] + (["batch"] if args.before else [])
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name in sides:
                db, url = peer.fresh_database(args.admin)
                try:
                    if name == "ours":
                        seconds[name].append(peer.ours(url, export))
                        if not seconds["store"]:
                            peer.keep_result(url, Path(folder))
                    elif name == "batch":
                        seconds[name].append(peer.ours(url, export, args.before))
                    elif name == "copy":
                        seconds[name].append(peer.copy(url, export))
                    else:
                        seconds[name].append(peer.store(url, Path(folder)))
                finally:
                    peer.drop_database(args.admin, db)
    rates = {name: sorted(rows / s for s in values) for name, values in seconds.items()}
    labels = {"ours": "hotline import (bulk)", "copy": "COPY into a staging table", "store": "its result, loaded alone",
              "batch": "--before (batch path)"}
    print(f"{per_day * 120:,} tickets, {rows:,} event rows; {args.rounds} interleaved rounds, each in a fresh database")
    print(f"{'event rows/s':<28} {'min':>10} {'median':>10} {'max':>10}")
    for name, values in rates.items():
        print(f"{labels[name]:<28} {values[0]:>10,.0f} {statistics.median(values):>10,.0f} {values[-1]:>10,.0f}")
    med = {name: statistics.median(values) for name, values in rates.items()}
    per_round = lambda a, b: sorted(seconds[b][i] / seconds[a][i] for i in range(args.rounds))
    for a, b, target in (("ours", "copy", "≥ 1/10"), ("ours", "store", "≥ 1/2"), ("store", "copy", "")):
        r = per_round(a, b)
        print(f"{labels[a]} / {labels[b]}: 1/{med[b] / med[a]:.1f} (per round min {r[0]:.2f}, median "
              f"{statistics.median(r):.2f}, max {r[-1]:.2f}){' target ' + target if target else ''}")
    if args.before:
        print(f"the bulk load / the batch path: {med['ours'] / med['batch']:.1f}×")
    print(json.dumps({"rows": rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
