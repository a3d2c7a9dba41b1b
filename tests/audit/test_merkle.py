"""The Merkle tree matches RFC 6962's recursive definition, and its proofs catch every kind of tampering."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from workprint.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def _reference_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the recursion it states."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


@given(st.integers(min_value=0, max_value=70))
def test_root_matches_the_rfc_recursion(n: int) -> None:
    assert root(_leaves(n)) == _reference_root(_leaves(n))


def test_known_answer_for_rfc_6962_empty_and_leaf_hashes() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(st.integers(min_value=1, max_value=40), st.data())
def test_every_leaf_has_a_verifying_inclusion_proof(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, leaves)
    assert verify_inclusion(leaves[i], i, n, proof, root(leaves))
    assert not verify_inclusion(leaf_hash(b"forged"), i, n, proof, root(leaves))
    if n > 1:
        assert not verify_inclusion(leaves[i], (i + 1) % n, n, proof, root(leaves))


@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs_verify_between_any_two_sizes(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, leaves)
    assert verify_consistency(m, n, root(leaves[:m]), root(leaves), proof)


@given(st.integers(min_value=2, max_value=30), st.data())
def test_consistency_fails_when_an_old_entry_changed(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    m = data.draw(st.integers(1, n - 1))
    j = data.draw(st.integers(0, m - 1))
    tampered = list(leaves)
    tampered[j] = leaf_hash(b"rewritten history")
    proof = consistency_proof(m, tampered)
    assert not verify_consistency(m, n, root(leaves[:m]), root(tampered), proof)


def test_removed_inserted_and_swapped_entries_break_consistency() -> None:
    leaves = _leaves(9)
    old_root = root(leaves[:6])
    for changed in (
        leaves[:2] + leaves[3:],  # removed
        leaves[:2] + [leaf_hash(b"inserted")] + leaves[2:],  # inserted
        [leaves[1], leaves[0], *leaves[2:]],  # swapped pair
    ):
        proof = consistency_proof(6, changed)
        assert not verify_consistency(6, len(changed), old_root, root(changed), proof)
