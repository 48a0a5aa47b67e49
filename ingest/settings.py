"""Settings: every ``HUDANG_*`` variable, read in this one place into one object.

Values come from, in rising order of precedence: the defaults below, the
optional instance config file (``HUDANG_CONFIG``, TOML, the same names as
keys), the environment, and explicit overrides (the CLI's ``--home`` and
``--key-file``; a test's config). Nothing is read from the working directory
by accident: the only relative path is the default data home, ``./hudang-data``.

``docs/settings.md`` lists every setting; ``tests/test_settings.py`` fails
when a ``HUDANG_`` name in the code is missing from that table.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from records import db
from records.lockout import Lockout
from records.numbering import (DEFAULT_DOSSIER_CODE, DEFAULT_ITEM_CODE, Scheme,
                               check_dossier_pattern, check_item_pattern)
from records.policy import Action, Role, parse_grants
from records.purposes import configured_purposes
from records.reviews import DEFAULT_MONTHS, parse_review_months
from records.self_lookup import SelfLookupSettings
from storage import DEFAULT_KEY_FILE

CONFIG_FILE = "HUDANG_CONFIG"


class SettingsError(Exception):
    """A setting has a value hudang cannot use; the message names it and says why."""


def _path(value: str) -> Path:
    return Path(value).expanduser().absolute()


def _text(value: str) -> str:
    return value.strip()


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}")
        return number
    return parse


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number") from None
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _percent(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number") from None
    if not 0 < number <= 100:
        raise ValueError("must be a percentage greater than 0 and at most 100")
    return number


def _code(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 20 or any(c.isspace() for c in value):
        raise ValueError("must be 1-20 characters without spaces")
    return value


def _paths(value: str) -> tuple[Path, ...]:
    """Directories separated by the system's path separator (``:`` on Linux)."""
    return tuple(_path(part) for part in value.split(os.pathsep) if part.strip())


def _zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a time zone name such as Asia/Shanghai") from None


def _engine(value: str) -> str | None:
    if not value.strip():
        return None
    from ingest.ocr import canonical_engine_name

    return canonical_engine_name(value)


def _queue_url(value: str) -> str:
    """Where the job queue lives: empty (a SQLite file in the data home), ``sqlite:///PATH``
    or ``redis://HOST[:PORT][/DB]`` (``rediss://`` with TLS)."""
    value = value.strip()
    if value and not value.startswith(("sqlite:///", "redis://", "rediss://")):
        raise ValueError("HUDANG_QUEUE_URL must be empty (a queue in the data home), "
                         "sqlite:///PATH or redis://HOST:PORT/DB")
    return value


@dataclass(frozen=True)
class Setting:
    """One ``HUDANG_*`` variable: its default (as text) and how it is read."""

    name: str
    default: str | None
    parse: Callable[[str], Any]
    secret: bool = False  # never shown, never logged

    @property
    def attribute(self) -> str:
        return self.name.removeprefix("HUDANG_").lower()


