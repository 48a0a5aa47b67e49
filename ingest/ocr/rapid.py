"""RapidOCR engine: PaddleOCR's PP-OCRv4 models run by onnxruntime.

The ``rapidocr_onnxruntime`` 1.x wheel carries its ONNX models inside the
package and has no download path, so it works offline; :func:`model_paths`
says where they are. Loading the models takes seconds, so one model set is
loaded lazily per process and reused by every engine instance in it
(``OcrPool`` keeps its worker processes alive for the same reason).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from .base import OcrFailed, OcrLine, OcrPage, OcrWord
from .text import join_words, remove_han_spaces

# one onnxruntime thread per model: hudang parallelises by page with worker
# processes, and two processes x two threads on two cores was measured slower
# (3.7 s vs 2.5 s CPU per page)
_SESSION_OPTIONS = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
# RapidOCR scales a page so its long side is at most this before detection,
# and cuts the lines for recognition from that copy. An A4 page at 300 dpi is
# 3508 px; at 1600 px (137 dpi) detection takes half the CPU it takes at the
# package's default 2000 and the dossier pages read as well (character errors
# 1.72% -> 1.59% clean, 2.36% -> 2.53% degraded, before seal removal; the
# detection share of a page fell from 1.2 s to 0.66 s; docs/ocr.md).
MAX_SIDE_LEN = 1600
# recognition one line at a time: RapidOCR pads every line of a batch to the
# widest one, so its default batch of 6 spent 35% more CPU on recognition
# (1.35 s vs 0.96-1.03 s a page) and read slightly worse (0.29% vs 0.21% CER)
REC_BATCH = 1
_LOAD_LOCK = threading.Lock()


def _package():
    try:
        import rapidocr_onnxruntime
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise OcrFailed("RapidOCR is not installed (pip install 'rapidocr_onnxruntime>=1.3,<1.5')"
                        ) from exc
    return rapidocr_onnxruntime


def model_paths() -> dict[str, Path]:
    """The ONNX model files RapidOCR loads (detection, classification, recognition)."""
    package = _package()
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    paths = {part: Path(config[part]["model_path"]).resolve() for part in ("Det", "Cls", "Rec")}
    root = Path(package.__file__).resolve().parent
    for part, path in paths.items():
        # never a cache or download directory: the models ship in the wheel
        if root not in path.parents or not path.is_file():
            raise OcrFailed(f"RapidOCR's {part} model is missing from {root} "
                            "(reinstall rapidocr_onnxruntime)")
    return paths


@lru_cache(maxsize=1)
def _model():
    """The process's one loaded RapidOCR (4-7 s to load, so loaded once and kept)."""
    with _LOAD_LOCK:
        package = _package()
        model_paths()  # fail with a clear message before onnxruntime does
        return package.RapidOCR(max_side_len=MAX_SIDE_LEN, rec_batch_num=REC_BATCH,
                                **_SESSION_OPTIONS)


@lru_cache(maxsize=1)
def rapidocr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rapidocr_onnxruntime")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _box(points) -> tuple[int, int, int, int]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (int(round(min(xs))), int(round(min(ys))), int(round(max(xs))), int(round(max(ys))))


def _to_bgr(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _line(row: list) -> OcrLine | None:
    # with return_word_box: [quad, text, score, word quads, word texts, word scores]
    quad, raw_text, score = row[0], str(row[1]), float(row[2])
    text = remove_han_spaces(raw_text.strip())
    if not text:
        return None
    words: tuple[OcrWord, ...] = ()
    if len(row) >= 5 and row[3] and len(row[3]) == len(row[4]):
        scores = row[5] if len(row) >= 6 and len(row[5]) == len(row[4]) else [score] * len(row[4])
        candidate = tuple(OcrWord(text=str(t), box=_box(q), confidence=_percent(s))
                          for q, t, s in zip(row[3], row[4], scores) if str(t).strip())
        # words are only kept when they spell the line: the text layer relies on it.
        # RapidOCR boxes Han characters and digits one by one, so "2","2","0"... spell
        # "220..." with no spaces (ingest.redaction needs those digit boxes)
        spelled = [w.text for w in candidate]
        if candidate and (join_words(spelled) == text
                          or "".join(spelled) == text.replace(" ", "")):
            words = candidate
    return OcrLine(text=text, box=_box(quad), confidence=_percent(score), words=words)


def _percent(score: float) -> float:
    return max(0.0, min(100.0, float(score) * 100.0))


class RapidOcrEngine:
    """OCR with RapidOCR (PP-OCRv4 detection + recognition, onnxruntime on the CPU).

    No line-orientation classifier: pages reach the engine upright
    (``orientation.py``), and skipping it saves a model pass per line.
    """

    # an as-is reading at this confidence, in wide lines, is taken as upright
    # (orientation.reads_upright): upright pages measured 97-99
    upright_confidence = 80.0

    def __init__(self) -> None:
        self._loaded = False

    @property
    def name(self) -> str:
        return f"rapidocr-{rapidocr_version()} PP-OCRv4"

    def load(self) -> None:
        """Load the models now (otherwise the first ``recognize`` does)."""
        _model()
        self._loaded = True

    def recognize(self, image: Image.Image) -> OcrPage:
        model = _model()
        try:
            rows, _ = model(_to_bgr(image), use_cls=False, return_word_box=True)
        except Exception as exc:  # onnxruntime raises its own types; one line for the operator
            raise OcrFailed(f"RapidOCR failed: {type(exc).__name__}") from exc
        lines = [line for line in (_line(row) for row in rows or []) if line is not None]
        return OcrPage(width=image.width, height=image.height, lines=lines, engine=self.name)
