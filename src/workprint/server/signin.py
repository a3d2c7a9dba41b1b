"""Limits on password sign-in and enrolment: per network address and per (address, account), counting failures.

A limit per account name alone lets anyone lock its owner out by failing on purpose, and lets one address spray a
password across every name. So, as mature services do, failed sign-ins are counted per (address, account) and per
address: a correct password costs nothing (its token is given back), and it is refused only when its own address has
failed too often, never because of failures from other addresses. IPv6 addresses count by their /64, the block one
subscriber usually holds. The first refusal of a run is audited (``login.limited``), not every one, so a flood
cannot flood the log. Enrolment attempts are limited per address the same way.

Addresses are the connection's peer as uvicorn reports it; behind a reverse proxy, let uvicorn trust the proxy's
``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``) or every caller shares the proxy's address.
"""

from __future__ import annotations

import ipaddress

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from workprint.server.auth import api_of, limiter_of
from workprint.server.identity import Session
from workprint.server.ratelimit import Bucket, RateLimited

__all__ = ["client_address", "enrolment_done", "limit_enrolment", "sign_in"]


def client_address(request: Request) -> str:
    """The caller's address, IPv6 as its /64 network."""
    host = request.client.host if request.client else "-"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        return str(mapped) if mapped is not None else str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


def _login_buckets(request: Request, username: str) -> list[Bucket]:
    _, limits = limiter_of(request)
    address = client_address(request)
    return [
        (f"login:{address}:{username.strip().lower()}", limits.login_rate, limits.login_burst),
        (f"login from this address:{address}", limits.login_address_rate, limits.login_address_burst),
    ]


async def sign_in(request: Request, username: str, password: str) -> Session:
    """``Identity.login`` within the limits; ``RateLimited`` (429) when this address failed too often."""
    limiter, _ = limiter_of(request)
    buckets = _login_buckets(request, username)
    identity = api_of(request).identity
    try:
        limiter.take_all(buckets)
    except RateLimited as exc:
        if exc.first:
            limit = "address and account" if exc.key.startswith("login:") else "address"
            await run_in_threadpool(identity.note_limited, username, limit)
        raise
    session = await run_in_threadpool(identity.login, username, password)
    limiter.give_back(buckets)  # only failures count
    return session


def _enrol_buckets(request: Request) -> list[Bucket]:
    _, limits = limiter_of(request)
    return [(f"enrolment:{client_address(request)}", limits.enrol_rate, limits.enrol_burst)]


def limit_enrolment(request: Request) -> None:
    """Take an enrolment attempt of this address (``RateLimited`` when it failed too often)."""
    limiter_of(request)[0].take_all(_enrol_buckets(request))


def enrolment_done(request: Request) -> None:
    """Give the attempt back: a valid code costs nothing, so one office can enrol many devices."""
    limiter_of(request)[0].give_back(_enrol_buckets(request))
