"""Files the browser saves rather than shows: CSV, PDF and JSON exports, labels, a
document's archival PDF. One place says how they are sent: as an attachment under a name
the browser keeps (non-ASCII names encoded as RFC 6266 asks, by Werkzeug), and never kept
by a browser or proxy, since every export may carry records."""
from __future__ import annotations

import io

from flask import Response, send_file


def attachment(data: bytes | str, mimetype: str, filename: str) -> Response:
    """``data`` sent as the file ``filename``, not cached."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    response = send_file(io.BytesIO(raw), mimetype=mimetype, as_attachment=True,
                         download_name=filename, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
