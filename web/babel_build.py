"""Build step: compile the interface's gettext catalogues (``web/translations/*/LC_MESSAGES/
messages.po``) to ``.mo`` files when hudang is built or installed (``pip install .`` or
``-e .``), so that installed copies carry them and the repository holds only the sources.

Named in ``pyproject.toml`` as setuptools' ``build_py``; not used at run time.
"""
from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py


def compile_catalogues(root: Path) -> list[Path]:
    """Write each ``messages.mo`` beside its ``messages.po`` under ``root``; returns them."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(root.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            catalogue = read_po(f)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, catalogue)
        written.append(mo)
    return written


class BuildPy(build_py):
    def run(self) -> None:
        compile_catalogues(Path(__file__).resolve().parent / "translations")
        super().run()
