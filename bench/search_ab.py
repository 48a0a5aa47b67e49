"""Search latency, before against after, interleaved query by query.

On a shared machine a core's speed changes from minute to minute, so two
``make bench-quick`` runs a few minutes apart can differ by 50 % with the same
code. This runs two searchers side by side - two processes, each with its own
code tree, Python and index (the ones each tree's ``bench.run --quick --only
search`` built) - and sends every query of the plan to both, in alternating
order, timing each inside its process. A slow minute then slows both, and the
ratio after ÷ before of each query is what is left.

    python -m bench.search_ab \\
        --before /work/before --before-python /work/before/.venv/bin/python \\
        --after . --after-python .venv/bin/python [--rounds 3] [--out F]

(run from the after tree; each worker is this file run by path with its side's Python, and
imports only that side's ``search`` and ``storage``.)

Each side searches ``bench/out/search/ix-10000`` of its own tree with the plan
``bench/out/search/plan-10000.json`` of the *after* tree (both trees' plans are
the same when they were made with the same seed; ``--before-index`` and
``--after-index`` name other indexes). An index with a key file
beside it (``ix-10000.key``, sealed) is opened with that key. Round 1 is cold
(each query's first run, as ``bench.search_bench query`` measures); later rounds
run the same queries again. Prints, per query class and scope, each side's p50
and p95 and the median of the per-query ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def worker(code: Path, index: Path) -> None:
    """Answer one JSON query per line of stdin with its time in ms and the document ids."""
    sys.path.insert(0, str(code))
    import inspect

    from search import SearchIndex

    kwargs = {}
    key = index.with_name(index.name + ".key")
    if key.exists() and "keys" in inspect.signature(SearchIndex.open).parameters:
        from storage import MasterKey

        kwargs["keys"] = MasterKey(bytes.fromhex(key.read_text().strip()), source="the bench key")
    ix = SearchIndex.open(index, **kwargs)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        started = time.perf_counter()
        hits = ix.search(ask["q"], region_scope=ask["scope"], limit=10).hits
        ms = (time.perf_counter() - started) * 1000
        print(json.dumps({"ms": ms, "ids": [h.document_id for h in hits]}), flush=True)


class Side:
    def __init__(self, name: str, python: str, code: Path, index: Path | None = None) -> None:
        self.name = name
        index = (index or code / "bench/out/search/ix-10000").resolve()
        if not index.exists():
            raise SystemExit(f"{name}: there is no {index}; run its bench.run --quick --only search first")
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "worker", "--code", str(code), "--index", str(index)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=code)
        assert json.loads(self.proc.stdout.readline())["ready"]

    def ask(self, q: str, scope: str | None) -> float:
        self.proc.stdin.write(json.dumps({"q": q, "scope": scope}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["ms"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(before: Side, after: Side, plan: list[dict], rounds: int) -> dict:
    from bench.search_bench import CLASSES, SCOPE  # the bench's own classes and township

    for q in plan[:3]:  # warm both a little, as bench.search_bench query does
        before.ask(q["q"], None)
        after.ask(q["q"], None)
    cells: dict[str, dict] = {}
    flip = False
    for rnd in range(1, rounds + 1):
        for cls in CLASSES:
            for scope in (None, SCOPE):
                cell = cells.setdefault(f"{cls}{'_scoped' if scope else ''}|{'cold' if rnd == 1 else 'warm'}",
                                        {"before": [], "after": [], "ratio": []})
                for q in (q for q in plan if q["cls"] == cls):
                    order = (after, before) if flip else (before, after)
                    flip = not flip
                    took = {side.name: side.ask(q["q"], scope) for side in order}
                    cell["before"].append(took["before"])
                    cell["after"].append(took["after"])
                    cell["ratio"].append(took["after"] / took["before"])
    out = {}
    for key, cell in cells.items():
        b, a = sorted(cell["before"]), sorted(cell["after"])
        out[key] = {"before_p50": statistics.median(b), "before_p95": b[int(0.95 * (len(b) - 1))],
                    "after_p50": statistics.median(a), "after_p95": a[int(0.95 * (len(a) - 1))],
                    "ratio_median": statistics.median(cell["ratio"]), "n": len(b)}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("step", nargs="?", default="compare", choices=("compare", "worker"))
    p.add_argument("--code", type=Path)
    p.add_argument("--index", type=Path)
    p.add_argument("--before", type=Path)
    p.add_argument("--before-python")
    p.add_argument("--after", type=Path, default=Path("."))
    p.add_argument("--after-python", default=sys.executable)
    p.add_argument("--before-index", type=Path, help="instead of the before tree's bench index")
    p.add_argument("--after-index", type=Path, help="instead of the after tree's bench index")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if a.step == "worker":
        worker(a.code, a.index)
        return
    if a.before is None or a.before_python is None:
        p.error("--before and --before-python are required")
    plan = json.loads((a.after / "bench/out/search/plan-10000.json").read_text())["queries"]
    before = Side("before", a.before_python, a.before.resolve(), a.before_index)
    after = Side("after", a.after_python, a.after.resolve(), a.after_index)
    try:
        result = compare(before, after, plan, a.rounds)
    finally:
        before.close()
        after.close()
    print(f"{'class':<22} {'pass':<5} {'before p50/p95 ms':>18} {'after p50/p95 ms':>18} {'after÷before':>12}")
    for key, r in result.items():
        cls, kind = key.split("|")
        print(f"{cls:<22} {kind:<5} {r['before_p50']:>8.2f} / {r['before_p95']:<7.2f} "
              f"{r['after_p50']:>8.2f} / {r['after_p95']:<7.2f} {r['ratio_median']:>10.2f}")
    if a.out:
        a.out.write_text(json.dumps({"before": str(a.before), "before_python": a.before_python,
                                     "after": str(a.after), "after_python": a.after_python,
                                     "rounds": a.rounds, "cells": result}, indent=1))


if __name__ == "__main__":
    main()
