"""A release loads in one line: Hugging Face ``datasets`` (Parquet), ``webdataset`` (tar), AgentNet JSONL; the
datasheet counts what is there and the manifest's checksums match every file.

Test-only dependencies: ``datasets`` (with ``HF_HUB_OFFLINE=1``) and ``webdataset``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

from PIL import Image
from release_helpers import corpus, jsonl, opened, session_tape

from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import MemorySource
from workprint.models import FrameEvent

KEY = b"f" * 32


def built(tmp_path: Path) -> Path:
    build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1, shard_steps=6))
    return tmp_path / "rel" / "v0001"


def test_parquet_loads_with_hugging_face_datasets_as_is_with_decoded_images(tmp_path: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets

    root = built(tmp_path)
    files = sorted(str(p) for p in (root / "data").glob("*.parquet"))
    assert len(files) == 2  # 5 steps per session; a shard closes once it holds at least 6
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 15
    assert isinstance(ds.features["image"], datasets.Image)
    row = ds[0]
    assert row["code"] == "pyautogui.click(x=0.1, y=0.24)" and row["action"] == "click"
    assert (row["x"], row["y"], row["step"]) == (0.1, 0.24, 0)
    assert row["image"].size == (16, 10)
    assert ds[1]["text"] == "word0"


def test_webdataset_shards_read_back_json_and_image_per_step(tmp_path: Path) -> None:
    import webdataset as wds

    root = built(tmp_path)
    urls = sorted(str(p) for p in (root / "webdataset").glob("*.tar"))
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == 15
    first = samples[0]
    assert first["json"]["code"] == "pyautogui.click(x=0.1, y=0.24)"
    assert first["webp"].size == (16, 10)
    assert first["__key__"] == f"{first['json']['task_id']}_0000"


def test_agentnet_jsonl_images_exist_and_decode(tmp_path: Path) -> None:
    root = built(tmp_path)
    eps = jsonl(root / "agentnet.jsonl")
    assert len(eps) == 6
    for e in eps:
        assert [s["index"] for s in e["traj"]] == list(range(len(e["traj"])))
        for s in e["traj"]:
            Image.open(root / s["image"]).load()


def test_datasheet_counts_and_manifest_checksums_match_the_files(tmp_path: Path) -> None:
    tape = session_tape(0, word="mail <EMAIL> now")
    tape.type("x")
    frames = {e.frame_id: b"x" for e in tape.events if isinstance(e, FrameEvent)}
    build_release(MemorySource([opened("a", "s", 0, tape.events, frames)]), tmp_path, "rel", key=KEY,
                  options=ReleaseOptions(k=1))  # fmt: skip
    root = tmp_path / "rel" / "v0001"
    sheet = json.loads((root / "datasheet.json").read_text())
    assert sheet["counts"]["episodes"] == 2 and sheet["counts"]["participants"] == 1
    assert sheet["actions"] == {"click": 2, "write": 2, "hotkey": 1}
    assert sheet["redactions"] == {"<EMAIL>": 1}
    assert sheet["notice_versions"] == ["1"] and sheet["k"] == 1
    assert "- <EMAIL>: 1" in (root / "datasheet.md").read_text()
    manifest = json.loads((root / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(listed) == on_disk
    for path, sha in listed.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == sha
    assert io.BytesIO((root / "agentnet.jsonl").read_bytes()).read().count(b"\n") == 2
