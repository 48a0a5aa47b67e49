"""The ``hudang`` command line: a thin layer over the same services the web app uses.

Every failure a person can act on is one line on stderr and an exit code from the one
table (``web.errors.ExitCode``), decided in one place (``web.cli.root.HudangGroup``), never
a traceback. Every command that shows or changes records passes the one door
(``web.cli.door``), acting as the operating-system user or ``--as USER``.

The commands live in one module per area: ``admin`` (init, settings, regions, users,
reindex), ``households`` (households, members, status changes, import), ``documents``
(ingest, search, text, pages, reocr), ``corrections`` (pages lines, correct, rotate,
replace; replace-document), ``box`` (ingest-box, separators, batches, pages with scan
findings), ``desk`` (document types, corrections, order, reviews),
``reports`` (report, reconcile), ``locations`` (location, labels), ``daily`` (records list,
show), ``retention`` (retention classes and the queue, holds, destruction lists),
``auditlog``, ``operations`` (verify, backup, restore, key), ``recovery`` (recover),
``jobs`` (worker, jobs) and ``serving`` (serve, demo). Each adds its commands to the root group ``main``.
"""
from __future__ import annotations

# the modules register their commands on import
from web.cli import (acceptance, admin, auditlog, box, corrections, daily, desk, documents,  # noqa: F401
                     households, jobs, locations, operations, recovery, reports, retention,
                     serving)
from web.cli.root import main

__all__ = ["main"]
