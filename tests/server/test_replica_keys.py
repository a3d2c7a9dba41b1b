"""Keys shared by several server processes: a rotation run anywhere is followed by every running replica, a
participant created during a rotation is never wrapped under a retired key, a rotation killed at any step leaves
everyone readable, a replica pointed at another signing key or key store refuses to start, and processes starting
together on a fresh home agree on one set of keys. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from server_helpers import FAST_HASHER

from workprint.config import ServerSettings
from workprint.errors import ConfigError, Conflict
from workprint.segment import generate_keypair
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api
from workprint.store.blobs import LocalBlobStore
from workprint.store.coordination import ROTATION
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore


def _api(db_url: str, home: Path, keys: MasterKeyFile | None = None) -> ServerAPI:
    """One "replica": its own database pool and its own key provider object over the shared home."""
    settings = ServerSettings(home=home, db_url=db_url)
    keys = keys or MasterKeyFile(settings.server_dir / "master.key")
    store = MetadataStore(db_url)
    return ServerAPI(store, LocalBlobStore(home / "blobs"), keys, settings, password_hasher=FAST_HASHER)


def _all_open(db_url: str, home: Path) -> dict[str, bool]:
    """Whether a fresh process (new key provider, new pool) can unwrap each live participant's key."""
    api = _api(db_url, home)
    out = {}
    for p in api.metadata.participants():
        if p.wrapped_private_key is None:
            continue
        try:
            out[p.id] = len(api.keys.unwrap(p.id, p.wrapped_private_key)) > 32  # the private key, then the name
        except ConfigError:
            out[p.id] = False
    api.metadata.close()
    return out


def test_a_running_key_file_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    replica, cli = MasterKeyFile(tmp_path / "master.key"), MasterKeyFile(tmp_path / "master.key")
    secret, _ = generate_keypair()
    before = replica.wrap("ada", secret)
    assert replica.unwrap("ada", before) == secret  # the replica has read (and cached) the key
    cli.rotate()
    rewrapped = cli.rewrap("ada", before)
    during = replica.wrap("bob", secret)  # wrapped while both versions exist: under the newest
    cli.retire_old_versions()
    assert replica.unwrap("ada", rewrapped) == secret
    assert replica.unwrap("bob", during) == secret
    after = replica.wrap("cy", secret)
    fresh = MasterKeyFile(tmp_path / "master.key")
    assert fresh.unwrap("cy", after) == fresh.unwrap("bob", during) == secret
    assert replica.key_id == fresh.key_id == cli.key_id
    with pytest.raises(ConfigError, match="cannot unwrap"):
        fresh.unwrap("ada", before)  # the old version is destroyed for everyone


def test_a_participant_created_while_a_rotation_runs_is_rewrapped_before_the_old_key_is_retired(
    db_url: str, tmp_path: Path
) -> None:
    replica, rotator = _api(db_url, tmp_path), _api(db_url, tmp_path)
    rotator.create_participant("Ada")
    wrapped_old, go_on = threading.Event(), threading.Event()

    class SlowWrap(MasterKeyFile):
        """The replica wraps under the old key version and is slow to commit (our own provider boundary)."""

        def wrap(self, participant: str, plaintext: bytes) -> bytes:
            out = super().wrap(participant, plaintext)
            wrapped_old.set()
            go_on.wait(10)
            return out

    replica.keys = SlowWrap(replica.settings.server_dir / "master.key")
    made: list[str] = []
    creator = threading.Thread(target=lambda: made.append(replica.create_participant("Bob")))
    creator.start()
    assert wrapped_old.wait(10)
    rotation = threading.Thread(target=rotator.rotate_keys)
    rotation.start()
    rotation.join(1.0)  # the rotation re-wraps Ada, then waits for Bob's creation to commit
    assert rotation.is_alive()
    go_on.set()
    creator.join(10)
    rotation.join(30)
    assert not (tmp_path / "server" / "master.key.next").exists()  # the old version is retired
    opened = _all_open(db_url, tmp_path)
    assert len(opened) == 2 and all(opened.values()), opened
    assert made[0] in opened
    assert replica.metadata.audit_entries()[-1].detail == {"key_id": rotator.keys.key_id, "participants": 2}
    replica.metadata.close()
    rotator.metadata.close()


def test_rotations_take_turns(db_url: str, tmp_path: Path) -> None:
    api = _api(db_url, tmp_path)
    lease = api.metadata.try_lease(ROTATION)
    assert lease is not None
    other = _api(db_url, tmp_path)
    with pytest.raises(Conflict, match="another key rotation is running"):
        other.rotate_keys()
    lease.release()
    assert other.rotate_keys() == 0
    api.metadata.close()
    other.metadata.close()


