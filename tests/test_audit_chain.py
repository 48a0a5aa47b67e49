"""The audit log an insider cannot rewrite: keyed links, every field covered, the switch from
plain links, re-keying after a rotation, the head, and anchors kept outside the system.

Real parts: the migrations on a SQLite file, ``records.audit`` with chain keys made as the
archive makes them (HKDF from a master key), and the ``hudang`` command for anchors.
"""
from __future__ import annotations

import json
import shutil

import pg_support
import pytest
from sqlalchemy import text

from records import audit, db
from storage import KeyPurpose, MasterKey


def chain_key(master: MasterKey) -> audit.ChainKey:
    return audit.ChainKey(master.fingerprint(), master.derive(KeyPurpose.audit_chain))


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


def reading(i: int) -> audit.Event:
    return audit.Event(actor="clerk", action="read_page", object_type="document",
                       object_id=str(i), household="220381105012-0042", page=1, purpose="审核",
                       detail={"note": f"reading {i}"})


def keyed_log(engine, master, n=6) -> None:
    for i in range(n):
        audit.record(engine, reading(i), chain_key(master))


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_event ORDER BY id"))
                .mappings()]


def rewrite_as_insider(engine, event_id: int, column: str, value) -> None:
    """Alter one event, then recompute every later link and the head with the published
    algorithm (plain SHA-256, the only one an insider without the key can compute)."""
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_event SET {column} = :v WHERE id = :id"),
                     {"v": value, "id": event_id})
        prev = None
        for row in conn.execute(text("SELECT * FROM audit_event ORDER BY id")).mappings():
            row = dict(row)
            if row["id"] < event_id:
                prev = row["hash"]
                continue
            row["prev_hash"] = prev
            row["hash"] = audit.event_hash(row)
            conn.execute(text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :id"),
                         {"p": row["prev_hash"], "h": row["hash"], "id": row["id"]})
            prev = row["hash"]
        conn.execute(text("UPDATE audit_head SET last_hash = :h"), {"h": prev})


def test_a_keyed_log_verifies_with_its_key(engine, master):
    keyed_log(engine, master)
    result = audit.verify(engine, {master.fingerprint(): master.derive(KeyPurpose.audit_chain)})
    assert result.ok, result.reason
    # the first keyed append switched the log: an audit_keyed event, then the six readings
    assert result.events == 7 and result.keyed_from == 1 and result.legacy == 0
    assert {r["scheme"] for r in rows(engine)} == {audit.KEYED}


@pytest.mark.parametrize("column, value", [
    ("outcome", "allowed"), ("purpose", "复核"), ("detail", '{"note": "nothing to see"}'),
    ("actor", "someone-else"), ("at", "2020-01-01T00:00:00.000000+00:00"),
    ("object_id", "999"), ("household", "220381105012-0001"), ("page", 7),
    ("action", "search"), ("object_type", "page"),
])
def test_every_field_of_an_event_is_covered_by_its_keyed_link(engine, master, column, value):
    keys = {master.fingerprint(): master.derive(KeyPurpose.audit_chain)}
    audit.record(engine, audit.Event(actor="clerk", action="read_page", outcome=audit.REFUSED,
                                     object_type="document", object_id="3", page=1,
                                     household="220381105012-0042", purpose="审核",
                                     detail={"reason": "outside jurisdiction"}),
                 chain_key(master))
    keyed_log(engine, master, 3)
    with engine.begin() as conn:  # event 2 is the refusal (event 1 switched the log)
        conn.execute(text(f"UPDATE audit_event SET {column} = :v WHERE id = 2"), {"v": value})
    result = audit.verify(engine, keys)
    assert not result.ok and result.first_bad == 2, result
    assert "event 2 was altered" in result.reason
    # and recomputing every later link without the key does not help
    rewrite_as_insider(engine, 2, column, value)
    result = audit.verify(engine, keys)
    assert not result.ok and result.first_bad == 2, result


def test_turning_the_keyed_part_back_into_plain_links_is_caught(engine, master):
    keyed_log(engine, master)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET scheme = 'sha256', key_id = NULL WHERE id >= 3"))
    rewrite_as_insider(engine, 3, "actor", "someone-else")
    result = audit.verify(engine, {master.fingerprint(): master.derive(KeyPurpose.audit_chain)})
    assert not result.ok and result.first_bad == 3
    assert "unkeyed link" in result.reason


def test_cutting_events_off_the_end_is_caught_by_the_keyed_head(engine, master):
    keyed_log(engine, master)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id > 5"))
        last = conn.execute(text("SELECT hash FROM audit_event WHERE id = 5")).scalar()
        conn.execute(text("UPDATE audit_head SET last_id = 5, last_hash = :h"), {"h": last})
    result = audit.verify(engine, {master.fingerprint(): master.derive(KeyPurpose.audit_chain)})
    assert not result.ok and "head was altered" in result.reason


