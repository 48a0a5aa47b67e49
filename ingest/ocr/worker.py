"""Per-page OCR jobs and the process pool that runs them.

Workers only compute and return ``PageOcrResult``s; the parent process writes
files and moves the progress bar, so no worker ever touches shared state. Workers
end when the process that owns the pool ends (``ingest.lifeline``).
"""
from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PIL import Image

from . import canonical_engine_name, default_engine_name, get_engine
from ..access_image import access_image
from ..journal import work_dir
from ..lifeline import die_with_owner
from .base import OcrEngine, OcrFailed, OcrPage
from .orientation import detect_rotation, reads_upright, rotate_clockwise
from .preprocess import prepare

# per worker process: engines (and RapidOCR's models, seconds to load) are
# created on first use and reused for every later page and document
_engines: dict[str, OcrEngine] = {}
# per worker process: the data home's work space, for Tesseract's files (None: the system's)
_tmp_dir: Path | None = None


@dataclass
class PageOcrResult:
    number: int
    rotation: int  # clockwise degrees applied to the raster before OCR (0/90/180/270)
    ocr: OcrPage  # boxes are in the ROTATED (upright) image's pixels, skew already undone
    seconds: float
    skew: float = 0.0  # degrees of skew removed from the copy the engine read
    # the page's access JPEG (bytes, width, height) from the upright raster, when asked for
    access: tuple[bytes, int, int] | None = None


def _engine(name: str) -> OcrEngine:
    if name not in _engines:
        _engines[name] = get_engine(name)
    return _engines[name]


def recognize_upright(engine: OcrEngine, upright: Image.Image) -> tuple[OcrPage, float]:
    """Clean up a copy of ``upright``, OCR it, and map the boxes back onto ``upright``.

    Returns the OCR result (boxes in ``upright``'s pixels) and the skew removed.
    ``upright`` itself is not changed: it is what the archive keeps.
    """
    cleaned, cleanup = prepare(upright)
    return cleanup.map_page(engine.recognize(cleaned)), cleanup.skew


def ocr_page(number: int, raster: Path, engine_name: str, detect: bool = True,
             access: bool = False) -> PageOcrResult:
    """:func:`read_page`, with Tesseract's files kept out of the system's temp folder."""
    with _private_tempfiles():
        return read_page(number, raster, engine_name, detect, access)


@contextmanager
def _private_tempfiles() -> Iterator[None]:
    """pytesseract hands Tesseract the page as a temp file: put it in a locked work directory
    of the data home (``ingest.journal.work_dir``), not /tmp, so that it is removed after
    the page, or by the next recovery when the worker is killed mid-page."""
    if _tmp_dir is None:
        yield
        return
    with work_dir(_tmp_dir, "ocr") as folder:
        previous, tempfile.tempdir = tempfile.tempdir, str(folder)
        try:
            yield
        finally:
            tempfile.tempdir = previous


def read_page(number: int, raster: Path, engine_name: str, detect: bool = True,
              access: bool = False) -> PageOcrResult:
    """Detect orientation (optionally), turn the raster upright, clean up a copy and OCR it.

    An engine with ``upright_confidence`` reads the page as it is first and
    only searches for the orientation when that reading does not look upright
    (``reads_upright``): most pages are upright, and the search costs about
    a second per page. With ``access`` the worker also makes the page's
    access JPEG from the upright raster it holds (``ingest.access_image``),
    so that work runs in parallel instead of in the parent after OCR.
    """
    started = time.perf_counter()
    engine = _engine(engine_name)
    with Image.open(raster) as image:
        image.load()
    trusted = getattr(engine, "upright_confidence", None)
    first: tuple[OcrPage, float] | None = None
    rotation = None
    if detect and trusted is not None:
        first = recognize_upright(engine, image)
        if reads_upright(first[0], trusted):
            rotation, (ocr, skew), upright = 0, first, image
    if rotation is None:
        rotation = detect_rotation(image) if detect else 0
        upright = rotate_clockwise(image, rotation)
        if rotation == 0 and first is not None:
            ocr, skew = first
        else:
            ocr, skew = recognize_upright(engine, upright)
    result = PageOcrResult(number=number, rotation=rotation, ocr=ocr,
                           seconds=time.perf_counter() - started, skew=skew,
                           access=access_image(upright) if access else None)
    _give_back_memory()
    return result


