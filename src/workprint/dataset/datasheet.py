"""A release's datasheet (JSON and Markdown) and manifest (sha256 of every file), both deterministic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def datasheet_markdown(sheet: Mapping[str, Any]) -> str:
    """The datasheet as Markdown for people."""
    c = sheet["counts"]
    lines = [
        f"# Datasheet: {sheet['release_id']} v{sheet['version']}",
        "",
        "Computer-use demonstrations recorded with workprint under informed, revocable consent; redacted on the",
        "participant's device; pseudonymous (participant ids are keyed hashes whose key is not part of the release).",
        "",
        "## Counts",
        "",
        *(f"- {name}: {value}" for name, value in c.items()),
        "",
        "## Privacy",
        "",
        f"- k-anonymity of window titles and app names: k = {sheet['k']} (shared by fewer participants: generalised)",
        f"- generalised: {sheet['generalised']['titles']} titles, {sheet['generalised']['apps']} app names",
        f"- exact-duplicate episodes removed: {c['duplicates_removed']}",
        f"- notice versions: {', '.join(sheet['notice_versions']) or '-'}",
        "- consent: only data consented for its scope, time range and notice at build time",
        "",
        "## Redaction placeholders in typed text",
        "",
        *([f"- {k}: {v}" for k, v in sheet["redactions"].items()] or ["- none"]),
        "",
        "## Actions",
        "",
        *(f"- {k}: {v}" for k, v in sheet["actions"].items()),
        "",
        "## Apps",
        "",
        *(f"- {k}: {v}" for k, v in sheet["apps"].items()),
        "",
        "## Files",
        "",
        '- `data/train-*.parquet`: one row per step, `image` {bytes, path}; `datasets.load_dataset("parquet", ...)`',
        "- `webdataset/shard-*.tar`: `<task>_<step>.json` and `<task>_<step>.<ext>` per step",
        "- `agentnet.jsonl`: one episode per line, `traj[{index, image, value{action, code}}]`; images in `images/`",
        "- `manifest.json`: sha256 of every file",
        "",
    ]
    return "\n".join(lines)


def manifest_bytes(files: Mapping[str, str]) -> bytes:
    """The manifest: every file's sha256, sorted by path."""
    body = {"files": [{"path": p, "sha256": files[p]} for p in sorted(files)]}
    return json.dumps(body, indent=1, sort_keys=True).encode()


__all__ = ["datasheet_markdown", "manifest_bytes"]
