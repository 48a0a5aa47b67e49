"""Serving the web app, and the demo archive."""
from __future__ import annotations

import click

from ingest.archive import Archive
from web.cli.root import main
from web.cli.context import Context, progress
from web.cli.door import unguarded


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--threads", default=8, show_default=True)
@unguarded
def serve(c: Context, host: str, port: int, threads: int) -> None:
    """Serve the web app with a production WSGI server (waitress)."""
    _serve(c.archive, host, port, threads)


def _serve(archive: Archive, host: str, port: int, threads: int) -> None:
    import waitress

    from web.app import create_app

    app = create_app(archive=archive)
    click.echo(f"serving hudang at http://{host}:{port}/  (Ctrl-C to stop)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="hudang")


@main.command()
@click.option("--households", default=6, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo archive and stop.")
@unguarded
def demo(c: Context, households: int, seed: int, host: str, port: int, no_serve: bool) -> None:
    """Build a demo archive of synthetic dossiers (once) and serve it."""
    from web.demo import DEMO_USERS, build_demo

    archive = build_demo(c.settings, households=households, seed=seed, progress=progress)
    c.adopt(archive)
    click.echo("demo logins (user / password / what they see):")
    for name, password, role, scope in DEMO_USERS:
        click.echo(f"  {name:<10} {password:<16} {role} {scope}")
    if not no_serve:
        _serve(archive, host, port, 8)
