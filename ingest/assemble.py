"""Final archival PDF: base page images + invisible OCR text + PDF/A metadata."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
from PIL import ImageCms

from .ocr.base import OcrPage
from .pdfwrite import add_font, put_text_layer
from .textlayer import PageGeometry, glyphless_font, text_layer_stream

PRODUCER = "hudang"


@dataclass
class PageLayer:
    number: int  # 1-based page in base_pdf
    rotate: int  # final /Rotate for this page (original /Rotate + detected correction, mod 360)
    ocr: OcrPage | None  # None: no text layer to add (page already has text, or blank)


def assemble(base_pdf: Path, layers: list[PageLayer], out: Path, *, title: str,
             subject: str = "", created: datetime | None = None) -> None:
    """Write ``out``: ``base_pdf`` with page rotations, text layers and metadata applied."""
    created = created or datetime.now(timezone.utc)
    with pikepdf.open(base_pdf) as pdf:
        font = glyphless_font(pdf) if any(_has_text(layer.ocr) for layer in layers) else None
        for layer in layers:
            _apply_layer(pdf, layer, font)
        _write_metadata(pdf, title=title, subject=subject, created=created)
        _add_srgb_output_intent(pdf)
        _save_atomically(pdf, Path(out))


def _has_text(ocr: OcrPage | None) -> bool:
    return ocr is not None and any(line.text.strip() for line in ocr.lines)


def _apply_layer(pdf: pikepdf.Pdf, layer: PageLayer, font: pikepdf.Dictionary | None) -> None:
    if not 1 <= layer.number <= len(pdf.pages):
        raise ValueError(f"page {layer.number} is not in the base PDF ({len(pdf.pages)} pages)")
    if layer.rotate % 90:
        raise ValueError(f"page {layer.number}: /Rotate must be a multiple of 90, not {layer.rotate}")
    page = pdf.pages[layer.number - 1]
    rotate = layer.rotate % 360
    page.obj.Rotate = rotate
    if font is None or not _has_text(layer.ocr):
        return
    # the crop box is what viewers and rasterisers show, so it is what was OCR'd;
    # pikepdf falls back to the media box when there is none
    geometry = PageGeometry(box=tuple(float(v) for v in page.cropbox), rotate=rotate)
    add_font(page, font)
    put_text_layer(pdf, page, text_layer_stream(layer.ocr, geometry))


def _write_metadata(pdf: pikepdf.Pdf, *, title: str, subject: str, created: datetime) -> None:
    stamp = created.isoformat()
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:title"] = title
        if subject:
            meta["dc:description"] = subject
        meta["pdf:Producer"] = PRODUCER
        meta["xmp:CreatorTool"] = PRODUCER
        meta["xmp:CreateDate"] = stamp
        meta["xmp:ModifyDate"] = stamp
        meta["xmp:MetadataDate"] = stamp
        meta["pdfaid:part"] = "2"
        meta["pdfaid:conformance"] = "B"
    # set the Info dictionary explicitly too: PDF/A wants it to agree with the XMP
    pdf.docinfo[pikepdf.Name.Title] = title
    pdf.docinfo[pikepdf.Name.Producer] = PRODUCER
    pdf.docinfo[pikepdf.Name.Creator] = PRODUCER
    if subject:
        pdf.docinfo[pikepdf.Name.Subject] = subject


def _add_srgb_output_intent(pdf: pikepdf.Pdf) -> None:
    """PDF/A needs an OutputIntent for device colour; reuse one the base PDF already has."""
    if "/OutputIntents" in pdf.Root:
        return
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc = pikepdf.Stream(pdf, profile)
    icc.N = 3
    intent = pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent,
        S=pikepdf.Name.GTS_PDFA1,  # the subtype PDF/A-2 also uses
        OutputConditionIdentifier=pikepdf.String("sRGB"),
        Info=pikepdf.String("sRGB IEC61966-2.1"),
        DestOutputProfile=pdf.make_indirect(icc),
    )
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(intent)])


def _save_atomically(pdf: pikepdf.Pdf, out: Path) -> None:
    # a half-written archive file must never sit under the final name
    partial = out.with_name(out.name + ".partial")
    try:
        pdf.save(partial, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                 compress_streams=True)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
