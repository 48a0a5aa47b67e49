"""RapidOCR engine: PaddleOCR's PP-OCR models run by onnxruntime.

The ``rapidocr`` 3.x wheel carries its default ONNX models (PP-OCRv6 small
detection and recognition) inside the package. The package can also
download other models, so hudang never lets it choose: :func:`model_paths`
asks the package which files its defaults are, refuses any that its wheel
did not install, and the engine is built with those exact paths, which
skips the package's download step altogether.

Loading the models takes seconds, so one model set is loaded per process and
reused by every engine instance in it (``OcrPool`` keeps its worker
processes alive for the same reason).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from .base import OcrFailed, OcrLine, OcrPage, OcrWord
from .text import join_words, remove_han_spaces

REQUIREMENT = "rapidocr>=3.10,<4"
# one onnxruntime thread per model: hudang parallelises by page with worker
# processes; two processes x two threads on two cores was measured slower
# (rapidocr_onnxruntime 1.4: 3.7 s vs 2.5 s CPU per page; docs/ocr.md)
THREADS = 1
# RapidOCR scales a page so its long side is at most this before detection,
# and cuts the lines for recognition from that copy. An A4 page at 300 dpi is
# 3508 px; the package's default is 2000. With PP-OCRv4, 1600 halved detection
# time and read as well as 2000; PP-OCRv6 at 1600 reads the benchmark pages
# better than PP-OCRv4 did (other sizes not measured again; docs/ocr.md).
MAX_SIDE_LEN = 1600
# recognition one line at a time: RapidOCR (3.10 too) pads every line of a
# batch to the widest one; with PP-OCRv4 its default batch of 6 spent 35% more
# CPU on recognition and read slightly worse (not measured again for PP-OCRv6)
REC_BATCH = 1
# the package's parts whose models hudang loads ("Cls", the line-orientation
# classifier, is never run: pages reach the engine upright)
PARTS = ("Det", "Rec")
_LOAD_LOCK = threading.Lock()


def _package():
    try:
        import rapidocr
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise OcrFailed(f"RapidOCR is not installed (pip install '{REQUIREMENT}' onnxruntime)"
                        ) from exc
    return rapidocr


def _default_config():
    """The package's own default configuration (its ``config.yaml``), as RapidOCR reads it."""
    _package()
    from rapidocr.main import DEFAULT_CFG_PATH
    from rapidocr.utils.parse_parameters import ParseParams

    return ParseParams.load(DEFAULT_CFG_PATH)


def model_paths() -> dict[str, Path]:
    """The ONNX model files hudang's RapidOCR loads, by part ("Det", "Rec").

    They are the package's default models, as the package itself resolves
    them, and each must be a file its wheel installed: inside the package
    and listed in the installed package's RECORD, never a file fetched into
    it later, a cache or a download directory (OcrFailed otherwise).
    """
    package = _package()
    from rapidocr.inference_engine.base import FileInfo, InferSession

    root = Path(package.__file__).resolve().parent
    config = _default_config()
    shipped = _files_from_the_wheel()
    paths = {}
    for part in PARTS:
        section = config[part]
        where = InferSession.get_model_url(FileInfo(
            engine_type=section.engine_type, ocr_version=section.ocr_version,
            task_type=section.task_type, lang_type=section.lang_type,
            model_type=section.model_type))
        # the package keeps a default model under its URL's file name in models/
        path = (root / "models" / Path(str(where["model_dir"])).name).resolve()
        if root not in path.parents or not path.is_file() or path not in shipped:
            raise OcrFailed(f"RapidOCR's {part} model is not in its installed wheel at "
                            f"{root / 'models'} (reinstall '{REQUIREMENT}')")
        paths[part] = path
    return paths


def _files_from_the_wheel() -> set[Path]:
    """Every file the installed ``rapidocr`` distribution lists in its RECORD."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("rapidocr")
    except PackageNotFoundError as exc:  # pragma: no cover - checked by _package() first
        raise OcrFailed(f"RapidOCR is not installed (pip install '{REQUIREMENT}')") from exc
    return {Path(str(dist.locate_file(f))).resolve() for f in dist.files or ()}


@lru_cache(maxsize=1)
def model_version() -> str:
    """The PP-OCR generation of the models loaded, e.g. ``PP-OCRv6``."""
    versions = {_default_config()[part].ocr_version.value for part in PARTS}
    return "+".join(sorted(versions))


def _params() -> dict[str, object]:
    params: dict[str, object] = {
        "Global.max_side_len": MAX_SIDE_LEN,
        "Global.use_cls": False,
        # single character boxes: every character, digits of ID numbers included,
        # gets its own box (ingest.redaction covers ID digits from them)
        "Global.return_word_box": True,
        "Global.return_single_char_box": True,
        # its INFO lines name model files, its warnings say "nothing detected" on
        # blank pages: neither is for an operator
        "Global.log_level": "error",
        "Rec.rec_batch_num": REC_BATCH,
        "EngineConfig.onnxruntime.intra_op_num_threads": THREADS,
        "EngineConfig.onnxruntime.inter_op_num_threads": THREADS,
    }
    for part, path in model_paths().items():
        params[f"{part}.model_path"] = str(path)  # an explicit path: no download step
    return params


@lru_cache(maxsize=1)
def _model():
    """The process's one loaded RapidOCR (seconds to load, so loaded once and kept)."""
    with _LOAD_LOCK:
        _package()
        from rapidocr import RapidOCR

        model = RapidOCR(params=_params())
        # RapidOCR 3 loads each model on first use; load them now, so that
        # ``load()`` (OcrPool.warm_up) pays the cost before the first page
        model._load_det_model()
        model._load_rec_model()
        return model


