"""What a correct ingest does with each corpus file, per ../shared/corpus/SOURCES.md.

Shared by the source-level tests (test_sources.py) and the whole-pipeline
sweep (test_ingest_corpus.py), so both hold the corpus to one policy.
"""
from __future__ import annotations

from ingest.exceptions import (IngestError, PasswordProtected, ResourceLimit, UnreadableInput,
                               UnsupportedFormat)

REJECT = "reject"
# A rejection with the class it must have (a subclass of it is fine).
Reject = tuple[str, type[IngestError]]
Outcome = Reject | tuple[str, int]


def reject(cls: type[IngestError] = UnreadableInput) -> Reject:
    return (REJECT, cls)


# Per SOURCES.md. ('either', N): SOURCES allows a clean rejection or N pages.
HOSTILE: dict[str, Outcome] = {
    "gif-decompression-bomb-65535x66601.gif": reject(UnsupportedFormat),  # GIF is refused before decoding
    "heic-unsupported-format.heic": reject(UnsupportedFormat),
    "html-with-jpg-extension.jpg": reject(UnsupportedFormat),
    "jpeg-truncated.jpg": reject(),  # LOAD_TRUNCATED_IMAGES stays off
    "md5-collision-a-green-circle.jpg": ("pages", 1),
    "md5-collision-b-red-x.jpg": ("pages", 1),
    "pdf-bomb-ccitt-35000x35000.pdf": reject(ResourceLimit),
    "pdf-bomb-jbig2-streams-as-page-content.pdf": reject(),
    "pdf-broken-xref-entry.pdf": ("pages", 1),
    "pdf-content-stream-syntax-errors-4pages.pdf": ("pages", 4),
    "pdf-corrupt-jpeg-image-data.pdf": ("either", 1),
    "pdf-damaged-content-stream.pdf": ("either", 1),
    "pdf-encrypt-entry-not-a-dictionary.pdf": ("either", 1),
    "pdf-encrypted-aes256-userpw-user.pdf": reject(PasswordProtected),
    "pdf-encrypted-owner-only-digitally-signed.pdf": ("pages", 1),
    "pdf-encrypted-owner-only-empty-userpw-images.pdf": ("pages", 2),
    "pdf-encrypted-rc4-128-userpw-test.pdf": reject(PasswordProtected),
    "pdf-extension-but-text-content.pdf": reject(UnsupportedFormat),
    "pdf-garbage-bytes-before-header.pdf": ("pages", 2),
    "pdf-header-and-eof-only-44bytes.pdf": reject(),
    "pdf-javascript-openaction-no-page-kids.pdf": reject(),
    "pdf-jpeg-40000x512-extreme-aspect.pdf": ("either", 1),
    "pdf-missing-startxref-recoverable.pdf": ("pages", 1),
    "pdf-page-tree-loop.pdf": ("either", 1),
    "pdf-page-tree-too-deep.pdf": ("either", 1),
    "pdf-page-without-contents.pdf": ("pages", 1),
    "pdf-truncated-inside-stream.pdf": reject(),
    "pdf-utf8-bom-before-header.pdf": ("pages", 2),
    "pdf-xfa-dynamic-form-livecycle.pdf": reject(),
    "pdf-xref-prev-loop-30pages.pdf": ("either", 30),
    "pdf-zero-pages.pdf": reject(),
    "png-broken-80bytes.png": reject(),
    "png-truncated-image-data.png": reject(),
    "png-ztxt-decompression-bomb.png": reject(ResourceLimit),
    "postscript-with-pdf-extension.pdf": reject(UnsupportedFormat),
    "sha1-collision-a.pdf": ("pages", 1),
    "sha1-collision-b.pdf": ("pages", 1),
    "svg-with-png-extension.png": reject(UnsupportedFormat),
    "tiff-ifd-loop-multiframe.tiff": ("pages", 2),  # the loop is cut, as in Pillow
    "tiff-libtiff-segfault-cve-2016-0740.tif": reject(),
    "tiff-oom-huge-samples-per-pixel-88bytes.tif": reject(),
    "zero-byte-file.pdf": reject(UnsupportedFormat),
    "zip-with-pdf-extension.pdf": reject(UnsupportedFormat),
}

# Page counts from SOURCES.md (groundtruth/ holds expected OCR text, not inputs).
REAL: dict[str, int] = {
    "jpeg-cjk-chinese-exif-orientation-3.jpg": 1,
    "jpeg-cjk-japanese-sign-photo-240dpi.jpg": 1,
    "jpeg-cmyk-200dpi-multilingual-map.jpg": 1,
    "jpeg-exif-orientation-6.jpg": 1,
    "pdf-cjk-japanese-vertical-text-layer.pdf": 3,
    "pdf-cjk-simplified-chinese-text-layer.pdf": 1,
    "pdf-mixed-3-image-pages-3-text-pages.pdf": 6,
    "pdf-text-layer-already-ocred-sandwich.pdf": 1,
    "png-cjk-classical-chinese-vertical-book-scan.png": 1,
    "png-cjk-traditional-chinese.png": 1,
    "png-typewriter-palette-no-dpi.png": 1,
    "scan-2400dpi-tiny-page.pdf": 1,
    "scan-3pages-tiny-mixed-page-sizes.pdf": 3,
    "scan-4pages-baked-rotation-0-90-180-270-jbig2.pdf": 4,
    "scan-4pages-content-rotated-0-90-180-270-jpeg.pdf": 4,
    "scan-6pages-mixed-sizes-and-codecs.pdf": 6,
    "scan-anisotropic-dpi-200x100.pdf": 1,
    "scan-book-page-illustrated-jpeg.pdf": 1,
    "scan-brochure-2col-jbig2-letter-300dpi.pdf": 1,
    "scan-ccitt-g4-letter-300dpi.pdf": 1,
    "scan-congress-record-gray-jpeg.pdf": 1,
    "scan-epson-scanner-a4-ccitt-g4.pdf": 1,
    "scan-fax-3pages-ccitt-a4-with-barcode-sheet.pdf": 3,
    "scan-jbig2-global-dictionary.pdf": 1,
    "scan-jpeg2000-jpxdecode.pdf": 1,
    "scan-kodak-capture-handwriting-ccitt.pdf": 1,
    "scan-poster-page-25x50in-jpeg.pdf": 1,
    "scan-rotate90-and-skewed-jbig2.pdf": 1,
    "scan-table-form-ccitt-endofline.pdf": 1,
    "tiff-g4-magazine-page-degraded-300dpi.tif": 1,
    "tiff-g4-magazine-spread-landscape-300dpi.tif": 1,
    "tiff-g4-passport-instructions-200dpi.tif": 1,
    "tiff-multipage-3p-g4-a4-400dpi.tiff": 3,
    "tiff-multipage-3p-gray-deflate.tiff": 3,
    "tiff-multipage-3p-rgba-alpha-deflate.tiff": 3,
    "tiff-old-style-jpeg-ojpeg-gray-target.tif": 1,
    "tiff-orientation-tag-6-g4.tif": 1,
    "tiff-page-rotated-90-in-pixels-lzw.tif": 1,
}
