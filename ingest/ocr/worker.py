"""Per-page OCR jobs and the process pool that runs them.

Workers only compute and return ``PageOcrResult``s; the parent process writes
files and moves the progress bar, so no worker ever touches shared state.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PIL import Image

from . import get_engine
from .base import OcrEngine, OcrPage
from .orientation import detect_rotation, rotate_clockwise

_engines: dict[str, OcrEngine] = {}  # per worker process: engines are reused across pages


@dataclass
class PageOcrResult:
    number: int
    rotation: int  # clockwise degrees applied to the raster before OCR (0/90/180/270)
    ocr: OcrPage  # boxes are in the ROTATED (upright) image's pixels
    seconds: float


def _engine(name: str) -> OcrEngine:
    if name not in _engines:
        _engines[name] = get_engine(name)
    return _engines[name]


def ocr_page(number: int, raster: Path, engine_name: str, detect: bool = True) -> PageOcrResult:
    """Detect orientation (optionally), turn the raster upright and OCR it."""
    started = time.perf_counter()
    engine = _engine(engine_name)
    with Image.open(raster) as image:
        image.load()
    rotation = detect_rotation(image) if detect else 0
    ocr = engine.recognize(rotate_clockwise(image, rotation))
    return PageOcrResult(number=number, rotation=rotation, ocr=ocr,
                         seconds=time.perf_counter() - started)


def _init_worker() -> None:
    # Tesseract's OpenMP threads fight the other worker processes for the
    # cores (measured 3.7x slower on 2 cores); one thread per process is best
    os.environ["OMP_THREAD_LIMIT"] = "1"


class OcrPool:
    """A pool of OCR worker processes kept alive across pages and documents."""

    def __init__(self, engine_name: str = "tesseract", workers: int | None = None) -> None:
        get_engine(engine_name)  # fail fast in the parent on an unknown engine name
        self.engine_name = engine_name
        self.workers = workers or os.cpu_count() or 1
        # forkserver/spawn: forking a parent that may hold threads, open
        # databases or encryption keys would copy all of that into workers
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
        )

    def run(self, jobs: list[tuple[int, Path]], progress: Callable[[int], None] | None = None,
            detect: bool = True) -> list[PageOcrResult]:
        """OCR (page number, raster) jobs; results in page order, progress(1) per finished page."""
        futures: dict[Future[PageOcrResult], int] = {
            self._executor.submit(ocr_page, number, raster, self.engine_name, detect): number
            for number, raster in jobs
        }
        try:
            results = [self._collect(future, progress) for future in as_completed(futures)]
        except BaseException:
            for future in futures:
                future.cancel()  # do not keep burning CPU for a batch that already failed
            raise
        return sorted(results, key=lambda result: result.number)

    @staticmethod
    def _collect(future: Future[PageOcrResult],
                 progress: Callable[[int], None] | None) -> PageOcrResult:
        result = future.result()
        if progress is not None:
            progress(1)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OcrPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
