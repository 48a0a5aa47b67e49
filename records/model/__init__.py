"""The catalogue: what exists in the archive.

SQLAlchemy 2.0 typed models. The schema itself is built by the Alembic
migrations in ``records/migrations``; ``tests/test_records.py`` checks that
these models and the migrations agree.

Nothing here stores OCR text or an ID number in the clear: page text lives
encrypted in the blob store, and the head's ID number is sealed with a key
derived from the master key, with an HMAC blind index for exact look-up.
"""
from records.model.catalogue import *  # noqa: F401,F403  (the archive's own tables)
from records.model.catalogue import Base  # noqa: F401
from records.model.work import *  # noqa: F401,F403  (batches, scan checks, jobs)