@pytest.mark.parametrize("point", ["keys.rotated", "keys.listed", "keys.rewrapped", "keys.finished"])
def test_a_rotation_killed_at_any_step_loses_nobody_and_completes_when_run_again(
    db_url: str, tmp_path: Path, point: str
) -> None:
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url))
    for name in ("Ada", "Bob", "Cy"):
        api.create_participant(name)
    env = {**os.environ, "WORKPRINT_HOME": str(tmp_path), "WORKPRINT_FAULT_POINTS": f"{point}=30"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workprint.cli", "admin", "rotate-keys", "--db", db_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().decode().strip() == f"fault {point}"
        api.create_participant("Dee")  # a replica goes on creating participants mid-rotation
        late = _api(db_url, tmp_path)
        assert all(late.keys.unwrap(p.id, p.wrapped_private_key or b"") for p in late.metadata.participants())
        late.metadata.close()
    finally:
        proc.kill()
        proc.wait()
    opened = _all_open(db_url, tmp_path)
    assert len(opened) == 4 and all(opened.values()), opened
    assert api.rotate_keys() >= 4  # run again: it completes
    assert not (tmp_path / "server" / "master.key.next").exists()
    opened = _all_open(db_url, tmp_path)
    assert len(opened) == 4 and all(opened.values()), opened
    api.metadata.close()


def test_a_replica_with_another_signing_key_or_key_store_refuses_to_start(db_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    build_api(ServerSettings(home=first, db_url=db_url)).metadata.close()
    with pytest.raises(ConfigError, match=r"^audit signing key: this server's public key .* differs from"):
        build_api(ServerSettings(home=second, db_url=db_url))
    (second / "server").mkdir(parents=True, exist_ok=True)
    shutil.copy2(first / "server" / "audit-signing.key", second / "server" / "audit-signing.key")
    with pytest.raises(ConfigError, match=r"^key store: master-key-file:\w+ cannot open what the database's key"):
        build_api(ServerSettings(home=second, db_url=db_url))
    shutil.copy2(first / "server" / "master.key", second / "server" / "master.key")
    shutil.copytree(first / "server" / "master.participant-keys", second / "server" / "master.participant-keys")
    build_api(ServerSettings(home=second, db_url=db_url)).metadata.close()  # the same keys: it starts


def test_processes_starting_together_on_a_fresh_home_agree_on_one_set_of_keys(db_url: str, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from workprint.config import ServerSettings\n"
        "from workprint.server.serve import build_api\n"
        "api = build_api(ServerSettings(home=Path(sys.argv[1]), db_url=sys.argv[2]))\n"
        "print(bytes(api.audit_log.verify_key).hex(), api.keys.key_id)\n"
    )
    for attempt in range(3):
        home = tmp_path / f"home-{attempt}"
        url = db_url.replace("metadata.db", f"metadata-{attempt}.db")
        args = [sys.executable, "-c", code, str(home), url]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err.decode()[-300:] for _, err in outs]
        assert len({out for out, _ in outs}) == 1, outs
        if "metadata.db" not in db_url:
            break  # PostgreSQL: one database per test, so one round


def test_the_server_command_refuses_another_signing_key_in_one_line(db_url: str, tmp_path: Path) -> None:
    build_api(ServerSettings(home=tmp_path / "first", db_url=db_url)).metadata.close()
    env = {**os.environ, "WORKPRINT_HOME": str(tmp_path / "second")}
    proc = subprocess.run([sys.executable, "-m", "workprint.cli", "server", "--port", "0", "--db", db_url],
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: audit signing key: this server's public key ")


def test_a_participant_erased_while_a_rotation_runs_stays_erased_and_the_rotation_completes(
    db_url: str, tmp_path: Path
) -> None:
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url))
    ada, bob = api.create_participant("Ada"), api.create_participant("Bob")
    env = {**os.environ, "WORKPRINT_HOME": str(tmp_path), "WORKPRINT_FAULT_POINTS": "keys.listed=2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workprint.cli", "admin", "rotate-keys", "--db", db_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "fault keys.listed"  # Ada was listed with her key ...
    api.erase_participant(ada, actor="system:test")  # ... and is erased before it is re-wrapped
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "1 participant keys re-wrapped" in out
    assert api.participant(ada).erased and not (tmp_path / "server" / "master.key.next").exists()
    assert _all_open(db_url, tmp_path) == {bob: True}
    api.metadata.close()
