"""The Ray Data executor, reading segments from and writing the release to a real S3 server, produces exactly the
files of the local executor (test-only dependency: ``ray[data]``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from release_helpers import server, session_tape, upload

from s3_server import s3_url, weed
from workprint.dataset.executors import ensure_ray
from workprint.dataset.fsio import Root
from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import ServerSource

KEY = b"y" * 32


def test_ray_executor_on_s3_matches_the_local_executor_byte_for_byte(tmp_path: Path) -> None:
    os.environ["RAY_AUTH_MODE"] = "disabled"
    (tmp_path / "weed").mkdir()
    with weed(tmp_path / "weed") as w:
        endpoint = w.endpoint
        api = server(tmp_path / "home", blob_url=s3_url(endpoint, "wpds/blobs"))
        for n in range(4):
            upload(api, f"p{n}", [(f"s{j}", session_tape(n * 3 + j, word=f"w{n}{j}")) for j in range(2)])
        source = ServerSource(api.settings, "steward:test")
        results = {}
        for executor in ("local", "ray"):
            if executor == "ray":
                ensure_ray(num_cpus=2)
            opts = ReleaseOptions(k=2, shard_steps=8, executor=executor)  # type: ignore[arg-type]
            report = build_release(source, s3_url(endpoint, f"wpds/out-{executor}"), "rel", options=opts, key=KEY,
                                   version=1)  # fmt: skip
            root = Root(s3_url(endpoint, f"wpds/out-{executor}")).child("rel/v0001")
            results[executor] = (report, {name: root.get(name) for name in root.files()})
    import ray

    ray.shutdown()
    local, ray_ = results["local"], results["ray"]
    assert local[0].manifest_sha256 == ray_[0].manifest_sha256
    assert local[0].episodes == 16 and local[0].sessions == 8 and local[0].frames > 0
    assert sorted(local[1]) == sorted(ray_[1])
    assert len([n for n in local[1] if n.startswith("data/")]) >= 3
    assert all(local[1][n] == ray_[1][n] for n in local[1])


def test_erasure_on_s3_leaves_no_byte_of_the_marker_in_the_object_store_or_data_dir(tmp_path: Path) -> None:
    from test_purge import MARKER, every_file_holding

    from workprint.dataset.purge import purge_pending
    from workprint.store.lineage_tables import LineageStore

    (tmp_path / "weed").mkdir()
    with weed(tmp_path / "weed") as w:
        api = server(tmp_path / "home", blob_url=s3_url(w.endpoint, "wpds/blobs"))
        alice = upload(api, "alice", [("s1", session_tape(0, word=MARKER))])
        upload(api, "bob", [("s1", session_tape(1, word="bobword"))])
        source = ServerSource(api.settings, "steward:test", api=api)
        lineage = LineageStore(api.metadata.engine)
        out = s3_url(w.endpoint, "wpds/releases")
        build_release(source, out, "rel", options=ReleaseOptions(k=1), lineage=lineage)
        w.vacuum()
        assert every_file_holding(w.dir, MARKER.encode())  # plaintext release files are in the volumes
        api.erase_participant(alice)
        results = purge_pending(lineage, source)
        assert [r.purged for r in results] == [(("rel", 1),)]
        # The operator's compaction, within the deadline: deleted objects leave the volume files. Volume servers
        # learn of deletions asynchronously, so compaction may take a few rounds.
        for _ in range(15):
            w.vacuum()
            if not every_file_holding(w.dir, MARKER.encode()):
                break
            time.sleep(1)
        assert every_file_holding(w.dir, MARKER.encode()) == []
        assert every_file_holding(tmp_path / "home", MARKER.encode()) == []
        assert Root(out).child("rel/v0002").exists("agentnet.jsonl")
