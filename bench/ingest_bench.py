"""Ingest against its limit (the OCR engine alone) and its peer (OCRmyPDF).

The same generated pages (fixed seed; clean and degraded copies) go through:

* ``engine``   - (a) ``get_engine(name).recognize`` in one process (name: hudang's
  default engine, ``HUDANG_OCR_ENGINE`` or ``ingest.ocr.DEFAULT_ENGINE``), and
  the ``OcrPool`` with one worker per core (``detect=False``: recognition only;
  ``detect=True``: what hudang's OCR job does, orientation detection included);
* ``hudang``   - (b) the ``Ingestor`` in-process (the code ``hudang ingest``
  runs, without interpreter start-up), each set as one multi-page TIFF, with
  1 worker and with one worker per core;
* ``ocrmypdf`` - (c) OCRmyPDF from its own venv (bench/.venv-ocrmypdf), on a
  lossless img2pdf PDF of the same PNGs (it takes no multi-page TIFF);
* ``memory``   - peak RSS of the whole ``hudang ingest`` CLI process tree
  (psutil, summed over children) for documents of two page counts.

Character error rate = Levenshtein distance / ground-truth characters, both
with all whitespace removed and NFKC-normalised. Texts are never printed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

from bench.common import REPO, PeakRSS, log, out_dir, profile_call, write_json

SEED = 20260
OCRMYPDF_VENV = REPO / "bench" / ".venv-ocrmypdf"
HOUSEHOLD = "220381105012-0042"
ID_RE = re.compile(r"\d{17}[\dX]")


# --------------------------------------------------------------------------- pages

def page_set(households: int, degraded: bool) -> list[tuple[Path, str]]:
    """(PNG path, ground truth) of the generated pages, cached under bench/out/pages."""
    from ingest.synthetic import Manifest, generate_dossier_set

    folder = out_dir("pages", f"seed{SEED}-h{households}-{'degraded' if degraded else 'clean'}")
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = Manifest.load(manifest_path)
    else:
        log(f"ingest: generating {households * 5} {'degraded' if degraded else 'clean'} pages (cached)")
        manifest = generate_dossier_set(folder, seed=SEED, households=households, degraded=degraded)
    return [(f, gt) for d in manifest.documents for f, gt in zip(d.files, d.ground_truth)]


def _norm(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", s).split()).upper()


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def quality(texts: list[str], truths: list[str]) -> dict:
    """CER (order-sensitive edit distance, so reading-order differences in
    tables count as errors) and an order-free figure: characters of the truth
    missing from the text as a multiset, plus extra characters."""
    dist = chars = ids = ids_ok = bag = 0
    for text, truth in zip(texts, truths):
        t, g = _norm(text), _norm(truth)
        dist += _levenshtein(t, g)
        chars += len(g)
        missing = Counter(g) - Counter(t)
        extra = Counter(t) - Counter(g)
        bag += max(sum(missing.values()), sum(extra.values()))
        for idn in ID_RE.findall(g):
            ids += 1
            ids_ok += idn in t
    return {"cer": dist / max(1, chars), "cer_bag": bag / max(1, chars), "gt_chars": chars, "ids_total": ids, "ids_exact": ids_ok}


# --------------------------------------------------------------------------- (a) engine

def engine_name() -> str:
    """The engine hudang ingests with: HUDANG_OCR_ENGINE, else its measured default."""
    try:
        from ingest.ocr import default_engine_name
    except ImportError:  # before engines were configurable
        return "tesseract"
    return default_engine_name()


def engine_bench(pages: list[tuple[Path, str]], procs: int, detect: bool | None) -> dict:
    from PIL import Image

    from ingest.ocr import get_engine
    from ingest.ocr.worker import OcrPool

    name = engine_name()
    truths = [gt for _, gt in pages]
    if procs == 1 and detect is None:
        os.environ["OMP_THREAD_LIMIT"] = "1"  # as in hudang's workers
        engine = get_engine(name)
        if getattr(engine, "load", None):
            engine.load()  # model loading is not per-page work
        texts = []
        started = time.perf_counter()
        for path, _ in pages:
            with Image.open(path) as im:
                im.load()
                texts.append(engine.recognize(im).text)
        seconds = time.perf_counter() - started
        label = f"`{name}` recognize, 1 process"
    else:
        with OcrPool(name, procs) as pool:
            _warm(pool, pages[0][0])
            started = time.perf_counter()
            results = pool.run([(i + 1, p) for i, (p, _) in enumerate(pages)], detect=bool(detect))
            seconds = time.perf_counter() - started
        texts = [r.ocr.text for r in results]
        label = f"OcrPool({procs}){' + orientation/cleanup (the hudang OCR job)' if detect else ''}"
    return {"label": label, "engine": name, "procs": procs, "pages": len(pages), "seconds": seconds,
            "s_per_page": seconds / len(pages), **quality(texts, truths)}


def _warm(pool, page: Path) -> None:
    """Start the workers and load the engine in each before timing."""
    if hasattr(pool, "warm_up"):
        pool.warm_up()
    else:
        pool.run([(1, page)] * pool.workers, detect=False)


# --------------------------------------------------------------------------- (b) hudang

def _archive(root: Path):
    from ingest.archive import Archive, Settings
    from records.catalogue import add_household, add_region

    settings = Settings.from_env(root / "home", root / "keys" / "master.key")
    archive = Archive.init(settings)
    with archive.Session() as s, s.begin():
        add_region(s, "220381", "示范县")
        add_region(s, "220381105", "东风镇")
        add_region(s, "220381105012", "红星村")
        add_household(s, HOUSEHOLD, "王德胜", "220381105012")
    return archive


def multipage_tiff(files: list[Path], out: Path, *, scale: float = 1.0, grey: bool = False) -> Path:
    from PIL import Image

    frames = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("L") if grey else im.convert("RGB")
            if scale != 1.0:
                im = im.resize((int(im.width * scale), int(im.height * scale)))
            frames.append(im)
    dpi = int(300 * scale)
    frames[0].save(out, save_all=True, append_images=frames[1:], compression="tiff_deflate",
                   dpi=(dpi, dpi))
    return out


def hudang_bench(pages: list[tuple[Path, str]], workers: int, label: str) -> dict:
    from sqlalchemy import select

    from ingest.pipeline import IngestRequest, Ingestor
    from records.model import Document

    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=out_dir("tmp")))
    try:
        tiff = multipage_tiff([p for p, _ in pages], work / f"{label}.tif")
        archive = _archive(work)
        with Ingestor(archive, engine=engine_name(), workers=workers) as ingestor:
            _warm(ingestor.pool, pages[0][0])
            started = time.perf_counter()
            result = ingestor.ingest(IngestRequest(path=tiff, household=HOUSEHOLD,
                                                   doc_type="application", actor="bench"))
            seconds = time.perf_counter() - started
        with archive.Session() as s:
            doc = s.scalar(select(Document).where(Document.id == result.document_id))
            texts = [archive.blobs.get(p.text_ref, p.text_key).decode("utf-8")
                     for p in sorted(doc.pages, key=lambda p: p.number)]
        archive.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"label": f"Ingestor(workers={workers})", "engine": engine_name(), "procs": workers, "pages": len(pages),
            "seconds": seconds, "s_per_page": seconds / len(pages),
            **quality(texts, [gt for _, gt in pages])}


def stage_profile(pages: list[tuple[Path, str]]) -> dict:
    """Where an OCR job's time goes (orientation detection vs recognition), one page in-process."""
    from ingest.ocr.worker import ocr_page

    path = pages[0][0]
    name = engine_name()
    ocr_page(1, path, name, True)  # load the models outside the profile
    return profile_call(lambda: ocr_page(1, path, name, True), "ingest-ocr-page")


