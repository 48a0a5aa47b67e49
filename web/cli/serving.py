"""Serving the web app, and the demo archive.

``hudang serve`` runs the app in ``--workers`` processes (default: one per core) under
gunicorn, started from here (:class:`_Processes`, gunicorn's ``BaseApplication``) so that
it stays one command. Each process opens the archive itself, after the fork: SQLite
connections, the Whoosh searchers and the OCR pool are never shared across a fork. Nothing
a request needs later lives in one process's memory: the session is a signed cookie (its
key derived from the master key, the same in every process), the CSRF token rides in it,
sign-in lock-outs and self-lookup rate limits are rows of the catalogue
(``records.lockout``), and whether the user is still active is read from the catalogue on
every request. ``--workers 1`` serves from this process with waitress, as before.
"""
from __future__ import annotations

import logging
import os
import sys

import click

from ingest.archive import Archive
from ingest.settings import Settings
from web.cli.root import main
from web.cli.context import Context, progress
from web.cli.door import unguarded

# what the Server header says, whichever server answers (no name and version to look up)
SERVER_NAME = "hudang"


def default_workers() -> int:
    """One server process per core."""
    return os.cpu_count() or 1


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Server processes (default: one per core). With 1, waitress serves from "
                   "this process.")
@click.option("--threads", default=8, show_default=True, help="Threads per process.")
@unguarded
def serve(c: Context, host: str, port: int, workers: int | None, threads: int) -> None:
    """Serve the web app with a production WSGI server (gunicorn, or waitress for one
    process)."""
    workers = workers or default_workers()
    if workers == 1:
        _serve(c.archive, host, port, threads)
        return
    # open it once here: a data home or key that cannot be used is one sentence now, not a
    # traceback per worker; and what a killed process left is recovered once, before the fork
    c.archive.close()
    import web.app  # noqa: F401 - imported once here, not again in every worker after the fork

    click.echo(f"serving hudang at http://{host}:{port}/ with {workers} processes "
               "(Ctrl-C to stop)")
    _Processes(c.settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        # threads per process: a request waiting for the catalogue or the index lock does
        # not hold up the others, and the worker's heartbeat runs beside the requests, so a
        # long upload is not mistaken for a hung worker
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 120,
        "graceful_timeout": 20,
        "keepalive": 5,
        "proc_name": "hudang",
        # no access log: request paths name households; errors and warnings go to stderr
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }).run()


def _serve(archive: Archive, host: str, port: int, threads: int) -> None:
    import waitress

    from web.app import create_app

    app = create_app(archive=archive)
    click.echo(f"serving hudang at http://{host}:{port}/  (Ctrl-C to stop)")
    waitress.serve(app, host=host, port=port, threads=threads, ident=SERVER_NAME)


def _processes_class():
    from gunicorn.app.base import BaseApplication

    class Processes(BaseApplication):
        """gunicorn with its options from ``hudang serve``, not from its own command line."""

        def __init__(self, settings: Settings, options: dict) -> None:
            self.settings = settings
            self.options = options
            self.archive: Archive | None = None
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)
            self.cfg.set("worker_exit", self._worker_exit)
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn 25+ opens a control socket at one path per user
                # (~/.gunicorn/gunicorn.ctl): two servers on one machine would share it
                self.cfg.set("control_socket_disable", True)

        def load(self):
            """Called in each worker process after the fork: its own archive and app."""
            import gunicorn.http.wsgi

            from web.app import create_app

            gunicorn.http.wsgi.SERVER = SERVER_NAME
            self.archive = Archive.open(self.settings)
            return create_app(archive=self.archive)

        def _worker_exit(self, _arbiter, _worker) -> None:
            if self.archive is not None:
                self.archive.close()
            stopping = sys.exc_info()[1]  # gunicorn calls this while the worker's exit unwinds
            if isinstance(stopping, SystemExit) and stopping.code in (0, None):
                # a worker told to stop leaves at once: unwinding the command's stack and
                # freeing a heap shared with the master since the fork (every page copied
                # as it is freed) takes seconds on a busy machine, and the master waits
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)

    return Processes


def _Processes(settings: Settings, options: dict):  # noqa: N802 - a class, imported late
    return _processes_class()(settings, options)


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
