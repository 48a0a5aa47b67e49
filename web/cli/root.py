"""The root of the ``hudang`` command tree and its one error handler."""
from __future__ import annotations

import sys

import click

from ingest.exceptions import NoSpace, is_no_space
from web.cli.context import Context
from web.errors import USER_ERRORS, exit_code_for


class HudangGroup(click.Group):
    """Every failure a person can act on becomes one line on stderr and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"hudang: {exc}", err=True)
            sys.exit(int(exit_code_for(exc)))
        except Exception as exc:
            # a full disk met outside an ingest (the audit log of a search, say)
            home = ctx.obj.settings.home if isinstance(ctx.obj, Context) else None
            if home is None or not is_no_space(exc, home):
                raise
            full = NoSpace(f"run 'hudang {ctx.invoked_subcommand}'", home)
            click.echo(f"hudang: {full}", err=True)
            sys.exit(int(exit_code_for(full)))


@click.group(cls=HudangGroup)
@click.option("--home", metavar="DIR", help="Data home (default: HUDANG_HOME, else ./hudang-data).")
@click.option("--key-file", metavar="FILE",
              help="Master key file (default: HUDANG_MASTER_KEY_FILE, else "
                   "~/.config/hudang/master.key).")
@click.version_option(package_name="hudang")
@click.pass_context
def main(ctx: click.Context, home: str | None, key_file: str | None) -> None:
    """户档 hudang: the archive of scanned 低保 household dossiers."""
    ctx.obj = Context(home, key_file)
    ctx.call_on_close(ctx.obj.close)
