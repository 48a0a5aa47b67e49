"""Households and their history (issue 13): the CSV import with bad rows and its re-import,
members sealed and shown masked, status changes (停发, 增发, 减发, 停保, 恢复) with the stop
date that starts the retention clock, and the three doors (browser, command line, JSON)
to the same services.

Real parts: a SQLite catalogue built by the migrations, real CSV files (UTF-8 and the
GB18030 a Chinese Excel writes), the app through Flask's test client, the ``hudang``
command tree through click's runner.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from records.catalogue import add_user
from records.households import Change, replay
from records.idnumbers import check_digit, mask
from records.model import (AuditEvent, Household, HouseholdCertificate, HouseholdMember,
                           HouseholdStatus, StatusChange, StatusEvent)
from records.problems import Problems
from tests.conftest import make_archive
from web.cli import main

PASSWORD = "Households-test-7"
VILLAGE = "220381105012"


def idn(first17: str) -> str:
    return first17 + check_digit(first17)


HEAD = idn("22038119700101001")
WIFE = idn("22038119720202002")
SON = idn("22038120050303003")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("households")
    archive = make_archive(root)
    from records.catalogue import add_region

    with archive.Session() as s, s.begin():
        add_region(s, "220381106", "西山镇")
        add_region(s, "220381106003", "青石村")
        add_user(s, "archivist", PASSWORD, "archivist")
        add_user(s, "clerk", PASSWORD, "staff", "220381105")
        add_user(s, "far-archivist", PASSWORD, "archivist", "220381106")
        add_user(s, "near-archivist", PASSWORD, "archivist", "220381105")
    yield {"archive": archive, "root": root}
    archive.close()


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=world["archive"])


def client_as(app, user: str):
    client = app.test_client()
    assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
    return client


def cli(world, *args, input=None):
    archive = world["archive"]
    base = ["--home", str(archive.settings.home), "--key-file",
            str(archive.settings.master_key_file)]
    return CliRunner().invoke(main, [*base, *args], input=input)


def last_event_id(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def events_since(archive, after: int, action: str | None = None) -> list[AuditEvent]:
    with archive.Session() as s:
        q = select(AuditEvent).where(AuditEvent.id > after)
        if action:
            q = q.where(AuditEvent.action == action)
        return list(s.scalars(q.order_by(AuditEvent.id)))


# -- the rules of status changes -------------------------------------------------------
D = date(2025, 1, 1)


def test_a_stop_sets_the_stop_date_a_later_stop_corrects_it_and_resume_clears_it():
    suspended = replay([Change(StatusChange.suspend, D)])
    assert suspended.status is HouseholdStatus.suspended and suspended.stop_date is None
    stopped = replay([Change(StatusChange.suspend, D), Change(StatusChange.stop, D + timedelta(30))])
    assert stopped.status is HouseholdStatus.stopped
    assert stopped.stop_date == D + timedelta(30)
    corrected = replay([Change(StatusChange.stop, D), Change(StatusChange.stop, D + timedelta(3))])
    assert corrected.stop_date == D + timedelta(3)
    resumed = replay([Change(StatusChange.stop, D), Change(StatusChange.resume, D + timedelta(60))])
    assert resumed.status is HouseholdStatus.active and resumed.stop_date is None
    # events are replayed by date, whatever order they were typed in
    late_typed = replay([Change(StatusChange.resume, D + timedelta(60), 1),
                         Change(StatusChange.stop, D, 2)])
    assert late_typed.status is HouseholdStatus.active


@pytest.mark.parametrize("changes, sentence", [
    ([StatusChange.resume], "was 在保, so 恢复 cannot be recorded"),
    ([StatusChange.stop, StatusChange.increase], "was 停保, so 增发 cannot be recorded"),
    ([StatusChange.suspend, StatusChange.decrease], "was 停发, so 减发 cannot be recorded"),
    ([StatusChange.suspend, StatusChange.suspend], "was 停发, so 停发 cannot be recorded"),
])
def test_a_change_that_cannot_follow_is_refused_with_a_sentence(changes, sentence):
    with pytest.raises(Problems, match=sentence):
        replay([Change(c, D + timedelta(i), i) for i, c in enumerate(changes)])


# -- importing a CSV ---------------------------------------------------------------------
HEADER = "户号,户主姓名,户主身份证号,家庭成员,住址,城乡,分类,低保证号,状态,状态日期,纳入日期"
GOOD_1 = (f"{VILLAGE}-0101,张三,{HEAD},李梅/配偶/{WIFE}；张小明/子女/{SON},红星村一组,农村,一类,"
          "DB0101,在保,,2023-05-01")
GOOD_2 = f"{VILLAGE}-0102,李四,,,红星村二组,城市,三类,,停保,2025-06-30,2020-01-01"
BAD_ROWS = [
    (f"{VILLAGE}-0103,,,,,,,,,,", "户主姓名", "the name is empty"),
    (f"{VILLAGE}-0104,王五,{HEAD[:-1]}9,,,,,,,,", "户主身份证号", "not a valid ID number"),
    (f"{VILLAGE}-0105,赵六,,王/配偶/123;,,,,,,,", "家庭成员", "member 1"),
    ("220381105099-0001,钱七,,,,,,,,,", "户号", "there is no village 220381105099"),
    (f"{VILLAGE}-0101,张三,,,,,,,,,", "户号", "is already in row 2"),
    ("2203811050-0009,孙八,,,,,,,,,", "户号", "is not a household number"),
    (f"{VILLAGE}-0106,周九,,,,城郊,,,,,", "城乡", "urban or rural must be"),
    (f"{VILLAGE}-0107,吴十,,,,,四类,,,,", "分类", "review class must be"),
    (f"{VILLAGE}-0108,郑一,,,,,,,停发,,", "状态日期", "needs the date"),
    (f"{VILLAGE}-0109,冯二,,,,,,,,,2024-13-01", "纳入日期", "is not a date"),
    ("220381106003-0001,陈三,,,,,,,,,", "户号", "outside your jurisdiction"),
]


def write_csv(path, rows, encoding="utf-8"):
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding=encoding)
    return path


def snapshot(archive) -> dict:
    """Everything the catalogue keeps about households, sealed bytes included."""
    with archive.Session() as s:
        return {
            "households": [tuple(getattr(h, c.key) for c in Household.__table__.columns)
                           for h in s.scalars(select(Household).order_by(Household.id))],
            "members": [tuple(getattr(m, c.key) for c in HouseholdMember.__table__.columns)
                        for m in s.scalars(select(HouseholdMember).order_by(HouseholdMember.id))],
            "events": [tuple(getattr(e, c.key) for c in StatusEvent.__table__.columns)
                       for e in s.scalars(select(StatusEvent).order_by(StatusEvent.id))],
            "certificates": [(c.household_id, c.certificate_no_index)
                             for c in s.scalars(select(HouseholdCertificate))],
        }


def test_import_reports_each_bad_row_in_one_sentence_and_keeps_the_good_ones(world, tmp_path):
    archive = world["archive"]
    rows = [GOOD_1, GOOD_2, *(r for r, _, _ in BAD_ROWS)]
    path = write_csv(tmp_path / "花名册.csv", rows)
    result = cli(world, "household", "import", str(path), "--as", "near-archivist")
    assert result.exit_code == 2  # some rows were refused
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(problems) == len(BAD_ROWS)  # one sentence per bad row, in row order
    for line, (_, column, words), row in zip(problems, BAD_ROWS, range(4, 4 + len(BAD_ROWS))):
        assert line.startswith(f"花名册.csv: row {row}, column {column}: "), line
        assert words in line, line
    assert HEAD not in result.output and HEAD[:-1] + "9" not in result.output
    assert "2 created, 0 updated, 0 unchanged, 11 rows refused" in result.stdout
    with archive.Session() as s:
        zhang = s.scalar(select(Household).where(Household.number == f"{VILLAGE}-0101"))
        assert (zhang.head_name, zhang.review_class, zhang.area.value, zhang.address,
                zhang.enrolled_on) == ("张三", 1, "rural", "红星村一组", date(2023, 5, 1))
        assert [(m.name, m.relation) for m in zhang.members] == [("李梅", "配偶"),
                                                                 ("张小明", "子女")]
        assert zhang.members[0].id_index == archive.id_index(WIFE)
        assert zhang.members[0].id_sealed and WIFE.encode() not in zhang.members[0].id_sealed
        assert archive.open_id_number(zhang.members[1].id_sealed) == SON
        li = s.scalar(select(Household).where(Household.number == f"{VILLAGE}-0102"))
        # imported as stopped: the stop is an event, its date the retention clock's start
        assert (li.status, li.stop_date) == (HouseholdStatus.stopped, date(2025, 6, 30))
        assert [(e.change, e.effective_on) for e in li.status_events] == [
            (StatusChange.stop, date(2025, 6, 30))]
        for number, _, _ in BAD_ROWS[:3]:
            assert s.scalar(select(Household).where(
                Household.number == number.split(",")[0])) is None

    # the same file again changes nothing, and says so
    before, after_id = snapshot(archive), last_event_id(archive)
    again = cli(world, "household", "import", str(path), "--as", "near-archivist", "--json")
    report = json.loads(again.stdout)
    assert (report["created"], report["updated"], report["unchanged"],
            report["refused"]) == (0, 0, 2, 11)
    assert snapshot(archive) == before
    assert not events_since(archive, after_id, "household_edit")
    assert not events_since(archive, after_id, "household_add")

    # a changed file changes what it changes, and nothing else
    changed = write_csv(tmp_path / "花名册2.csv", [GOOD_1.replace("红星村一组", "红星村三组"), GOOD_2])
    result = cli(world, "household", "import", str(changed), "--as", "archivist", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["updated_ids"] == [f"{VILLAGE}-0101"]
    edits = events_since(archive, after_id, "household_edit")
    assert [json.loads(e.detail)["changed"] for e in edits] == [["address"]]


def test_import_reads_the_gb18030_that_a_chinese_excel_writes(world, tmp_path):
    path = write_csv(tmp_path / "excel.csv", [f"{VILLAGE}-0201,欧阳修,,,,农村,二类,,,,"],
                     encoding="gb18030")
    result = cli(world, "household", "import", str(path), "--as", "archivist")
    assert result.exit_code == 0, result.output
    with world["archive"].Session() as s:
        assert s.scalar(select(Household.head_name).where(
            Household.number == f"{VILLAGE}-0201")) == "欧阳修"


def test_an_unknown_column_stops_the_file_with_one_sentence(world, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("户号,户主姓名,收入\n220381105012-0301,甲,100\n", encoding="utf-8")
    result = cli(world, "household", "import", str(path), "--as", "archivist")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("hudang: row 1: the column “收入” is not one hudang knows; "
                                     "use: 户号、户主姓名、户主身份证号、家庭成员、住址、城乡、分类、"
                                     "低保证号、状态、状态日期、纳入日期")


def test_import_through_the_browser_says_each_bad_row_in_chinese(app, world, tmp_path):
    from io import BytesIO

    data = "\n".join([HEADER, f"{VILLAGE}-0401,何一,,,,,,,,,",
                      f"{VILLAGE}-0402,,,,,,,,,,"]).encode("utf-8")
    page = client_as(app, "archivist").post(
        "/households/import", data={"file": (BytesIO(data), "村民.csv")},
        content_type="multipart/form-data")
    assert page.status_code == 200
    assert "新建 1 户，修改 0 户，未变 0 户，1 行未导入。" in page.text
    assert "第 3 行“户主姓名”列：姓名未填写" in page.text


# -- status changes and their history ---------------------------------------------------
def test_status_changes_from_the_cli_keep_the_history_and_the_stop_date(world):
    number = f"{VILLAGE}-0501"
    assert cli(world, "household", "add", number, "--head", "林五", "--enrolled",
               "2020-01-01").exit_code == 0
    steps = [("--suspend", "2024-01-10", "外出务工"), ("--stop", "2024-03-01", "收入超标"),
             ("--stop", "2024-02-20", "更正停保日期"), ("--resume", "2024-06-01", "重新认定"),
             ("--lower", "2024-07-01", "收入增加")]
    for flag, day, reason in steps:
        result = cli(world, "household", "status", number, flag, "--date", day, "--reason",
                     reason, "--as", "archivist")
        assert result.exit_code == 0, result.output
    assert "status now active" in result.stdout
    refused = cli(world, "household", "status", number, "--resume", "--date", "2024-08-01",
                  "--reason", "x", "--as", "archivist")
    assert refused.exit_code == 2
    assert "was 在保, so 恢复 cannot be recorded" in refused.stderr
    shown = json.loads(cli(world, "household", "show", number, "--json", "--as",
                           "archivist").stdout)
    assert [(e["change"], e["date"], e["reason"], e["recorded_by"]) for e in shown["history"]] \
        == [("suspend", "2024-01-10", "外出务工", "archivist"),
            ("stop", "2024-02-20", "更正停保日期", "archivist"),
            ("stop", "2024-03-01", "收入超标", "archivist"),
            ("resume", "2024-06-01", "重新认定", "archivist"),
            ("lower", "2024-07-01", "收入增加", "archivist")]
    assert shown["status"] == "active" and shown["stop_date"] is None
    # a 停保 on a stopped household corrects the stop date (here: a later one)
    for day in ("2024-09-01", "2024-09-15"):
        assert cli(world, "household", "status", number, "--stop", "--date", day, "--reason",
                   "停保", "--as", "archivist").exit_code == 0
    with world["archive"].Session() as s:
        h = s.scalar(select(Household).where(Household.number == number))
        assert (h.status, h.stop_date) == (HouseholdStatus.stopped, date(2024, 9, 15))
    future = (date.today() + timedelta(days=3)).isoformat()
    later = cli(world, "household", "status", number, "--resume", "--date", future,
                "--reason", "x", "--as", "archivist")
    assert later.exit_code == 2 and "is in the future" in later.stderr


def test_status_change_through_the_browser_shows_in_the_household_history(app, world):
    number = f"{VILLAGE}-0601"
    archivist = client_as(app, "archivist")
    made = archivist.post("/households/new", data={"number": number, "head_name": "韩六",
                                                   "review_class": "2", "area": "urban"})
    assert made.status_code == 302 and made.location.endswith(f"/household/{number}/members")
    empty = archivist.post(f"/household/{number}/status", data={"change": "", "date": "",
                                                                "reason": ""})
    assert empty.status_code == 400
    assert 'class="error-summary"' in empty.text
    for message in ("请选择要登记的变更", "请填写生效日期", "请填写变更原因"):
        assert message in empty.text
    done = archivist.post(f"/household/{number}/status",
                          data={"change": "stop", "date": "2025-05-05", "reason": "死亡注销"})
    assert done.status_code == 302
    archivist.post(f"/household/{number}/purpose", data={"purpose": "审核"})
    page = archivist.get(f"/household/{number}").text
    assert 'id="status-history"' in page and "死亡注销" in page and "2025-05-05" in page
    assert "2025-05-05 停保" in page  # the stop date beside the status
    with world["archive"].Session() as s:
        assert s.scalar(select(Household.stop_date).where(Household.number == number)) == \
            date(2025, 5, 5)


def test_a_clerk_may_not_record_a_status_change_and_is_answered_as_if_missing(app, world):
    archive = world["archive"]
    number = f"{VILLAGE}-0601"
    clerk = client_as(app, "clerk")
    before = last_event_id(archive)
    answer = clerk.post(f"/household/{number}/status",
                        data={"change": "resume", "date": "2025-06-01", "reason": "x"})
    assert answer.status_code == 404
    refused = events_since(archive, before)
    assert [(e.action, e.outcome) for e in refused] == [("edit_household", "refused")]
    other = client_as(app, "far-archivist")  # an archivist of another township
    assert other.get(f"/household/{number}/members").status_code == 404
    with archive.Session() as s:
        assert s.scalar(select(Household.status).where(Household.number == number)) is \
            HouseholdStatus.stopped


# -- members: sealed, shown masked, through all three doors -------------------------------
def test_members_are_recorded_sealed_and_shown_masked_everywhere(app, world):
    archive = world["archive"]
    number = f"{VILLAGE}-0701"
    archivist = client_as(app, "archivist")
    assert archivist.post("/households/new", data={
        "number": number, "head_name": "曹七", "head_id_number": HEAD}).status_code == 302
    bad = archivist.post(f"/household/{number}/members", data={
        "do": "add", "member_name": "曹小", "member_relation": "", "member_id_number": "123"})
    assert bad.status_code == 400
    assert "请填写与户主的关系" in bad.text and "不是有效的身份证号" in bad.text
    ok = archivist.post(f"/household/{number}/members", data={
        "do": "add", "member_name": "曹小", "member_relation": "子女", "member_id_number": SON})
    assert ok.status_code == 302
    twice = archivist.post(f"/household/{number}/members", data={
        "do": "add", "member_name": "曹二", "member_relation": "子女", "member_id_number": SON})
    assert "本户已有人使用此身份证号" in twice.text
    members_page = archivist.get(f"/household/{number}/members").text
    assert mask(SON) in members_page and SON not in members_page
    archivist.post(f"/household/{number}/purpose", data={"purpose": "审核"})
    dossier = archivist.get(f"/household/{number}").text
    assert mask(SON) in dossier and SON not in dossier and HEAD not in dossier
    api = archivist.get(f"/api/households/{number}").get_json()
    assert api["members"] == [{"position": 1, "name": "曹小", "relation": "子女",
                               "id_number": mask(SON)}]
    assert api["head_id_number"] == mask(HEAD)
    shown = cli(world, "household", "show", number, "--as", "archivist").stdout
    assert mask(SON) in shown and SON not in shown
    with archive.Session() as s:
        member = s.scalar(select(HouseholdMember).join(Household).where(
            Household.number == number))
        assert member.id_index == archive.id_index(SON) and SON.encode() not in member.id_sealed
    # what the dossier lacks is said on the household page and in the JSON
    assert "申请书" in dossier and len(api["missing"]) == 7


def test_a_member_is_removed_and_the_change_recorded(world):
    archive = world["archive"]
    number = f"{VILLAGE}-0701"
    before = last_event_id(archive)
    result = cli(world, "household", "member", "remove", number, "1", "--as", "archivist")
    assert result.exit_code == 0 and "曹小" in result.stdout
    assert [e.action for e in events_since(archive, before)] == ["member_remove"]
    assert json.loads(cli(world, "household", "show", number, "--json").stdout)["members"] == []


def test_household_edit_changes_what_is_given_and_a_repeat_changes_nothing(world):
    number = f"{VILLAGE}-0701"
    first = cli(world, "household", "edit", number, "--class", "三类", "--address", "东街 5 号",
                "--as", "archivist")
    assert first.exit_code == 0 and "changed address, review_class of" in first.stdout
    again = cli(world, "household", "edit", number, "--class", "3", "--address", "东街 5 号",
                "--as", "archivist")
    assert "nothing changed" in again.stdout
    shown = json.loads(cli(world, "household", "show", number, "--json").stdout)
    assert (shown["review_class"], shown["address"], shown["head_name"]) == (3, "东街 5 号",
                                                                              "曹七")
