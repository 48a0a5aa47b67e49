"""Citizen self-lookup (本人查阅): request, staff approval, and reading with a one-time code."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("selflookup", __name__, url_prefix="/self")
