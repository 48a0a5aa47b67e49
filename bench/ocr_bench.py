"""OCR benchmark: every engine on the same clean and degraded pages, in one run.

``make bench-ocr`` (or ``.venv/bin/python bench/ocr_bench.py``) renders a fixed
set of synthetic 低保 form pages with the demo generator (fixed seed; a clean
and a degraded copy of each page, ground truth known), takes the real scans
of ``../shared/corpus/real`` that have ground truth, and runs each engine
through the pipeline's own per-page OCR job (orientation, clean-up, engine).
Printed per engine and set:

* CER: character error rate, edit distance / ground-truth characters, after
  NFKC (full-width forms -> ASCII) and with all whitespace removed (table
  cells and Tesseract's word spaces are layout, not content);
* order-free CER: the same, with reading order ignored (the fewest
  insertions, deletions and substitutions between the two texts' character
  multisets), so that a table or two columns read in another order counts
  only for the characters misread, dropped or added;
* IDs / household numbers: how many printed 18-digit ID numbers and
  household numbers appear exactly in the OCR text;
* s/page on one core (one process, in this process) and with all cores
  (``OcrPool``, one worker per core, models loaded before the clock starts);
* peak resident memory of one worker process.

Timings on a shared machine are noisy: compare engines within one run only.
The rendered pages are cached (rendering 40 pages takes about 2 minutes).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import sys
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from ingest.ocr import engine_names, get_engine  # noqa: E402
from ingest.ocr.worker import OcrPool, ocr_page, warm_up  # noqa: E402

SEED = 2024  # 4 households x 5 types: 20 pages printing 34 ID numbers and 16 household numbers
HOUSEHOLDS = 4  # x 5 document types = 20 pages per set
REAL = ROOT.parent / "shared" / "corpus" / "real"
# real scans with ground truth (SOURCES.md says which text belongs to which input)
REAL_CASES = {
    "scan-brochure-2col-jbig2-letter-300dpi.pdf": "scan-brochure-2col.groundtruth.txt",
    "tiff-g4-magazine-page-degraded-300dpi.tif": "tiff-g4-magazine-page-degraded.groundtruth.txt",
    "tiff-g4-magazine-spread-landscape-300dpi.tif": "tiff-g4-magazine-spread.groundtruth.txt",
    "tiff-page-rotated-90-in-pixels-lzw.tif": "tiff-page-rotated-90.groundtruth.txt",
}
ID_RE = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9X](?![0-9X])")
HOUSEHOLD_RE = re.compile(r"(?<![0-9])[0-9]{12}-[0-9]{4}(?![0-9])")
ENGINES = ("tesseract", "rapidocr", "tesseract+rapidocr")


@dataclass
class Page:
    name: str
    raster: Path
    truth: str


@dataclass
class Result:
    engine: str
    set: str
    pages: int
    chars: int
    edits: int
    ids: int
    ids_found: int
    households: int
    households_found: int
    s_per_page_1: float
    cpu_per_page: float = 0.0  # CPU seconds per page, OCR child processes (Tesseract) included
    s_per_page_all: float | None = None
    workers: int = 0
    worker_peak_mb: float | None = None
    second_engine_pages: int = 0  # pages a cascade handed to its second engine
    edits_order_free: int = 0
    engine_name: str = ""  # the engine's own name: package version and models
    per_page_cer: dict[str, float] = field(default_factory=dict)

    @property
    def cer(self) -> float:
        return self.edits / self.chars if self.chars else 0.0

    @property
    def cer_order_free(self) -> float:
        return self.edits_order_free / self.chars if self.chars else 0.0


# -- text metrics ----------------------------------------------------------------
def normalise(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def order_free_edit_distance(a: str, b: str) -> int:
    """Edits between ``a`` and ``b`` with reading order ignored.

    Between two multisets of characters the fewest insertions, deletions and
    substitutions is the larger of the two one-sided differences.
    """
    ca, cb = collections.Counter(a), collections.Counter(b)
    return max(sum((ca - cb).values()), sum((cb - ca).values()))


def exact_matches(pattern: re.Pattern, truth: str, ocr: str) -> tuple[int, int]:
    """(printed, found exactly in the OCR text) for the numbers ``pattern`` finds in the truth."""
    wanted = pattern.findall(normalise(truth))
    text = normalise(ocr)
    return len(wanted), sum(1 for value in set(wanted) for _ in range(min(wanted.count(value),
                                                                         text.count(value))))


# -- inputs --------------------------------------------------------------------------
def synthetic_pages(cache: Path, seed: int, households: int) -> dict[str, list[Page]]:
    from ingest.synthetic import generate_dossier_set

    sets = {}
    for name, degraded in (("clean", False), ("degraded", True)):
        folder = cache / f"seed{seed}-h{households}-{name}"
        if not (folder / "manifest.json").is_file():
            print(f"rendering the {name} pages (seed {seed}) into {folder} ...", file=sys.stderr)
            generate_dossier_set(folder, seed=seed, households=households, degraded=degraded)
        sets[name] = [Page(f"{p.parent.name}/{p.stem}", p, p.with_suffix(".txt").read_text("utf-8"))
                      for p in sorted(folder.glob("*/*.png"))]
    return sets


def real_pages(cache: Path) -> list[Page]:
    """The real scans with ground truth, rasterised by the ingest pipeline's own reader."""
    from ingest.sources import normalize

    pages = []
    for source, truth in REAL_CASES.items():
        path = REAL / source
        if not path.is_file():
            print(f"skipping {source}: not found under {REAL}", file=sys.stderr)
            continue
        work = cache / "real" / path.stem
        if not work.is_dir():
            work.mkdir(parents=True)
            normalize(path, work)
        rasters = sorted(work.rglob("*.png"))
        if len(rasters) != 1:
            print(f"skipping {source}: expected one page, got {len(rasters)}", file=sys.stderr)
            continue
        pages.append(Page(source, rasters[0], (REAL / "groundtruth" / truth).read_text("utf-8")))
    return pages


