"""Deny by default: own data only, grants approved by a second steward and shown to the participant, each read
audited; researchers, auditors and admins see only what their role allows."""

from __future__ import annotations

import pytest
from server_helpers import Cast, Clock

from workprint.errors import Conflict, Forbidden, NotFound
from workprint.server.api import ServerAPI

PURPOSE = "debug the scroll reducer on real data"


def test_a_participant_lists_and_reads_only_their_own_segments(api: ServerAPI, people: Cast) -> None:
    assert [r.id for r in api.access.my_segments(people.ada)] == [people.ada_segment]
    seg = api.access.read_my_segment(people.ada, people.ada_segment)
    assert seg.header.participant == people.ada.participant_id
    last = api.metadata.audit_entries()[-1]
    assert (last.actor, last.action, last.subject) == (
        people.ada.actor,
        "segment.read",
        f"segment:{people.ada_segment}",
    )
    with pytest.raises(NotFound, match=f"segment '{people.bob_segment}': not found"):
        api.access.read_my_segment(people.ada, people.bob_segment)


@pytest.mark.parametrize("role", ["steward", "researcher", "auditor", "admin"])
def test_no_other_role_reads_raw_data_without_a_grant(api: ServerAPI, people: Cast, role: str) -> None:
    who = getattr(people, role)
    before = len(api.metadata.audit_entries())
    with pytest.raises(Forbidden, match="requires the participant role"):
        api.access.read_my_segment(who, people.ada_segment)
    with pytest.raises(Forbidden):
        api.access.my_segments(who)
    assert len(api.metadata.audit_entries()) == before


def test_a_grant_needs_a_second_steward_and_then_each_read_is_audited(api: ServerAPI, people: Cast) -> None:
    ada = people.ada.participant_id
    assert ada is not None
    g = api.access.request_grant(people.steward, PURPOSE, "participants", (ada,), 1800)
    with pytest.raises(Forbidden, match="not approved, expired or revoked"):
        api.access.read_with_grant(people.steward, g.id, people.ada_segment)
    with pytest.raises(Forbidden, match="the requester cannot approve their own grant"):
        api.access.approve_grant(people.steward, g.id)
    with pytest.raises(Forbidden, match="requires the steward role"):
        api.access.approve_grant(people.admin, g.id)
    approved = api.access.approve_grant(people.steward2, g.id)
    assert approved.approver_id == people.steward2.id and approved.expires_at == approved.approved_at + 1800 * 10**9
    with pytest.raises(Conflict):
        api.access.approve_grant(people.steward2, g.id)
    assert [r.id for r in api.access.grant_segments(people.steward, g.id)] == [people.ada_segment]
    seg = api.access.read_with_grant(people.steward, g.id, people.ada_segment)
    assert seg.header.participant == ada
    last = api.metadata.audit_entries()[-1]
    assert (last.actor, last.action, last.detail["grant_id"]) == (people.steward.actor, "segment.read", g.id)
    with pytest.raises(NotFound, match="not found within grant"):
        api.access.read_with_grant(people.steward, g.id, people.bob_segment)  # outside the grant's scope
    with pytest.raises(NotFound, match="not found among your grants"):
        api.access.read_with_grant(people.steward2, g.id, people.ada_segment)  # the approver cannot use it


def test_a_grant_expires_after_its_time_limit(api: ServerAPI, people: Cast, clock: Clock) -> None:
    g = api.access.request_grant(people.steward, PURPOSE, "program", (), 3600)
    api.access.approve_grant(people.steward2, g.id)
    api.access.read_with_grant(people.steward, g.id, people.bob_segment)
    clock.advance(3600)
    with pytest.raises(Forbidden, match="not approved, expired or revoked"):
        api.access.read_with_grant(people.steward, g.id, people.bob_segment)


def test_grants_longer_than_four_hours_are_refused(api: ServerAPI, people: Cast) -> None:
    with pytest.raises(Exception, match="duration_s: expected 60 to 14400 seconds, got 14401"):
        api.access.request_grant(people.steward, PURPOSE, "program", (), 4 * 3600 + 1)


def test_participants_see_grants_and_accesses_touching_them_with_verifying_proofs(
    api: ServerAPI, people: Cast, clock: Clock
) -> None:
    ada, bob = people.ada.participant_id, people.bob.participant_id
    assert ada is not None and bob is not None
    only_bob = api.access.request_grant(people.steward, PURPOSE, "participants", (bob,))
    api.access.approve_grant(people.steward2, only_bob.id)
    api.access.read_with_grant(people.steward, only_bob.id, people.bob_segment)
    clock.advance(1)
    program = api.access.request_grant(people.steward, PURPOSE, "program")
    assert [g.id for g in api.access.my_grants(people.ada)] == [program.id]
    assert [g.id for g in api.access.my_grants(people.bob)] == [only_bob.id, program.id]
    seen = api.access.my_accesses(people.bob)
    assert [(p.entry.action, p.entry.subject) for p in seen] == [
        ("grant.request", f"grant:{only_bob.id}"),
        ("grant.approve", f"grant:{only_bob.id}"),
        ("segment.read", f"segment:{people.bob_segment}"),
        ("grant.request", f"grant:{program.id}"),
    ]
    assert all(p.verifies(api.audit_log.verify_key) for p in seen)
    assert [p.entry.action for p in api.access.my_accesses(people.ada)] == ["grant.request"]
    forged = seen[2].entry.__class__(**{**seen[2].entry.to_dict(), "actor": "steward:someone-else"})
    assert (
        not seen[2]
        .__class__(forged, seen[2].index, seen[2].proof, seen[2].checkpoint)
        .verifies(api.audit_log.verify_key)
    )


def test_researchers_auditors_and_admins_stay_in_their_lanes(api: ServerAPI, people: Cast) -> None:
    assert api.access.releases(people.researcher) == []
    assert api.access.audit_entries(people.auditor)
    assert api.access.verify(people.auditor).ok
    for who in (people.researcher, people.admin, people.steward, people.ada):
        with pytest.raises(Forbidden, match="requires the auditor role"):
            api.access.audit_entries(who)
    for who in (people.auditor, people.admin, people.ada):
        with pytest.raises(Forbidden, match="requires the researcher role"):
            api.access.releases(who)
        with pytest.raises(Forbidden, match="requires the steward role"):
            api.access.grants(who)
    pid = api.access.create_participant(people.admin, "Cy")
    assert api.access.create_enrolment_code(people.admin, pid)
    with pytest.raises(Forbidden, match="requires the admin role"):
        api.access.create_participant(people.auditor, "Di")
