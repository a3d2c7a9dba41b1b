"""The portal's account pages without a browser: a recovery is shown to the participant after they claim again."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from server_helpers import PASSWORD, admins, claim_account, claim_code

from workprint.server.api import ServerAPI
from workprint.server.claims import Claims


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_recovery_is_shown_on_the_account_page_after_the_participant_claims_again(
    api: ServerAPI, client: TestClient
) -> None:
    pid = api.create_participant("Dee")
    token = api.enroll(api.create_enrolment_code(pid), "dee-laptop").device_token
    claim_account(api, token, "dee")
    admin, _ = admins(api)
    Claims(api.identity).recover(admin, pid)
    r = client.post("/portal/login", data={"username": "dee", "password": PASSWORD,
                                           "csrf_token": _csrf(client.get("/portal/login").text)})  # fmt: skip
    assert r.status_code == 401  # the old password was revoked
    form = {"code": claim_code(api, token), "username": "dee", "password": "dee's own new password",
            "csrf_token": _csrf(client.get("/portal/claim").text)}  # fmt: skip
    r = client.post("/portal/claim", data=form, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/portal/account?claimed=1")
    page = html.unescape(client.get("/portal/account?claimed=1").text)
    assert "An admin (user:" in page and "reset your account on" in page and "you claimed it again on" in page
    assert page.count('<tr class="claim">') == 2  # the enrolment claim and the recovery
    assert re.search(r"<td>account\.recovery</td><td><code>user:", page), page


def test_a_claim_page_post_without_its_form_token_is_refused_before_the_code_is_used(
    api: ServerAPI, client: TestClient
) -> None:
    pid = api.create_participant("Eve")
    code = claim_code(api, api.enroll(api.create_enrolment_code(pid), "eve-laptop").device_token)
    r = client.post("/portal/claim", data={"code": code, "username": "eve", "password": PASSWORD})
    assert r.status_code == 403 and "csrf_token: missing" in html.unescape(r.text)
    assert Claims(api.identity).account_of(pid) is None
