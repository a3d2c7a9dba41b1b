"""Sign-in and enrolment limits, per address and per (address, account): spraying is limited, the right password of
a user whose name is being hammered from elsewhere still signs in, and a correct password costs nothing."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from server_helpers import PASSWORD, Cast

from workprint.server.api import ServerAPI
from workprint.server.app import create_app
from workprint.server.identity import Principal
from workprint.server.ratelimit import RateLimits
from workprint.server.signin import client_address

ROOT = Principal.system("test", "admin")
WRONG = "wrong password!"


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(address, 50000))


def _login(c: TestClient, username: str, password: str, *, portal: bool = False) -> int:
    if portal:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/portal/login").text)
        assert token is not None
        form = {"username": username, "password": password, "csrf_token": token.group(1)}
        return c.post("/portal/login", data=form, follow_redirects=False).status_code
    return c.post("/v1/login", json={"username": username, "password": password}).status_code


def test_spraying_one_password_across_many_names_from_one_address_is_limited(api: ServerAPI, people: Cast) -> None:
    app = create_app(api)
    sprayer = _from(app, "203.0.113.7")
    statuses = [_login(sprayer, f"user{i}", WRONG) for i in range(31)]
    assert statuses == [401] * 30 + [429]
    r = sprayer.post("/v1/login", json={"username": "ada", "password": WRONG})
    assert r.json()["error"]["message"].startswith("rate limit: too many requests for login from this address; retry")
    assert _login(_from(app, "198.51.100.2"), "ada", PASSWORD) == 200  # another address is not concerned
    limited = [e for e in api.metadata.audit_entries() if e.action == "login.limited"]
    assert [(e.actor, e.detail) for e in limited] == [("public", {"limit": "address"})]  # once per run of refusals


def test_hammering_a_name_from_other_addresses_cannot_lock_out_its_owners_right_password(
    api: ServerAPI, people: Cast
) -> None:
    app = create_app(api)
    for n in range(1, 4):
        attacker = _from(app, f"203.0.113.{n}")
        assert [_login(attacker, "ada", WRONG) for _ in range(12)] == [401] * 10 + [429] * 2
        assert _login(attacker, "ada", PASSWORD) == 429  # the address that failed is limited, right password or not
    owner = _from(app, "198.51.100.20")
    assert _login(owner, "ada", PASSWORD) == 200
    assert _login(owner, "ada", PASSWORD, portal=True) == 303
    limited = [e for e in api.metadata.audit_entries() if e.action == "login.limited"]
    ada = api.identity.accounts.user_by_name("ada")
    assert ada is not None
    assert {(e.subject, e.detail["limit"]) for e in limited} == {(f"user:{ada.id}", "address and account")}
    assert len(limited) == 3 and "ada" not in str([e.to_dict() for e in limited])


def test_correct_passwords_cost_nothing_and_failures_count_at_both_doors(api: ServerAPI, people: Cast) -> None:
    app = create_app(api, limits=RateLimits(login_rate=0.01, login_burst=4))
    office = _from(app, "192.0.2.10")
    assert {_login(office, "ada", PASSWORD) for _ in range(12)} == {200}
    assert [_login(office, "bob", WRONG), _login(office, "bob", WRONG, portal=True)] == [401, 401]
    assert [_login(office, "bob", WRONG, portal=True), _login(office, "bob", WRONG)] == [401, 401]
    assert _login(office, "bob", PASSWORD, portal=True) == 429  # four failures, through either door, fill the bucket


def test_enrolment_is_limited_per_address_and_a_valid_code_costs_nothing(api: ServerAPI) -> None:
    app = create_app(api, limits=RateLimits(enrol_rate=0.01, enrol_burst=3))
    pid = api.create_participant("Ada")
    office = _from(app, "192.0.2.10")
    for i in range(5):  # one office enrols many devices
        r = office.post("/v1/enroll", json={"code": api.create_enrolment_code(pid), "device_name": f"pc{i}"})
        assert r.status_code == 201, r.text
    guesser = _from(app, "203.0.113.9")
    guesses = [guesser.post("/v1/enroll", json={"code": f"GUESS-{i}", "device_name": "x"}) for i in range(4)]
    assert [r.status_code for r in guesses] == [401, 401, 401, 429]
    assert guesses[-1].json()["error"]["message"].startswith("rate limit: too many requests for enrolment; retry")
    r = office.post("/v1/enroll", json={"code": api.create_enrolment_code(pid), "device_name": "pc9"})
    assert r.status_code == 201


def test_addresses_count_as_the_caller_holds_them() -> None:
    from starlette.requests import Request

    def of(host: str) -> str:
        return client_address(Request({"type": "http", "client": (host, 1), "headers": []}))

    assert of("203.0.113.7") == "203.0.113.7"
    assert of("2001:db8:1:2:3:4:5:6") == of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert of("::ffff:203.0.113.7") == "203.0.113.7"