def test_a_plain_log_is_switched_once_and_its_old_events_stay_checked(engine, master):
    for i in range(4):  # written by an older hudang: plain SHA-256 links
        audit.record(engine, reading(i))
    keyed_log(engine, master, 2)
    keys = {master.fingerprint(): master.derive(KeyPurpose.audit_chain)}
    result = audit.verify(engine, keys)
    assert result.ok and result.legacy == 4 and result.keyed_from == 5
    switch = rows(engine)[4]
    assert switch["action"] == audit.KEYED_ACTION
    assert json.loads(switch["detail"])["legacy_events"] == 4
    with pytest.raises(audit.ChainKeyError):  # once keyed, never a plain link again
        audit.record(engine, reading(9))
    # an insider rewrites a plain event and recomputes the plain links up to the switch
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET outcome = 'allowed', actor = 'x' WHERE id = 2"))
        prev = conn.execute(text("SELECT hash FROM audit_event WHERE id = 1")).scalar()
        for row in conn.execute(text("SELECT * FROM audit_event WHERE id BETWEEN 2 AND 4 "
                                     "ORDER BY id")).mappings():
            row = {**row, "prev_hash": prev}
            prev = audit.event_hash(row)
            conn.execute(text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :i"),
                         {"p": row["prev_hash"], "h": prev, "i": row["id"]})
    result = audit.verify(engine, keys)
    assert not result.ok and result.first_bad == 5  # the switch attested events 1-4
    assert "events 1-4" in result.reason


def test_rekeying_keeps_history_and_old_links_stay_checkable_without_the_old_key(engine):
    old, new = MasterKey.generate(), MasterKey.generate()
    keyed_log(engine, old, 3)
    assert audit.rekey(engine, chain_key(new), audit.Event(actor="op", action="audit_rekey"))
    assert audit.rekey(engine, chain_key(new), audit.Event(actor="op", action="audit_rekey")) \
        is None  # a resumed rotation does not re-key twice
    with pytest.raises(audit.StaleChainKey):  # a process still holding the old key
        audit.record(engine, reading(7), chain_key(old))
    keyed_log(engine, new, 2)
    both = {k.fingerprint(): k.derive(KeyPurpose.audit_chain) for k in (old, new)}
    assert audit.verify(engine, both).ok
    # the old key retired and removed: its links are checked through the re-keying's
    # attestation, as a whole
    only_new = {new.fingerprint(): new.derive(KeyPurpose.audit_chain)}
    result = audit.verify(engine, only_new)
    assert result.ok and result.attested_only == 4
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET purpose = '其他' WHERE id = 2"))
    result = audit.verify(engine, only_new)
    assert not result.ok and result.first_bad == 5 and "events 1-4" in result.reason
    assert audit.verify(engine, both).first_bad == 2  # with the old key at hand: the event


def test_anchor_lines_round_trip_and_a_malformed_one_is_refused():
    line = audit.Anchor(12, "0123456789abcdef", "2026-11-30").line()
    assert line == "hudang-anchor:v1:12:0123456789abcdef:2026-11-30"
    assert audit.Anchor.parse(line + "\n") == audit.Anchor(12, "0123456789abcdef", "2026-11-30")
    from records.exceptions import Invalid

    for bad in ("hudang-anchor:v2:12:0123456789abcdef:2026-11-30", "12:abc", ""):
        with pytest.raises(Invalid):
            audit.Anchor.parse(bad)


# -- through the command line: an office's anchor, and a database rolled back -------------------
@pytest.fixture
def cli(tmp_path, no_hudang_env):
    """``hudang`` in-process (click's runner) on a fresh archive with one village."""
    from click.testing import CliRunner

    from web.cli import main

    base = ["--home", str(tmp_path / "home"), "--key-file", str(tmp_path / "keys" / "master.key")]
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, [*base, *args], input=input)

    assert run("init").exit_code == 0
    for code, name in (("220381", "示范县"), ("220381105", "东风镇"), ("220381105012", "红星村")):
        assert run("region", "add", code, name).exit_code == 0
    run.home = tmp_path / "home"
    return run


@pytest.mark.skipif(pg_support.enabled(), reason="copies the SQLite file (on PostgreSQL a "
                    "rollback is a restore, tested in test_backup.py)")
def test_a_database_rolled_back_to_an_older_copy_fails_the_anchor(cli, tmp_path):
    older = tmp_path / "older.sqlite"
    shutil.copy(cli.home / "catalogue.sqlite", older)  # an insider's copy from before
    assert cli("household", "add", "220381105012-0042", "--head", "王德胜",
               "--region", "220381105012").exit_code == 0
    anchored = cli("audit", "anchor")
    assert anchored.exit_code == 0, anchored.output
    line = anchored.stdout.strip()
    assert line.startswith("hudang-anchor:v1:")
    held = cli("audit", "verify", "--anchor", line)
    assert held.exit_code == 0 and "holds all 1 anchors" in held.stdout
    # the whole database rolled back: its own chain is intact, the anchor is not in it
    shutil.copy(older, cli.home / "catalogue.sqlite")
    for suffix in ("-wal", "-shm"):
        (cli.home / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    assert cli("audit", "verify").exit_code == 0
    lost = cli("audit", "verify", "--anchor", line)
    assert lost.exit_code == 5
    assert "rolled back" in lost.stderr
    malformed = cli("audit", "verify", "--anchor", "hudang-anchor:v1:x")
    assert malformed.exit_code == 2 and "is not an anchor line" in malformed.stderr


def test_the_cli_names_the_event_an_insider_rewrote(cli):
    assert cli("household", "add", "220381105012-0042", "--head", "王德胜",
               "--region", "220381105012").exit_code == 0
    from conftest import catalogue_url

    engine = db.make_engine(catalogue_url(cli.home))
    try:
        rewrite_as_insider(engine, 3, "outcome", "refused")
    finally:
        engine.dispose()
    broken = cli("audit", "verify")
    assert broken.exit_code == 5
    assert "event 3" in broken.stderr
