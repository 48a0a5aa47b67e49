"""The CJK fonts hudang draws with: watermarks on pages and downloads, and synthetic pages.

They come from Debian packages that ``make`` installs (``FONT_PACKAGES``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
)
FONT_PACKAGES = "fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming fonts-arphic-ukai"


def fonts_available() -> list[str]:
    """Paths of the installed CJK fonts, in a fixed order; RuntimeError naming the packages
    when there is none."""
    found = [path for path in CJK_FONTS if Path(path).is_file()]
    if not found:
        raise RuntimeError(
            "no CJK font found; install the Debian packages "
            f"{FONT_PACKAGES} (apt-get install {FONT_PACKAGES})"
        )
    return found


@lru_cache(maxsize=16)
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """The first installed CJK font at ``size`` pixels (kept: loading a .ttc takes time)."""
    return ImageFont.truetype(fonts_available()[0], size)
