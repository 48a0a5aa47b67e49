"""The catalogue: schema from migrations, the audit chain, the access policy, ID numbers."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from records import audit, db
from records.catalogue import add_household, add_region, add_user, authenticate, document_type
from records.exceptions import Conflict, Invalid, NotFound
from records.idnumbers import is_valid, mask, mask_in_text
from records.model import Base, DocumentType, RegionLevel
from records.policy import Action, Principal, Role, decide


@pytest.fixture
def session(engine):
    with db.session_factory(engine)() as s:
        yield s


def test_migrations_build_exactly_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_document_types_are_seeded_with_the_domain_vocabulary(session):
    names = set(session.scalars(select(DocumentType.name_zh)))
    for required in ("申请书", "申报审批表", "入户调查表", "诚信承诺书", "户口簿复印件",
                     "身份证复印件", "收入证明"):
        assert required in names
    assert document_type(session, "申请书").code == "application"
    assert document_type(session, "income_certificate").name_zh == "收入证明"
    with pytest.raises(Invalid, match="unknown document type"):
        document_type(session, "菜谱")


def _events(engine, n=5):
    for i in range(n):
        audit.record(engine, audit.Event(actor="clerk", action="read_page", object_type="document",
                                         object_id=str(i), page=1))


def test_intact_audit_log_verifies(engine):
    _events(engine)
    result = audit.verify(engine)
    assert result.ok and result.events == 5


@pytest.mark.parametrize("tamper, bad", [
    ("UPDATE audit_event SET actor = 'someone-else' WHERE id = 3", 3),
    ("DELETE FROM audit_event WHERE id = 2", 3),
    ("UPDATE audit_event SET at = '2020-01-01T00:00:00.000000+00:00' WHERE id = 4", 4),
])
def test_altered_or_deleted_audit_event_is_named(engine, tamper, bad):
    _events(engine)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    result = audit.verify(engine)
    assert not result.ok
    assert result.first_bad == bad


def test_reordered_audit_events_are_detected(engine):
    _events(engine)
    with engine.begin() as conn:  # swap the positions of events 2 and 3
        conn.execute(text("UPDATE audit_event SET id = 1000 WHERE id = 2"))
        conn.execute(text("UPDATE audit_event SET id = 2 WHERE id = 3"))
        conn.execute(text("UPDATE audit_event SET id = 3 WHERE id = 1000"))
    result = audit.verify(engine)
    assert not result.ok and result.first_bad == 2


def test_truncated_audit_log_is_detected(engine):
    _events(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = 5"))
    result = audit.verify(engine)
    assert not result.ok and "removed" in result.reason


def test_region_level_follows_the_code_and_codes_nest(session):
    add_region(session, "220381", "示范县")
    township = add_region(session, "220381105", "东风镇")
    village = add_region(session, "220381105012", "红星村")
    assert township.level is RegionLevel.township and township.parent_code == "220381"
    assert village.level is RegionLevel.village and village.parent_code == "220381105"
    with pytest.raises(Invalid):
        add_region(session, "2203811", "七位")
    with pytest.raises(NotFound):
        add_region(session, "990000001", "无上级")
    with pytest.raises(Conflict):
        add_region(session, "220381", "again")


def test_household_numbers_are_unique_and_belong_to_their_village(session):
    add_region(session, "220381", "示范县")
    add_region(session, "220381105", "东风镇")
    add_region(session, "220381105012", "红星村")
    add_household(session, "220381105012-0042", "王德胜", "220381105012")
    with pytest.raises(Conflict):
        add_household(session, "220381105012-0042", "王德胜", "220381105012")
    with pytest.raises(Invalid, match="does not start"):
        add_household(session, "220381105013-0001", "李四", "220381105012")
    with pytest.raises(Invalid, match="must look like"):
        add_household(session, "42", "李四", "220381105012")


def test_passwords_are_hashed_with_argon2_and_checked(session):
    add_region(session, "220381", "示范县")
    user = add_user(session, "clerk", "correct horse", "staff", "220381")
    assert user.password_hash.startswith("$argon2")
    assert "correct horse" not in user.password_hash
    session.flush()
    assert authenticate(session, "clerk", "correct horse") is not None
    assert authenticate(session, "clerk", "wrong password") is None
    assert authenticate(session, "nobody", "correct horse") is None
    with pytest.raises(Invalid):
        add_user(session, "shorty", "short", "staff")
    with pytest.raises(ValueError, match="unknown role"):
        add_user(session, "x1", "long enough", "king")


EAST = "220381105"
EAST_VILLAGE = "220381105012"
WEST_VILLAGE = "220381106001"


@pytest.mark.parametrize("roles, region, action, where, allowed", [
    ({Role.staff}, EAST, Action.read_page, EAST_VILLAGE, True),
    ({Role.staff}, EAST, Action.read_page, WEST_VILLAGE, False),
    ({Role.staff}, EAST, Action.ingest, EAST_VILLAGE, False),
    ({Role.archivist}, "220381", Action.ingest, WEST_VILLAGE, True),
    ({Role.archivist}, EAST, Action.ingest, WEST_VILLAGE, False),
    ({Role.auditor}, None, Action.read_page, EAST_VILLAGE, False),
    ({Role.auditor}, None, Action.audit_view, None, True),
    ({Role.staff}, None, Action.audit_view, None, False),
    ({Role.administrator}, None, Action.read_page, EAST_VILLAGE, False),
    ({Role.operator}, None, Action.read_page, WEST_VILLAGE, True),
])
def test_policy_decides_by_role_and_jurisdiction(roles, region, action, where, allowed):
    who = Principal("u", frozenset(roles), region)
    assert bool(decide(who, action, where)) is allowed


def test_id_numbers_are_checked_and_masked():
    assert is_valid("11010519491231002X")
    assert not is_valid("110105194912310021")
    assert mask("220381198001011234") == "2203**********1234"
    masked = mask_in_text("身份证号 11010519491231002X，户号 220381105012-0042")
    assert "11010519491231002X" not in masked and "1101**********002X" in masked
    assert "220381105012-0042" in masked  # household numbers are not ID numbers


def test_id_numbers_as_ocr_writes_them_are_masked_too():
    # Tesseract splits long digit runs into words; some fonts come out full-width
    for written in ("110105 19491231 002X", "11010519491231002 X", "１１０１０５１９４９１２３１００２Ｘ"):
        masked = mask_in_text(f"公民身份号码 {written} 住址")
        assert "1101**********002X" in masked, written
        assert "19491231" not in masked.replace(" ", "") and "１９４９１２３１" not in masked
    # a date and an amount next to each other stay readable
    assert mask_in_text("2024年3月1日 1260元") == "2024年3月1日 1260元"
