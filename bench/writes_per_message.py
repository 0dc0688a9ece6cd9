"""Benchmark companion: UPDATEs of ``messages`` per handed-off message, by kind, counted in
real ``dripsms worker`` processes on PostgreSQL (deterministic, unlike a timing).

Each worker runs under an ``after_cursor_execute`` listener that counts, per UPDATE of
``messages`` (named by the columns it sets), the statements and the rows they changed.
The workers drain N send-now messages (the set-up of ``scaleout_bench.py``), then run
``--settle`` seconds more, so that the passes after the last handoff (the reply timers)
are counted too: a run stopped at the last handoff misses what those passes write.
``pg_stat_user_tables.n_tup_upd`` of ``messages`` is printed beside the listener's sum.

    .venv/bin/python bench/writes_per_message.py [--n 1000] [--workers 1,4] [--settle 1.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import scaleout_bench as sb
from reporting import table

WORKER = r"""
import atexit, collections, json, runpy, sys, threading
from sqlalchemy import event
from sqlalchemy.engine import Engine
counts = collections.Counter()
lock = threading.Lock()

@event.listens_for(Engine, "after_cursor_execute")
def count(conn, cursor, statement, parameters, context, executemany):
    text = " ".join(statement.split())
    if text.startswith("UPDATE messages SET "):
        kind = ", ".join(p.split("=")[0] for p in text[20:].split(" WHERE ")[0].split(", "))
        with lock:
            counts["statements|" + kind] += 1
            counts["rows|" + kind] += max(cursor.rowcount, 0)

atexit.register(lambda: json.dump(counts, open(OUT, "w")))
sys.argv = ["dripsms", "worker"]
runpy.run_module("dripsms", run_name="__main__")
"""
"""``dripsms worker`` with the listener; ``OUT``: where it writes its counts at exit."""


def run(admin_url: str, twilio: sb.Twilio, workers: int, n: int, settle: float) -> list[list[str]]:
    database = sb.Database(admin_url)
    with tempfile.TemporaryDirectory() as folder:
        try:
            (Path(folder) / "now.yaml").write_text(sb.SEQUENCE)
            sb.enroll(database, Path(folder), n)
            twilio.fresh()
            env = sb.environment(database.url, Path(folder), twilio.base_url, 8, 200)
            before = database.tuples()["n_tup_upd"]
            outs = [Path(folder) / f"worker{i}.json" for i in range(workers)]
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", f"OUT = {str(out)!r}\n" + WORKER],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for out in outs
            ]
            try:
                measured = sb.measure(database, twilio, procs, n)
                time.sleep(settle)  # the passes after the last handoff
            finally:
                sb.stop_workers(procs)
            updated = database.tuples()["n_tup_upd"] - before
        finally:
            database.close()
        counts: Counter[str] = Counter()
        for out in outs:
            counts.update(json.loads(out.read_text()))
    kinds = sorted({key.split("|", 1)[1] for key in counts})
    rows = [
        [str(workers), kind, f"{counts['statements|' + kind]:,}",
         f"{counts['rows|' + kind]:,}", f"{counts['rows|' + kind] / n:.2f}"]
        for kind in kinds
    ]  # fmt: skip
    total = sum(counts[f"rows|{kind}"] for kind in kinds)
    rows.append([str(workers), "**all** (pg_stat: n_tup_upd)", "", f"{total:,} ({updated:,})",
                 f"{total / n:.2f}"])  # fmt: skip
    assert measured.duplicates == 0, "duplicates"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000, help="messages per run")
    parser.add_argument("--workers", default="1,4", help="worker counts, comma-separated")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds after the drain")
    args = parser.parse_args()
    admin_url = sb.postgres_admin_url()
    twilio = sb.Twilio()
    try:
        rows = [
            row
            for workers in args.workers.split(",")
            for row in run(admin_url, twilio, int(workers), args.n, args.settle)
        ]
    finally:
        twilio.close()
    header = ["workers", "UPDATE messages SET …", "statements", "rows", "rows per message"]
    print("\n".join(table(header, rows)))


if __name__ == "__main__":
    main()