# -- running -------------------------------------------------------------------------
def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (Tesseract runs as a child)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def run_one_process(engine: str, pages: list[Page]) -> tuple[list[str], float, float, int, str]:
    """OCR text per page, wall and CPU seconds per page, pages read by a cascade's second
    engine, and the engine's own name."""
    name = warm_up(engine)
    texts, second = [], 0
    started, cpu = time.perf_counter(), _cpu_seconds()
    for i, page in enumerate(pages, 1):
        result = ocr_page(i, page.raster, engine)
        texts.append(result.ocr.text)
        second += "rapidocr" in result.ocr.engine and "+" in engine
    return (texts, (time.perf_counter() - started) / len(pages),
            (_cpu_seconds() - cpu) / len(pages), second, name)


def run_all_cores(engine: str, pages: list[Page], workers: int) -> tuple[float, float | None]:
    """Wall seconds per page with one worker per core, and the largest worker's peak RSS (MB)."""
    with OcrPool(engine, workers) as pool:
        pool.warm_up()
        started = time.perf_counter()
        pool.run([(i, p.raster) for i, p in enumerate(pages, 1)])
        seconds = (time.perf_counter() - started) / len(pages)
        peak = _peak_rss_mb(pool)
    return seconds, peak


def _peak_rss_mb(pool: OcrPool) -> float | None:
    peaks = []
    for pid in list(getattr(pool._executor, "_processes", {}) or {}):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return max(peaks) if peaks else None


def measure(engine: str, set_name: str, pages: list[Page], workers: int, parallel: bool) -> Result:
    texts, one, cpu, second, name = run_one_process(engine, pages)
    result = Result(engine=engine, set=set_name, pages=len(pages), chars=0, edits=0, ids=0,
                    ids_found=0, households=0, households_found=0, s_per_page_1=one,
                    cpu_per_page=cpu, second_engine_pages=second, engine_name=name)
    for page, text in zip(pages, texts):
        truth, read = normalise(page.truth), normalise(text)
        edits = edit_distance(truth, read)
        result.chars += len(truth)
        result.edits += edits
        result.edits_order_free += order_free_edit_distance(truth, read)
        result.per_page_cer[page.name] = round(edits / max(1, len(truth)), 4)
        n, found = exact_matches(ID_RE, page.truth, text)
        result.ids, result.ids_found = result.ids + n, result.ids_found + found
        n, found = exact_matches(HOUSEHOLD_RE, page.truth, text)
        result.households, result.households_found = result.households + n, result.households_found + found
    if parallel:
        result.s_per_page_all, result.worker_peak_mb = run_all_cores(engine, pages, workers)
        result.workers = workers
    return result


# -- report --------------------------------------------------------------------------
def table(results: list[Result]) -> str:
    rows = ["| engine | set | pages | CER | CER order-free | IDs exact | household no. exact "
            "| s/page, 1 core | CPU s/page | s/page, all cores (workers) | worker peak RSS "
            "| pages to 2nd engine |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ids = f"{r.ids_found}/{r.ids}" if r.ids else "—"
        households = f"{r.households_found}/{r.households}" if r.households else "—"
        every = f"{r.s_per_page_all:.2f} ({r.workers})" if r.s_per_page_all is not None else "—"
        peak = f"{r.worker_peak_mb:.0f} MB" if r.worker_peak_mb else "—"
        second = str(r.second_engine_pages) if "+" in r.engine else "—"
        rows.append(f"| {r.engine} | {r.set} | {r.pages} | {100 * r.cer:.2f}% | "
                    f"{100 * r.cer_order_free:.2f}% | {ids} | "
                    f"{households} | {r.s_per_page_1:.2f} | {r.cpu_per_page:.2f} | {every} | {peak} "
                    f"| {second} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"comma-separated, from: {', '.join(engine_names())}")
    parser.add_argument("--sets", default="clean,degraded,real")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--households", type=int, default=HOUSEHOLDS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-parallel", action="store_true", help="skip the all-cores timing")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "hudang-ocr-bench")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        get_engine(engine)  # unknown names fail before minutes of rendering
    wanted = {s.strip() for s in args.sets.split(",")}
    args.cache.mkdir(parents=True, exist_ok=True)
    sets = {k: v for k, v in synthetic_pages(args.cache, args.seed, args.households).items()
            if k in wanted} if wanted & {"clean", "degraded"} else {}
    if "real" in wanted:
        sets["real"] = real_pages(args.cache)

    results = []
    for engine in engines:
        for set_name, pages in sets.items():
            if not pages:
                continue
            print(f"{engine} on {set_name} ({len(pages)} pages) ...", file=sys.stderr)
            result = measure(engine, set_name, pages, args.workers, not args.no_parallel)
            results.append(result)
            print(table([result]).splitlines()[-1], file=sys.stderr)
    print(f"\nOCR benchmark: seed {args.seed}, {args.households} households, "
          f"{args.workers} workers, {os.cpu_count()} CPUs\n")
    print(table(results))
    print("\nEngines: " + "; ".join(sorted({f"{r.engine} = {r.engine_name}" for r in results})))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"cer": r.cer, "cer_order_free": r.cer_order_free}
                                         for r in results], indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
