"""The verifier rejects a flipped bit, a deleted, inserted or swapped entry, and a rolled-back checkpoint."""

from __future__ import annotations

from nacl.signing import SigningKey

from workprint.audit.checkpoint import Checkpoint, entry_bytes, make_checkpoint, verify_log
from workprint.audit.merkle import leaf_hash

KEY = SigningKey.generate()


def _log(n: int) -> list[bytes]:
    return [
        entry_bytes({"seq": i, "actor": "steward:7", "action": "read_segment", "subject": f"s{i}"}) for i in range(n)
    ]


def _checkpoints(entries: list[bytes], sizes: tuple[int, ...]) -> list[Checkpoint]:
    return [make_checkpoint([leaf_hash(e) for e in entries[:s]], 1000 + s, KEY) for s in sizes]


def test_an_untouched_log_verifies() -> None:
    entries = _log(20)
    result = verify_log(entries, _checkpoints(entries, (3, 8, 8, 20)), KEY.verify_key)
    assert result.ok, result.problems


def test_a_flipped_bit_is_found() -> None:
    entries = _log(20)
    cps = _checkpoints(entries, (5, 20))
    tampered = list(entries)
    tampered[2] = bytes([tampered[2][0] ^ 1]) + tampered[2][1:]
    assert not verify_log(tampered, cps, KEY.verify_key).ok


def test_deleted_inserted_and_swapped_entries_are_found() -> None:
    entries = _log(20)
    cps = _checkpoints(entries, (5, 12, 20))
    for tampered in (
        entries[:7] + entries[8:],
        entries[:7] + [entry_bytes({"seq": 99})] + entries[7:],
        entries[:3] + [entries[4], entries[3]] + entries[5:],
    ):
        result = verify_log(tampered, cps, KEY.verify_key)
        assert not result.ok


def test_a_rolled_back_checkpoint_is_found() -> None:
    entries = _log(20)
    cps = _checkpoints(entries, (12, 20))
    older = make_checkpoint([leaf_hash(e) for e in entries[:10]], 5000, KEY)
    result = verify_log(entries, [*cps, older], KEY.verify_key)
    assert any("rolled back" in p for p in result.problems)


def test_a_forged_signature_is_found() -> None:
    entries = _log(6)
    cp = _checkpoints(entries, (6,))[0]
    forged = Checkpoint(cp.size, cp.root, cp.at_ns, SigningKey.generate().sign(cp.signed_bytes()).signature.hex())
    assert verify_log(entries, [forged], KEY.verify_key).problems == ("checkpoint 0 (size 6): bad signature",)