@lru_cache(maxsize=1)
def rapidocr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rapidocr")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _box(points) -> tuple[int, int, int, int]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (int(round(min(xs))), int(round(min(ys))), int(round(max(xs))), int(round(max(ys))))


def _to_bgr(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _words(raw_text: str, text: str, score: float, found) -> tuple[OcrWord, ...]:
    """The line's character boxes, kept only when they spell the line (the text layer relies on it).

    ``found`` is RapidOCR's ((character, score, quad), ...) for one line.
    Its per-character scores are aligned with the characters only when the
    line has no spaces (RapidOCR 3.10 counts spaces in its score list, not in
    its character list); otherwise each character takes the line's score.
    """
    if not found:
        return ()
    aligned = not any(c.isspace() for c in raw_text.strip())
    candidate = tuple(
        OcrWord(text=str(t), box=_box(q), confidence=_percent(s if aligned else score))
        for t, s, q in found if str(t).strip())
    spelled = [w.text for w in candidate]
    # "2","2","0"... spell "220..." with no spaces: compare without spaces too
    if candidate and (join_words(spelled) == text or "".join(spelled) == text.replace(" ", "")):
        return candidate
    return ()


def _lines(result) -> list[OcrLine]:
    if result is None or getattr(result, "txts", None) is None or result.boxes is None:
        return []  # nothing detected (a blank page)
    rows = list(zip(result.boxes, result.txts, result.scores))
    found = [f if isinstance(f, (tuple, list)) else () for f in
             (getattr(result, "word_results", None) or ())]
    # RapidOCR leaves out the character list of a line it could not box, so the
    # lists can fall out of step with the lines: then each line takes the next
    # list that spells it
    in_step, next_list = len(found) == len(rows), 0
    lines = []
    for i, (quad, raw, score) in enumerate(rows):
        raw_text, score = str(raw), float(score)
        text = remove_han_spaces(raw_text.strip())
        if not text:
            continue
        words: tuple[OcrWord, ...] = ()
        for k in ([i] if in_step else range(next_list, len(found))):
            words = _words(raw_text, text, score, found[k])
            if words:
                next_list = k + 1
                break
        lines.append(OcrLine(text=text, box=_box(quad), confidence=_percent(score), words=words))
    return lines


def _percent(score: float) -> float:
    return max(0.0, min(100.0, float(score) * 100.0))


class RapidOcrEngine:
    """OCR with RapidOCR (PP-OCR detection + recognition, onnxruntime on the CPU).

    No line-orientation classifier: pages reach the engine upright
    (``orientation.py``), and skipping it saves a model pass per line.
    """

    # an as-is reading at this confidence, in wide lines, is taken as upright
    # (orientation.reads_upright). PP-OCRv6 measured 99.2-100 on the 40 upright
    # benchmark pages and 65-77 (18-157 characters) on the same pages upside
    # down, so 80 (chosen for PP-OCRv4, which read almost nothing upside down)
    # would leave too thin a margin
    upright_confidence = 90.0

    def __init__(self) -> None:
        self._loaded = False

    @property
    def name(self) -> str:
        return f"rapidocr-{rapidocr_version()} {model_version()}"

    def load(self) -> None:
        """Load the models now (otherwise the first ``recognize`` does)."""
        _model()
        self._loaded = True

    def recognize(self, image: Image.Image) -> OcrPage:
        model = _model()
        try:
            result = model(_to_bgr(image), use_cls=False, return_word_box=True,
                           return_single_char_box=True)
        except Exception as exc:  # onnxruntime raises its own types; one line for the operator
            raise OcrFailed(f"RapidOCR failed: {type(exc).__name__}") from exc
        return OcrPage(width=image.width, height=image.height, lines=_lines(result),
                       engine=self.name)
