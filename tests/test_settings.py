"""The one settings object: every HUDANG_* variable read in one place, documented, checked.

Also where the master key comes from (moved here from the storage tests when reading the
environment moved out of ``storage/``).
"""
from __future__ import annotations

import base64
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.archive import open_master_key
from ingest.settings import SETTINGS, Settings, SettingsError, setting_names
from records.policy import Action, Role
from storage import DEFAULT_KEY_FILE, KeyFileError, MasterKey

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("records", "storage", "search", "ingest", "web", "bench", "tests")


def _names_in_code() -> set[str]:
    names: set[str] = set()
    files = [p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py")]
    files += [REPO / "Makefile", *(REPO / ".ci").glob("*")]
    for path in files:
        names |= set(re.findall(r"\bHUDANG_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def _names_in_docs() -> set[str]:
    table = (REPO / "docs" / "settings.md").read_text()
    return set(re.findall(r"^\| `(HUDANG_[A-Z0-9_]+)`", table, flags=re.M))


def test_every_hudang_name_in_the_code_is_in_the_settings_table_of_the_docs():
    missing = sorted(_names_in_code() - _names_in_docs())
    assert not missing, f"add these to docs/settings.md: {missing}"


def test_the_docs_table_lists_only_settings_that_exist():
    # the test-only variables are documented in their own part of the table
    gone = sorted(_names_in_docs() - _names_in_code())
    assert not gone, f"docs/settings.md lists settings the code no longer reads: {gone}"


def test_every_setting_the_code_reads_is_in_the_one_table():
    # a HUDANG_ name read anywhere but ingest/settings.py would be a second place
    outside = []
    for d in ("records", "storage", "search", "ingest", "web"):
        for path in (REPO / d).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "ingest":
                continue
            if re.search(r"environ(\.get)?[\[(]\s*['\"]HUDANG_|getenv\(\s*['\"]HUDANG_",
                         path.read_text()):
                outside.append(str(path.relative_to(REPO)))
    assert not outside, f"these read HUDANG_* from the environment themselves: {outside}"
    assert set(setting_names()) <= _names_in_docs()


def test_defaults():
    s = Settings.load({})
    assert s.home == Path("hudang-data").absolute()
    assert s.master_key_file == DEFAULT_KEY_FILE
    assert s.database_url is None
    if not getattr(Settings, "_postgres_test_cluster", False):  # the PostgreSQL run's own URL
        assert s.catalogue_url == f"sqlite:///{s.home / 'catalogue.sqlite'}"
    assert s.timezone.key == "Asia/Shanghai"
    assert s.purposes[-1] == "其他" and s.idle_minutes == 30
    assert s.self_lookup.code_lifetime == timedelta(hours=24)


def test_environment_then_overrides_take_precedence(tmp_path):
    env = {"HUDANG_MASTER_KEY_FILE": str(tmp_path / "env.key"), "HUDANG_IDLE_MINUTES": "5"}
    assert Settings.load(env).master_key_file == tmp_path / "env.key"
    assert Settings.load(env).idle_minutes == 5
    cli = Settings.load(env, overrides={"HUDANG_MASTER_KEY_FILE": tmp_path / "cli.key"})
    assert cli.master_key_file == tmp_path / "cli.key"


def test_the_instance_config_file_is_read_and_the_environment_beats_it(tmp_path):
    config = tmp_path / "hudang.toml"
    config.write_text('HUDANG_TIMEZONE = "Asia/Urumqi"\nHUDANG_LOCKOUT_FAILURES = 3\n'
                      'HUDANG_GRANTS = "see_full_id=archivist"\n', encoding="utf-8")
    s = Settings.load({"HUDANG_CONFIG": str(config), "HUDANG_LOCKOUT_FAILURES": "7"})
    assert s.timezone.key == "Asia/Urumqi"
    assert s.lockout_failures == 7
    assert s.grants == {Role.archivist: frozenset({Action.see_full_id})}


def test_a_config_file_with_an_unknown_name_is_refused_naming_it(tmp_path):
    config = tmp_path / "hudang.toml"
    typo = "HUDANG" + "_IDEL_MINUTES"  # spelt apart, so that this file names no such setting
    config.write_text(f'{typo} = 5\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=typo):
        Settings.load({"HUDANG_CONFIG": str(config)})
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load({"HUDANG_CONFIG": str(tmp_path / "absent.toml")})


@pytest.mark.parametrize("name, value, words", [
    ("HUDANG_IDLE_MINUTES", "soon", "whole number"),
    ("HUDANG_LOCKOUT_FAILURES", "0", "at least 1"),
    ("HUDANG_SELF_LOOKUP_HOURS", "soon", "number"),
    ("HUDANG_TIMEZONE", "Beijing", "time zone"),
    ("HUDANG_OCR_ENGINE", "abbyy", "available engines"),
    ("HUDANG_GRANTS", "fly=staff", "unknown action"),
])
def test_bad_values_say_which_setting_and_why(name, value, words):
    with pytest.raises(SettingsError) as err:
        Settings.load({name: value})
    assert name in str(err.value) and words in str(err.value)


def test_self_lookup_settings_come_from_the_environment_and_bad_values_say_which():
    # moved from tests/test_self_lookup.py with the settings
    s = Settings.load({"HUDANG_SELF_LOOKUP_HOURS": "0.5",
                       "HUDANG_SELF_LOOKUP_MAX_FAILURES": "3"}).self_lookup
    assert s.code_lifetime == timedelta(minutes=30) and s.lockout.failures == 3
    assert Settings.load({}).self_lookup.code_lifetime == timedelta(hours=24)
    with pytest.raises(SettingsError, match="HUDANG_SELF_LOOKUP_HOURS"):
        Settings.load({"HUDANG_SELF_LOOKUP_HOURS": "soon"})


def test_secrets_are_never_shown():
    s = Settings.load({"HUDANG_MASTER_KEY": "00" * 32,
                       "HUDANG_DATABASE_URL": "postgresql://hudang:s3cret@db/hudang"})
    shown = s.shown()
    assert shown["HUDANG_MASTER_KEY"] == "(set)" and shown["HUDANG_DATABASE_URL"] == "(set)"
    assert "s3cret" not in repr(s) and "00" * 32 not in repr(s)
    assert {x.name for x in SETTINGS} <= set(shown)


# -- where the master key comes from (was: tests/test_storage.py) -------------------------
@pytest.mark.parametrize("encode", [lambda raw: base64.b64encode(raw).decode(),
                                    lambda raw: raw.hex()])
def test_master_key_env_var_is_honoured(tmp_path: Path, encode) -> None:
    raw = os.urandom(32)
    settings = Settings.load({"HUDANG_MASTER_KEY": encode(raw),
                              "HUDANG_MASTER_KEY_FILE": str(tmp_path / "absent.key")})
    key = open_master_key(settings)
    assert key.fingerprint() == MasterKey(raw).fingerprint()
    assert "HUDANG_MASTER_KEY" in key.source


def test_malformed_master_key_env_var_is_a_key_file_error() -> None:
    with pytest.raises(KeyFileError, match="HUDANG_MASTER_KEY"):
        open_master_key(Settings.load({"HUDANG_MASTER_KEY": "not-a-key"}))


def test_the_key_file_named_by_the_environment_is_read(tmp_path: Path) -> None:
    created = MasterKey.create_file(tmp_path / "m.key")
    settings = Settings.load({"HUDANG_MASTER_KEY_FILE": str(tmp_path / "m.key")})
    assert open_master_key(settings).fingerprint() == created.fingerprint()
