"""Benchmark: what signing a checkpoint in every appending transaction costs, and what a device's check costs.

Run: ``.venv/bin/python bench/audit.py [--backend sqlite|postgresql|both] [--entries 2000] [--runs 3]``.

Per backend, alternating in the same invocation so machine noise falls on both sides: ``--entries`` audit appends,
each its own transaction, through a store with the signer installed (``AuditLog``: a checkpoint per append) and
through a bare store (no checkpoint: the baseline). Then, on the signed log, the public head with a consistency
proof from a size held by a device (``AuditLog.head``) and a full ``verify``. Prints per-run figures and medians as
JSON; ``ratio`` is signed appends/s over baseline appends/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import create_engine, text

from workprint.audit.log import AuditLog
from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _url(backend: str, tmp: Path, tag: str) -> tuple[str, str]:
    """A fresh database (SQLite file, or a PostgreSQL schema) and the schema to drop after."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'{tag}.db'}", ""
    schema = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    with create_engine(PG).begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return f"{PG}?options=-csearch_path%3D{schema}", schema


def _drop(schema: str) -> None:
    if schema:
        with create_engine(PG).begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def _appends(store: MetadataStore, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        store.append_audit(AuditEvent("user:1", "segment.read", f"segment:{i:064x}", {"participant_id": "p"}), i)
    return n / (time.perf_counter() - start)


def run_once(backend: str, entries: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend}
    for tag in ("baseline", "signed"):
        url, schema = _url(backend, tmp, f"{tag}{uuid.uuid4().hex[:6]}")
        store = MetadataStore(url)
        try:
            log = AuditLog(store, SigningKey.generate()) if tag == "signed" else None
            out[f"{tag}_appends_per_s"] = round(_appends(store, entries), 1)
            if log is not None:
                start = time.perf_counter()
                cp, proof = log.head(entries // 3)  # a device holding an older checkpoint
                out["head_first_ms"] = round((time.perf_counter() - start) * 1e3, 2)  # builds the tree
                start = time.perf_counter()
                for _ in range(20):
                    log.head(entries // 3)
                out["head_ms"] = round((time.perf_counter() - start) / 20 * 1e3, 3)
                out["proof_hashes"] = len(proof)
                start = time.perf_counter()
                ok = log.verify().ok
                out["verify_s"] = round(time.perf_counter() - start, 3)
                out["verify_ok"] = ok
                out["checkpoints"] = len(log.checkpoints())
                assert cp.size == entries
        finally:
            store.close()
            _drop(schema)
    out["ratio"] = round(out["signed_appends_per_s"] / out["baseline_appends_per_s"], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--entries", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    with TemporaryDirectory(prefix="wp-audit-bench-") as d:
        for _ in range(args.runs):
            for b in backends:
                r = run_once(b, args.entries, Path(d))
                print(json.dumps(r), flush=True)
                results[b].append(r)
    medians = {
        b: {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], int | float)}
        for b, rs in results.items()
    }
    print(json.dumps({"medians": medians}, indent=1))


if __name__ == "__main__":
    main()
