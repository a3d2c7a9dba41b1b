"""What the log and the JSON API show about other people: a participant covered by a grant over several sees no
one else's id (yet every entry still verifies with its proof), and auditors see no device names."""

from __future__ import annotations

import json

from server_helpers import Cast

from workprint.server.api import ServerAPI


def _grant_over_both(api: ServerAPI, people: Cast) -> str:
    ids = (people.ada.participant_id or "", people.bob.participant_id or "")
    g = api.access.request_grant(people.steward, "debugging a capture failure", "participants", ids, 3600)
    api.access.approve_grant(people.steward2, g.id)
    api.access.read_with_grant(people.steward, g.id, people.ada_segment)
    return g.id


def test_a_participant_sees_nobody_else_through_a_grant_over_several(api: ServerAPI, people: Cast) -> None:
    grant_id = _grant_over_both(api, people)
    ada, bob = people.ada.participant_id or "", people.bob.participant_id or ""
    grants = api.access.my_grants(people.ada)
    assert [g.id for g in grants] == [grant_id] and grants[0].participant_ids == (ada,)
    accesses = api.access.my_accesses(people.ada)
    assert {pe.entry.action for pe in accesses} == {"grant.request", "grant.approve", "segment.read"}
    shown = json.dumps([pe.entry.to_dict() for pe in accesses] + [g.participant_ids for g in grants])
    assert bob not in shown
    assert all(pe.verifies(api.audit_log.verify_key) for pe in accesses)
    # Bob, covered too, sees the grant decisions (not Ada's read) and not Ada's id.
    bobs = api.access.my_accesses(people.bob)
    assert {pe.entry.action for pe in bobs} == {"grant.request", "grant.approve"}
    assert ada not in json.dumps([pe.entry.to_dict() for pe in bobs])


def test_auditors_see_no_device_names(api: ServerAPI, people: Cast) -> None:
    entries = api.access.audit_entries(people.auditor)
    enrolments = [e for e in entries if e.action == "device.enroll"]
    assert len(enrolments) == 2
    assert "laptop" not in json.dumps([e.to_dict() for e in entries])


def test_no_name_sits_in_the_database_beside_anyone_s_activity(api: ServerAPI, people: Cast) -> None:
    from sqlalchemy import text

    from workprint.server.identity import Principal

    pid = api.create_participant("Grace Hopper")
    with api.metadata.engine.connect() as conn:  # what an insider with database access reads, every table
        tables = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table'" if api.metadata.backend == "sqlite"
            else "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ))]  # fmt: skip
        dump = "".join(str(conn.execute(text(f'SELECT * FROM "{t}"')).all()) for t in tables)
    assert "Grace" not in dump and "Hopper" not in dump
    admin = Principal.system("test", "admin")
    assert api.participant_name(pid, actor=admin.actor) == "Grace Hopper"
    assert api.audit_log.entries()[-1].action == "participant.name"  # reading a name is audited
    # A segment of a participant created this way still opens: the key is the first 32 bytes of what is wrapped.
    assert api.read_segment("test", people.ada_segment).events
    api.erase_participant(pid, actor=admin.actor)
    assert api.participant_name(pid, actor=admin.actor) == ""  # erasure forgets the name with the key
