"""What every command gets: the settings, the archive (opened on first use), who acts, and
a progress bar."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ingest.archive import Archive, console_user
from ingest.settings import Settings
from records.catalogue import get_user, principal_of
from records.exceptions import Invalid
from records.policy import Principal, Role


class Context:
    def __init__(self, home: str | None, key_file: str | None):
        self.settings = Settings.from_env(home, key_file)
        self._archive: Archive | None = None

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = Archive.open(self.settings)
            _tell_recovered(self._archive)
        return self._archive

    def adopt(self, archive: Archive) -> None:
        """Use an archive opened elsewhere (the demo builds its own)."""
        self._archive = archive

    def principal(self, as_user: str | None) -> Principal:
        """``--as USER`` acts with that account's rights; otherwise the console user's
        (the operator, who holds the master key, may do everything)."""
        if as_user is None:
            return Principal(console_user(), frozenset({Role.operator}))
        with self.archive.Session() as s:
            return principal_of(get_user(s, as_user), self.settings.grants)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()


def _tell_recovered(archive: Archive) -> None:
    """Opening the archive finished or rolled back what a killed process left: say so
    (``hudang recover`` says it itself)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.info_name == "recover":
        return
    report = archive.recovered
    for unit in report.units:
        click.echo(f"hudang: {unit.sentence()}", err=True)
    for problem in report.problems:
        click.echo(f"hudang: {problem}", err=True)


def progress(label: str, total: int | None = None, unit: str = "page"):
    """A progress bar on a terminal (tqdm), silent when output is piped or in CI."""
    from tqdm import tqdm

    class Bar(tqdm):
        def reset(self, total=None):  # called with the page count once it is known
            super().reset(total=total)

    return Bar(total=total, desc=label, unit=unit, disable=None, leave=False, file=sys.stderr)


pass_ctx = click.make_pass_decorator(Context)


def write_out(path: str | Path, data: bytes | str) -> None:
    """Write a command's ``--out`` file (a report, labels, a certificate, a blank manifest):
    a path that cannot be written is one sentence and an exit code, not a traceback."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        Path(path).write_bytes(raw)
    except OSError as exc:
        raise Invalid(f"cannot write '{path}': {exc.strerror or exc}") from None
