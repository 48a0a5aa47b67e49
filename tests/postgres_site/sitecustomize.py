"""Imported by every Python process started with this folder on its ``PYTHONPATH``: the
suite on PostgreSQL puts it there (tests/pg_support.py), so that a ``hudang`` subprocess
finds each data home's catalogue on the test run's cluster, as the test process does."""
import importlib.util
import os
from pathlib import Path

if os.environ.get("HUDANG_TEST_POSTGRES_SOCKET"):
    _path = Path(__file__).resolve().parent.parent / "pg_support.py"
    _spec = importlib.util.spec_from_file_location("pg_support", _path)
    _module = importlib.util.module_from_spec(_spec)
    try:
        _spec.loader.exec_module(_module)
        _module.install()
    except ImportError:  # a Python without hudang (a tool's own venv): nothing to do
        pass
