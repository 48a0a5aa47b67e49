"""Run the benchmark suite, print a table and rewrite docs/benchmarks.md.

    .venv/bin/python -m bench.run --quick     # make bench-quick (< 5 min)
    .venv/bin/python -m bench.run             # make bench (< 30 min; 100k documents)

Every area runs in its own process (bench/<area>_bench.py) so peak-memory
figures are not polluted by the others; results go to bench/out/.
``--only ingest,search`` runs a subset; ``--report-only`` re-renders the
last results without measuring.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from bench import report
from bench.common import OUT, log, machine, out_dir, read_json, run_module, write_json

AREAS = ("crypto", "search", "viewer", "ingest")

PROFILES = {
    "quick": {"ingest": dict(households=1, pages=3, mem="6,18", mem_dpi=100),
              "search": dict(n=10_000, slice=10_000, per_class=20, budget=3.0, reindex=300),
              "viewer": dict(seconds=5, levels="1,8,32", pages=3, copies=500),
              "crypto": dict(reps=10)},
    "full": {"ingest": dict(households=4, pages=20, mem="50,300", mem_dpi=100),
             "search": dict(n=100_000, slice=10_000, per_class=20, budget=20.0, reindex=100_000),
             "viewer": dict(seconds=30, levels="1,8,32", pages=5, copies=2000),
             "crypto": dict(reps=30)},
}


def run_search(cfg: dict) -> dict:
    n, sl = cfg["n"], cfg["slice"]
    base = out_dir("search")
    corpus = base / f"corpus-{n}.jsonl"
    plan = base / f"plan-{n}.json"
    res: dict = {"n": n, "slice": sl}
    # the plan file holds the queries (names, ID numbers): it stays in bench/out, never in results
    meta = run_module("bench.search_bench", ["plan", "--corpus", str(corpus), "--n", str(n),
                                             "--per-class", str(cfg["per_class"])])
    if "error" in meta:
        return {"error": meta["error"]}
    write_json(plan, meta)
    res["generate_s"], res["chars"] = meta["generate_s"], meta["chars"]
    res["relevant_counts"] = _relevant_counts(meta["queries"])
    cores = os.cpu_count() or 1
    res["single"] = run_module("bench.search_bench", ["build", "--corpus", str(corpus), "--index",
                               str(base / "ix-single"), "--procs", "1", "--limit", str(sl)])
    shutil.rmtree(base / "ix-single", ignore_errors=True)
    if n != sl:
        res["multi_slice"] = run_module("bench.search_bench", [
            "build", "--corpus", str(corpus), "--index", str(base / "ix-multi-slice"),
            "--procs", str(cores), "--limit", str(sl)])
        shutil.rmtree(base / "ix-multi-slice", ignore_errors=True)
    res["multi"] = run_module("bench.search_bench", ["build", "--corpus", str(corpus), "--index",
                              str(base / f"ix-{n}"), "--procs", str(cores)])
    if n == sl:
        res["multi_slice"] = res["multi"]
    # hudang reindex of the whole corpus, catalogued in a fresh data home (peak RSS of its tree)
    res["reindex"] = run_module("bench.search_bench", ["reindex", "--corpus", str(corpus),
                                "--home", str(base / f"home-{n}"),
                                "--limit", str(cfg["reindex"])])
    shutil.rmtree(base / f"home-{n}", ignore_errors=True)
    res["hudang"] = run_module("bench.search_bench", ["query", "--index", str(base / f"ix-{n}"),
                               "--plan", str(plan), "--budget", str(cfg["budget"]), "--profile"])
    res["fts5"] = run_module("bench.search_bench", ["fts5", "--corpus", str(corpus), "--index",
                             str(base / f"fts5-{n}.db"), "--plan", str(plan),
                             "--budget", str(cfg["budget"])])
    return res


def _relevant_counts(queries: list[dict]) -> dict:
    out: dict = {}
    for q in queries:
        cell = out.setdefault(q["cls"], {"min": 10**9, "max": 0})
        cell["min"] = min(cell["min"], len(q["rel"]))
        cell["max"] = max(cell["max"], len(q["rel"]))
    return out


def _tree_state() -> str:
    """The commit measured, and whether the working tree had uncommitted changes (read-only git)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=OUT.parents[1],
                              capture_output=True, text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=OUT.parents[1],
                               capture_output=True, text=True, timeout=20).stdout.splitlines()
    except Exception:
        return "unknown"
    return f"{head}" + (f" + {len(dirty)} uncommitted files (others' work in progress)" if dirty else "")


def _fill_from_quick(results: dict) -> None:
    """An area the full run did not reach is shown from the last quick run, marked as such."""
    quick_path = OUT / "results-quick.json"
    if not quick_path.exists():
        return
    quick = read_json(quick_path)
    for area in AREAS:
        if area not in results and area in quick:
            results[area] = {**quick[area], "_from": f"bench-quick run of {quick.get('date')}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run")
    p.add_argument("--quick", action="store_true", help="the reduced suite (make bench-quick)")
    p.add_argument("--only", default=",".join(AREAS), help="comma-separated subset of " + ",".join(AREAS))
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    a = p.parse_args(argv)
    mode = "quick" if a.quick else "full"
    cfg = PROFILES[mode]
    results_path = OUT / f"results-{mode}.json"
    if a.report_only:
        results = read_json(results_path)
    else:
        areas = [x for x in a.only.split(",") if x]
        results = read_json(results_path) if results_path.exists() and set(areas) != set(AREAS) else {}
        results.update({"mode": mode, "machine": machine(), "tree": _tree_state(),
                        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "argv": sys.argv[1:]})
        results.setdefault("durations_s", {})
        started = time.perf_counter()
        cpu_before = 0.0
        for area in areas:
            t0 = time.perf_counter()
            log(f"== {area} ==")
            if area == "crypto":
                results["crypto"] = run_module("bench.crypto_bench", ["--reps", str(cfg["crypto"]["reps"])])
            elif area == "ingest":
                c = cfg["ingest"]
                results["ingest"] = run_module("bench.ingest_bench", [
                    "--households", str(c["households"]), "--pages", str(c["pages"]),
                    "--mem-pages", c["mem"], "--mem-dpi", str(c["mem_dpi"])])
            elif area == "search":
                results["search"] = run_search(cfg["search"])
            elif area == "viewer":
                c = cfg["viewer"]
                results["viewer"] = run_module("bench.viewer_bench", [
                    "--levels", c["levels"], "--seconds", str(c["seconds"]), "--pages", str(c["pages"]),
                    "--copies", str(c["copies"])])
            results["durations_s"][area] = time.perf_counter() - t0
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_now = usage.ru_utime + usage.ru_stime
            results.setdefault("cpu_s", {})[area] = cpu_now - cpu_before
            cpu_before = cpu_now
            write_json(results_path, results)  # keep what is done if a later area fails
        results["total_s"] = time.perf_counter() - started
        # CPU time of every process the suite started (the areas, their workers,
        # Tesseract, OCRmyPDF, the server): on a shared machine, wall time
        # above cores x this figure was spent waiting for other people's work
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        results["children_cpu_s"] = usage.ru_utime + usage.ru_stime
        results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        write_json(results_path, results)
    if mode == "full":
        _fill_from_quick(results)
    rows = report.goal_rows(results)
    print(report.console_table(results, rows))
    if not a.no_docs:
        path = report.write_docs(results, rows)
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