def _give_back_memory() -> None:
    """Return the page's freed buffers to the OS (glibc keeps them otherwise).

    onnxruntime's activations for one A4 page are a few hundred MB; glibc's
    malloc keeps the freed pages, so an idle RapidOCR worker stayed at about
    470 MB after its first page instead of the 190 MB its models need.
    ``malloc_trim`` gives them back in a few milliseconds.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only; musl and macOS have none
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


def warm_up(engine_name: str) -> str:
    """Load the engine in this worker (RapidOCR's models take seconds); returns its name."""
    engine = _engine(engine_name)
    load = getattr(engine, "load", None)
    if load is not None:
        load()
    for part in ("first", "second"):  # a cascade: load both engines
        inner = getattr(engine, part, None)
        if inner is not None and getattr(inner, "load", None) is not None:
            inner.load()
    return engine.name


def _init_worker(owner: int, tmp_dir: str | None) -> None:
    global _tmp_dir
    # a worker outlives nobody: when the process that made the pool dies, even by
    # SIGKILL, the worker and its Tesseract go too (and with them the forkserver)
    die_with_owner(owner)
    _tmp_dir = Path(tmp_dir) if tmp_dir else None
    # Tesseract's OpenMP threads fight the other worker processes for the
    # cores (measured 3.7x slower on 2 cores); one thread per process is best
    os.environ["OMP_THREAD_LIMIT"] = "1"


class OcrPool:
    """A pool of OCR worker processes kept alive across pages and documents."""

    def __init__(self, engine_name: str | None = None, workers: int | None = None,
                 tmp_dir: Path | None = None) -> None:
        """``tmp_dir``: the data home's work space, where Tesseract's files go."""
        # fail fast in the parent on an unknown engine name; None: the deployment default
        self.engine_name = canonical_engine_name(engine_name or default_engine_name())
        self.workers = workers or os.cpu_count() or 1
        # forkserver/spawn: forking a parent that may hold threads, open
        # databases or encryption keys would copy all of that into workers
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._context = multiprocessing.get_context(method)
        if method == "forkserver":
            # workers fork from a server that has imported this module once, instead of
            # each importing it for seconds (during which nothing would end an orphan)
            self._context.set_forkserver_preload(["__main__", __name__])
        self._tmp_dir = str(tmp_dir) if tmp_dir else None
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context,
                                   initializer=_init_worker,
                                   initargs=(os.getpid(), self._tmp_dir))

    def run(self, jobs: list[tuple[int, Path]], progress: Callable[[int], None] | None = None,
            detect: bool = True, access: bool = False) -> list[PageOcrResult]:
        """OCR (page number, raster) jobs; results in page order, progress(1) per finished page.

        A worker process that dies (the kernel's OOM killer, a crash inside the engine)
        breaks a ``ProcessPoolExecutor`` for good: the pool starts fresh processes and reads
        the pages not yet read once more; a second death is :class:`OcrFailed`, and the pool
        is fresh again for the next document (a long-lived pool, as a job worker's, heals).
        """
        results: dict[int, PageOcrResult] = {}
        for attempt in (1, 2):
            try:
                self._run(jobs, results, progress, detect, access)
                break
            except BrokenProcessPool:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
                if attempt == 2:
                    raise OcrFailed("an OCR process ended unexpectedly twice (out of memory, or "
                                    "the engine crashed on a page); try again, or with "
                                    "another OCR engine") from None
        return [results[number] for number in sorted(results)]

    def _run(self, jobs: list[tuple[int, Path]], results: dict[int, PageOcrResult],
             progress: Callable[[int], None] | None, detect: bool, access: bool) -> None:
        """OCR the ``jobs`` not yet in ``results`` into it."""
        futures: list[Future[PageOcrResult]] = []
        try:
            for number, raster in jobs:
                if number not in results:
                    futures.append(self._executor.submit(ocr_page, number, raster,
                                                         self.engine_name, detect, access))
            for future in as_completed(futures):
                result = self._collect(future, progress)
                results[result.number] = result
        except BaseException:
            for future in futures:
                future.cancel()  # do not keep burning CPU for a batch that already failed
            raise

    def warm_up(self) -> None:
        """Load the engine in every worker now (the first pages would otherwise pay for it)."""
        futures = [self._executor.submit(warm_up, self.engine_name) for _ in range(self.workers)]
        for future in futures:
            future.result()

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
