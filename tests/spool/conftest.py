"""Fixtures for the spool tests."""

from __future__ import annotations

import pytest
from spool_helpers import make_identity

from workprint.segment import generate_keypair
from workprint.spool import SpoolIdentity


@pytest.fixture(scope="session")
def keypair() -> tuple[bytes, bytes]:
    return generate_keypair()


@pytest.fixture
def identity(keypair: tuple[bytes, bytes]) -> SpoolIdentity:
    return make_identity(keypair[1])