# The table of every setting (docs/settings.md says what each does).
SETTINGS: tuple[Setting, ...] = (
    Setting("HUDANG_HOME", "hudang-data", _path),
    Setting("HUDANG_MASTER_KEY_FILE", str(DEFAULT_KEY_FILE), _path),
    Setting("HUDANG_MASTER_KEY", None, _text, secret=True),
    Setting("HUDANG_DATABASE_URL", None, _text, secret=True),  # may hold a password
    Setting("HUDANG_OCR_ENGINE", "", _engine),
    Setting("HUDANG_GRANTS", "", parse_grants),
    Setting("HUDANG_PURPOSES", "", configured_purposes),
    Setting("HUDANG_PURPOSE_MINUTES", "0", _whole(0)),
    Setting("HUDANG_IDLE_MINUTES", "30", _whole(1)),
    Setting("HUDANG_LOCKOUT_FAILURES", "5", _whole(1)),
    Setting("HUDANG_LOCKOUT_MINUTES", "15", _whole(1)),
    Setting("HUDANG_SELF_LOOKUP_HOURS", "24", _positive),
    Setting("HUDANG_SELF_LOOKUP_MAX_FAILURES", "5", _positive),
    Setting("HUDANG_SELF_LOOKUP_WINDOW_MINUTES", "15", _positive),
    Setting("HUDANG_SELF_LOOKUP_LOCKOUT_MINUTES", "30", _positive),
    Setting("HUDANG_TIMEZONE", "Asia/Shanghai", _zone),
    Setting("HUDANG_SEARCH_SECONDS", "5", _positive),
    Setting("HUDANG_RESET_CODE_HOURS", "24", _positive),
    Setting("HUDANG_REVIEW_MONTHS", DEFAULT_MONTHS, parse_review_months),
    Setting("HUDANG_FONDS", "0001", _code),
    Setting("HUDANG_RETENTION_CODE", "D5", _code),
    Setting("HUDANG_DOSSIER_CODE", DEFAULT_DOSSIER_CODE, check_dossier_pattern),
    Setting("HUDANG_ITEM_CODE", DEFAULT_ITEM_CODE, check_item_pattern),
    Setting("HUDANG_DESTRUCTION_WAIT_DAYS", "7", _whole(0)),
    Setting("HUDANG_REGISTER_COPIES", "", _paths),
    Setting("HUDANG_SCAN_SKEW_LIMIT", "1.5", _positive),
    Setting("HUDANG_QUEUE_URL", "", _queue_url, secret=True),  # a Redis URL may hold a password
    Setting("HUDANG_JOB_LEASE_SECONDS", "60", _whole(3)),
    Setting("HUDANG_UPLOAD_MAX_MB", "200", _whole(1)),
    Setting("HUDANG_UPLOAD_MAX_FILES", "50", _whole(1)),
    Setting("HUDANG_ACCEPT_SAMPLE_PERCENT", "5", _percent),
    Setting("HUDANG_ACCEPT_PASS_PERCENT", "95", _percent),
)
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The deployment's settings, parsed. Build with :meth:`load`."""

    home: Path
    master_key_file: Path
    master_key: str | None = field(default=None, repr=False)
    database_url: str | None = field(default=None, repr=False)
    ocr_engine: str | None = None
    grants: Mapping[Role, frozenset[Action]] = field(default_factory=dict)
    purposes: tuple[str, ...] = ()
    purpose_minutes: int = 0
    idle_minutes: int = 30
    lockout_failures: int = 5
    lockout_minutes: int = 15
    self_lookup_hours: float = 24
    self_lookup_max_failures: float = 5
    self_lookup_window_minutes: float = 15
    self_lookup_lockout_minutes: float = 30
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    search_seconds: float = 5
    reset_code_hours: float = 24
    review_months: Mapping[int, int] = field(
        default_factory=lambda: parse_review_months(DEFAULT_MONTHS))
    fonds: str = "0001"
    retention_code: str = "D5"
    dossier_code: str = DEFAULT_DOSSIER_CODE
    item_code: str = DEFAULT_ITEM_CODE
    destruction_wait_days: int = 7
    register_copies: tuple[Path, ...] = ()
    scan_skew_limit: float = 1.5  # degrees before correction (ingest.scanquality)
    queue_url: str = field(default="", repr=False)
    job_lease_seconds: int = 60
    upload_max_mb: int = 200
    upload_max_files: int = 50
    # sampling acceptance of a batch (验收, DA/T 31-2017; ingest.acceptance)
    accept_sample_percent: float = 5  # of the batch's stored documents, at least one
    accept_pass_percent: float = 95  # pass rate at which the batch is accepted
    config_file: Path | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *,
             overrides: Mapping[str, Any] | None = None) -> Settings:
        """Read the defaults, the config file, ``environ`` (default: the process's) and
        ``overrides`` (names as in the table; None values are ignored)."""
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {s.name: s.default for s in SETTINGS}
        config_path = environ.get(CONFIG_FILE)
        if config_path:
            raw.update(_read_config(Path(config_path).expanduser()))
        raw.update({k: v for k, v in environ.items() if k in _BY_NAME})
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        values = {}
        for name, value in raw.items():
            setting = _BY_NAME.get(name)
            if setting is None:
                raise SettingsError(f"unknown setting {name}")
            values[setting.attribute] = _parse(setting, value)
        return cls(**values, config_file=Path(config_path) if config_path else None)

    @classmethod
    def from_env(cls, home: str | Path | None = None,
                 key_file: str | Path | None = None) -> Settings:
        """:meth:`load` from the process's environment, with the CLI's ``--home`` and
        ``--key-file`` (or a test's paths) taking precedence when given."""
        return cls.load(overrides={"HUDANG_HOME": home, "HUDANG_MASTER_KEY_FILE": key_file})

    def with_values(self, overrides: Mapping[str, Any]) -> Settings:
        """These settings with some ``HUDANG_*`` values replaced (a test's config)."""
        changes = {}
        for name, value in overrides.items():
            setting = _BY_NAME.get(name)
            if setting is not None and value is not None:
                changes[setting.attribute] = _parse(setting, value)
        return replace(self, **changes)

    # -- derived ---------------------------------------------------------------
    @property
    def catalogue_url(self) -> str:
        return self.database_url or db.sqlite_url(self.home / "catalogue.sqlite")

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def reindex_checkpoint(self) -> Path:
        """Where an interrupted ``hudang reindex`` stopped (ingest.indexing.reindex)."""
        return self.home / "reindex-checkpoint.json"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def journal_dir(self) -> Path:
        """The crash journal: one record per unit of writing in flight (ingest.journal)."""
        return self.home / "journal"

    @property
    def queue(self) -> str:
        """The job queue's URL (ingest.jobs): HUDANG_QUEUE_URL, or a SQLite file in the data
        home, which holds job ids only."""
        return self.queue_url or f"sqlite:///{self.home / 'queue.sqlite'}"

    @property
    def register_dir(self) -> Path:
        """The destruction register (ingest.shredding), also copied to ``register_copies``."""
        return self.home / "registers"

    @property
    def sign_in_lockout(self) -> Lockout:
        return Lockout(failures=self.lockout_failures,
                       window=timedelta(minutes=self.lockout_minutes),
                       lock=timedelta(minutes=self.lockout_minutes))

    @property
    def self_lookup(self) -> SelfLookupSettings:
        return SelfLookupSettings(
            code_lifetime=timedelta(hours=self.self_lookup_hours),
            lockout=Lockout(failures=max(1, int(self.self_lookup_max_failures)),
                            window=timedelta(minutes=self.self_lookup_window_minutes),
                            lock=timedelta(minutes=self.self_lookup_lockout_minutes)))

    @property
    def reset_code_lifetime(self) -> timedelta:
        """How long a one-time password-reset code may be used (records.accounts)."""
        return timedelta(hours=self.reset_code_hours)

    @property
    def numbering(self) -> Scheme:
        """How dossiers and documents are numbered (档号, 件号; records.numbering)."""
        return Scheme(self.fonds, self.retention_code, self.dossier_code, self.item_code)

    def shown(self) -> dict[str, str]:
        """Every setting as text for ``hudang settings``, secrets hidden."""
        out = {}
        for setting in SETTINGS:
            value = getattr(self, setting.attribute)
            if setting.secret:
                out[setting.name] = "(set)" if value else "(not set)"
            elif setting.name == "HUDANG_REGISTER_COPIES":
                out[setting.name] = os.pathsep.join(str(p) for p in value)
            elif setting.name == "HUDANG_REVIEW_MONTHS":
                out[setting.name] = ",".join(str(value[c]) for c in sorted(value))
            else:
                out[setting.name] = "" if value is None else str(value)
        return out


def _parse(setting: Setting, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    try:
        return setting.parse(value)
    except ValueError as exc:
        shown = "(hidden)" if setting.secret else repr(value)
        reason = str(exc)
        if reason.startswith(("is ", "must ")):  # this module's parsers: a predicate
            raise SettingsError(f"{setting.name}={shown} {reason}") from None
        if setting.name in reason:  # a whole sentence naming the setting already
            raise SettingsError(reason) from None
        raise SettingsError(f"{setting.name}: {reason}") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"the config file '{path}' named by {CONFIG_FILE} does not exist") \
            from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"the config file '{path}' cannot be read: {exc}") from None
    unknown = sorted(k for k in data if k not in _BY_NAME)
    if unknown:
        raise SettingsError(f"the config file '{path}' names unknown settings: "
                            f"{', '.join(unknown)}")
    return data


def setting_names() -> list[str]:
    """Every ``HUDANG_*`` name hudang reads (the config file's own name included)."""
    return [CONFIG_FILE, *(s.name for s in SETTINGS)]


__all__ = ["CONFIG_FILE", "SETTINGS", "Setting", "Settings", "SettingsError", "setting_names"]