# --------------------------------------------------------------------------- (c) OCRmyPDF

def ocrmypdf_bench(pages: list[tuple[Path, str]], jobs: int, label: str) -> dict:
    ocrmypdf = OCRMYPDF_VENV / "bin" / "ocrmypdf"
    if not ocrmypdf.exists():
        return {"error": f"OCRmyPDF is not installed in {OCRMYPDF_VENV} (make bench sets it up)"}
    if not shutil.which("gs"):
        return {"error": "ghostscript is not installed (apt-get install ghostscript)"}
    work = Path(tempfile.mkdtemp(prefix="ocrmypdf-", dir=out_dir("tmp")))
    try:
        src = work / f"{label}.pdf"
        subprocess.run([str(OCRMYPDF_VENV / "bin" / "python"), "-c",
                        "import sys, img2pdf; open(sys.argv[1], 'wb').write(img2pdf.convert(sys.argv[2:]))",
                        str(src), *[str(p) for p, _ in pages]], check=True)
        out, sidecar = work / "out.pdf", work / "out.txt"
        cmd = [str(ocrmypdf), "-l", "chi_sim+eng", "--jobs", str(jobs), "--rotate-pages",
               "--sidecar", str(sidecar), "--quiet", str(src), str(out)]
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            return {"error": f"ocrmypdf exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
        texts = sidecar.read_text(encoding="utf-8").split("\f")
        version = subprocess.run([str(ocrmypdf), "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"label": f"OCRmyPDF {version} -l chi_sim+eng --jobs {jobs} --rotate-pages", "procs": jobs,
            "pages": len(pages), "seconds": seconds, "s_per_page": seconds / len(pages),
            "command": " ".join(["ocrmypdf", *cmd[1:-2], "IN.pdf", "OUT.pdf"]),
            **quality(texts[:len(pages)], [gt for _, gt in pages])}


# --------------------------------------------------------------------------- memory

def memory_bench(pages: list[tuple[Path, str]], counts: list[int], scale: float) -> list[dict]:
    hudang = REPO / ".venv" / "bin" / "hudang"
    results = []
    for count in counts:
        work = Path(tempfile.mkdtemp(prefix="mem-", dir=out_dir("tmp")))
        try:
            files = [pages[i % len(pages)][0] for i in range(count)]
            tiff = multipage_tiff(files, work / f"doc-{count}.tif", scale=scale, grey=True)
            env = {**os.environ, "HUDANG_HOME": str(work / "home"),
                   "HUDANG_MASTER_KEY_FILE": str(work / "keys" / "master.key")}
            env.pop("HUDANG_MASTER_KEY", None)
            for args in (["init"], ["region", "add", "220381", "示范县"],
                         ["region", "add", "220381105", "东风镇"],
                         ["region", "add", "220381105012", "红星村"],
                         ["household", "add", HOUSEHOLD, "--head", "王德胜", "--region", "220381105012"]):
                subprocess.run([str(hudang), *args], env=env, check=True, capture_output=True)
            cmd = [str(hudang), "ingest", str(tiff), "--household", HOUSEHOLD, "--type", "申请书", "--json"]
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            with PeakRSS(proc.pid, interval=0.05, pss=True) as mem:
                _, err = proc.communicate()
            seconds = time.perf_counter() - started
            row = {"pages": count, "dpi": round(300 * scale), "engine": engine_name(), "seconds": seconds, "s_per_page": seconds / count,
                   "peak_tree_mb": mem.peak / 1e6, "peak_main_mb": mem.peak_self / 1e6,
                   "peak_tree_pss_mb": mem.peak_pss / 1e6,
                   "tiff_mb": tiff.stat().st_size / 1e6, "exit": proc.returncode}
            if proc.returncode != 0:
                row["error"] = err.decode("utf-8", "replace").strip().splitlines()[-1:]
            results.append(row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- main

def run(households: int, pages_each: int, mem_counts: list[int], skip_one_core: bool,
        mem_scale: float) -> dict:
    cores = os.cpu_count() or 1
    sets = {"clean": page_set(households, False)[:pages_each],
            "degraded": page_set(households, True)[:pages_each]}
    res: dict = {"cores": cores, "pages_each": pages_each, "seed": SEED, "engine": engine_name(),
                 "sets": {}}
    for name, pages in sets.items():
        r: dict = {}
        log(f"ingest[{name}]: (a) engine alone")
        r["engine_1"] = engine_bench(pages, 1, None)
        r["engine_n"] = engine_bench(pages, cores, False)
        r["engine_n_detect"] = engine_bench(pages, cores, True)
        log(f"ingest[{name}]: (b) hudang Ingestor")
        r["hudang_n"] = hudang_bench(pages, cores, name)
        if not skip_one_core and name == "clean":  # the speed-up, once (degraded pages are slow)
            r["hudang_1"] = hudang_bench(pages, 1, name)
        log(f"ingest[{name}]: (c) OCRmyPDF")
        r["ocrmypdf"] = ocrmypdf_bench(pages, cores, name)
        res["sets"][name] = r
    res["profile_ocr_page"] = stage_profile(sets["degraded"])
    log(f"ingest: memory of 'hudang ingest' for {mem_counts} pages")
    res["memory"] = memory_bench(sets["clean"], mem_counts, mem_scale)
    return res


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--households", type=int, default=4)
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--mem-pages", default="50,300")
    p.add_argument("--skip-one-core", action="store_true")
    p.add_argument("--mem-dpi", type=int, default=150)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    write_json(a.out, run(a.households, a.pages, [int(x) for x in a.mem_pages.split(",")],
                          a.skip_one_core, a.mem_dpi / 300))


if __name__ == "__main__":
    sys.exit(main())
