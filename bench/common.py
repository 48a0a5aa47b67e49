"""Helpers shared by the benchmark modules: timing, percentiles, peak memory,
machine facts, profiles and the results file.

Nothing here prints OCR text or ID numbers: results hold numbers only.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
VENV_PY = REPO / ".venv" / "bin" / "python"


def out_dir(*parts: str) -> Path:
    path = OUT.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99), "mean_ms": statistics.fmean(ms) if ms else float("nan")}


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    tess = ""
    try:
        tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                              timeout=20).stdout.splitlines()[0]
    except Exception:
        pass
    return {"cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(),
            # which interpreter: builds of one version differ by 20-30 % in speed (a
            # distribution's optimised build, a plain source build), so runs compared
            # before and after must name the same one
            "python_executable": os.path.realpath(sys.executable), "os": platform.platform(),
            "tesseract": tess, "loadavg_at_start": [round(x, 2) for x in load]}


class PeakRSS:
    """Samples the summed RSS of a process and all its descendants (psutil)
    every ``interval`` seconds in a background thread; ``peak`` in bytes.
    RSS counts pages shared between processes (forked workers) once per
    process; with ``pss=True`` the summed PSS is tracked too (``peak_pss``)."""

    def __init__(self, pid: int | None = None, interval: float = 0.05, pss: bool = False) -> None:
        import psutil

        self._psutil = psutil
        self.proc = psutil.Process(pid or os.getpid())
        self.interval = interval
        self.peak = 0
        self.peak_self = 0
        self.peak_pss = 0  # proportional set size: shared pages divided among sharers
        self.pss = pss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        psutil = self._psutil
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        total = pss = own = 0
        for k, proc in enumerate(procs):
            try:
                rss = proc.memory_info().rss
                if self.pss:
                    pss += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
                continue
            total += rss
            if k == 0:
                own = rss
        self.peak = max(self.peak, total)
        self.peak_self = max(self.peak_self, own)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def timer():
    box = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


def profile_call(fn, label: str, *, repeat: int = 1, top: int = 8) -> dict:
    """Run ``fn`` under pyinstrument; save the text tree to bench/out and
    return the top functions by self time (share of the wall time)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return {"error": "pyinstrument is not installed (pip install -e '.[bench]')"}
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        for _ in range(repeat):
            fn()
    finally:
        session = profiler.stop()
    path = out_dir("profiles") / f"{label}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return {"file": str(path.relative_to(REPO)), "top_self": top_self_time(session, top)}


def top_self_time(session, top: int = 8) -> list[dict]:
    root = session.root_frame()
    if root is None:
        return []
    total = root.time or 1e-9
    acc: dict[str, float] = defaultdict(float)
    stack = [(root, None)]
    while stack:
        frame, parent = stack.pop()
        stack.extend((c, frame) for c in frame.children)
        self_time = frame.time - sum(c.time for c in frame.children)
        if self_time <= 0:
            continue
        if (frame.function or "").startswith("[") and parent is not None:
            frame = parent  # pyinstrument's synthetic [self]/[await] frames
        name = frame.function or "?"
        where = Path(frame.file_path_short or frame.file_path or "?").name
        acc[f"{name} ({where}:{frame.line_no})" if frame.line_no else f"{name} ({where})"] += self_time
    ranked = sorted(acc.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [{"function": k, "share": round(v / total, 3)} for k, v in ranked]


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def read_json(path: Path):
    return json.loads(path.read_text())


def run_module(module: str, args: list[str], *, env: dict | None = None,
               timeout: float | None = None) -> dict:
    """Run ``python -m module args`` with the project's interpreter in a fresh
    process (clean memory figures, no shared caches); it writes its JSON result
    to the path given as ``--out``, which this returns."""
    result_path = out_dir("parts") / f"{module.split('.')[-1]}-{os.getpid()}-{time.time_ns()}.json"
    cmd = [str(VENV_PY if VENV_PY.exists() else sys.executable), "-m", module, *args,
           "--out", str(result_path)]
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONPATH", str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, timeout=timeout)
    if proc.returncode != 0 or not result_path.exists():
        return {"error": f"{' '.join(cmd[1:4])} exited with {proc.returncode}"}
    return read_json(result_path)
