"""Search at office sizes: hudang's SearchIndex against SQLite FTS5 (trigram).

Steps, each in its own process so memory figures are clean:

* ``plan``  - write the corpus (bench/corpus_gen.py) and pick the queries with
  their relevant documents (judged on the clean, printed text);
* ``build`` - load the corpus into a fresh SearchIndex with ``bulk_load``
  (``--procs 1``: the single-process Whoosh writer; ``--procs N``: Whoosh's
  multiprocessing writer) or with ``rebuild`` (hudang's reindex path);
* ``query`` - every query class unscoped and with a township's region_scope,
  through ``SearchIndex.search(q, region_scope=..., limit=10)`` (snippets
  and total included, as the app calls it);
* ``fts5``  - the same corpus and queries through SQLite FTS5 (trigram);
* ``reindex`` - catalogue the corpus in a fresh data home (text-only documents,
  ingest/synthetic_catalogue.py), then time ``hudang reindex`` on it and sample
  the peak RSS of its whole process tree;
* ``lengths`` - CPU time of one search by query length (docs/search.md,
  "Long queries and the time limit"), with the 100-character cap lifted to
  see how the work grows, and the refusal of queries over the cap.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import time
from pathlib import Path

from bench.common import PeakRSS, dir_size, log, profile_call, read_json, summary_ms, write_json
from bench.corpus_gen import PHRASES, TOWNSHIPS, read_corpus, write_corpus

CLASSES = ("name", "id", "household", "phrase", "wrong_char")
SCOPE = TOWNSHIPS[3]  # the township user's region_scope (9 digits)


# --------------------------------------------------------------------------- plan

def plan(corpus: Path, n: int, seed: int, per_class: int) -> dict:
    started = time.perf_counter()
    write_corpus(corpus, n, seed)
    gen_s = time.perf_counter() - started
    docs = list(read_corpus(corpus))
    rng = random.Random(seed + n)
    hay = [f"{d['head_name']}|{d['title']}|{d['household']}|{d['clean']}" for d in docs]
    region = [d["region"] for d in docs]
    in_scope = [i for i, d in enumerate(docs) if d["region"].startswith(SCOPE)]
    planted = [i for i in in_scope if docs[i]["planted"]]

    def relevant(s: str) -> list[int]:
        return [docs[i]["document_id"] for i, h in enumerate(hay) if s in h]

    queries = []
    for cls in CLASSES:
        for k in range(per_class):
            if cls == "phrase":
                q = PHRASES[k % len(PHRASES)]
            elif cls == "wrong_char":
                d = docs[rng.choice(planted)]
                start, end = d["planted"][0]
                q = d["clean"][start:end]
            else:
                d = docs[rng.choice(in_scope)]
                q = {"name": d["head_name"], "id": rng.choice(d["ids"]),
                     "household": d["household"]}[cls]
            rel = relevant(q)
            rel_scoped = [doc_id for doc_id in rel if region[doc_id - 1].startswith(SCOPE)]
            # for the phrase class, the sets are huge: keep them (recall needs them)
            queries.append({"cls": cls, "q": q, "rel": rel, "rel_scoped": rel_scoped})
    return {"n": n, "seed": seed, "scope": SCOPE, "generate_s": gen_s,
            "chars": sum(len(d["text"]) for d in docs), "queries": queries}


# --------------------------------------------------------------------------- build

def _keys(index_dir: Path):
    """The bench index's master key (beside the index, generated once): bench indexes are
    sealed as an archive's are (search/sealed.py)."""
    from storage import MasterKey

    path = index_dir.with_name(index_dir.name + ".key")
    if not path.exists():
        path.write_text(os.urandom(32).hex())
    return MasterKey(bytes.fromhex(path.read_text().strip()), source="the bench key")


def _pages(corpus: Path, limit: int | None):
    from search import PageDoc

    for d in read_corpus(corpus, limit):
        yield PageDoc(document_id=d["document_id"], page=1, household=d["household"],
                      head_name=d["head_name"], region=d["region"], doc_type=d["doc_type"],
                      doc_type_name=d["doc_type_name"], title=d["title"], date=d["date"],
                      text=d["text"])


def build(corpus: Path, index_dir: Path, procs: int, limit: int | None, mode: str,
          limitmb: int | None = None) -> dict:
    """``limitmb``: each writer's posting pool for ``bulk`` (default: the index's own,
    ``search.index.BULK_LIMIT_MB``), to compare builds at one pool size."""
    from search import SearchIndex
    from search.index import BULK_LIMIT_MB

    limitmb = limitmb or BULK_LIMIT_MB
    shutil.rmtree(index_dir, ignore_errors=True)
    with PeakRSS() as mem:
        started = time.perf_counter()
        cpu_before = _cpu_s()
        with SearchIndex.create(index_dir, keys=_keys(index_dir)) as ix:
            if mode == "rebuild":
                count = ix.rebuild(_pages(corpus, limit))
            else:
                count = ix.bulk_load(_pages(corpus, limit), procs=procs, limitmb=limitmb)
        seconds = time.perf_counter() - started
        cpu = _cpu_s() - cpu_before
    # cpu_s: this process and its writer processes; on a shared machine,
    # wall time well above cpu_s / procs was spent waiting for a core
    return {"mode": mode, "procs": procs, "limitmb": limitmb, "docs": count,
            "seconds": seconds,
            "docs_per_s": count / seconds, "cpu_s": cpu, "index_mb": dir_size(index_dir) / 1e6,
            "peak_rss_mb": mem.peak / 1e6}


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --------------------------------------------------------------------------- query

def _recall(got: list[int], rel: list[int]) -> float | None:
    if not rel:
        return None
    relset = set(rel)
    return len([g for g in got[:10] if g in relset]) / min(10, len(relset))


def _measure(run_one, queries: list[dict], budget: float) -> dict:
    """Per class and scope: latency summary and mean recall@10; each (class,
    scope) cell stops taking queries once it has used ``budget`` seconds."""
    out: dict = {}
    for cls in CLASSES:
        for scoped in (False, True):
            times, recalls, spent = [], [], 0.0
            for q in (q for q in queries if q["cls"] == cls):
                if spent > budget and len(times) >= 3:
                    break
                start = time.perf_counter()
                got = run_one(q["q"], SCOPE if scoped else None)
                dt = time.perf_counter() - start
                spent += dt
                times.append(dt)
                r = _recall(got, q["rel_scoped"] if scoped else q["rel"])
                if r is not None:
                    recalls.append(r)
            cell = summary_ms(times)
            cell["recall10"] = sum(recalls) / len(recalls) if recalls else None
            out[f"{cls}{'_scoped' if scoped else ''}"] = cell
    return out


def query(index_dir: Path, plan_path: Path, budget: float, profile: bool) -> dict:
    from search import SearchIndex

    queries = read_json(plan_path)["queries"]
    ix = SearchIndex.open(index_dir, keys=_keys(index_dir))

    def run_one(q: str, scope: str | None) -> list[int]:
        return [h.document_id for h in ix.search(q, region_scope=scope, limit=10).hits]

    started = time.perf_counter()
    for q in queries[:3]:  # warm the searcher and the OS cache a little
        run_one(q["q"], None)
    open_s = time.perf_counter() - started
    result = {"classes": _measure(run_one, queries, budget), "warmup_s": open_s}
    if profile:
        phrase = next(q["q"] for q in queries if q["cls"] == "phrase")
        result["profile_phrase"] = profile_call(lambda: run_one(phrase, None), "search-phrase")
        wrong = next(q["q"] for q in queries if q["cls"] == "wrong_char")
        result["profile_wrong_char"] = profile_call(lambda: run_one(wrong, SCOPE), "search-wrong-char")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ix.close()
    return result


# --------------------------------------------------------------------------- FTS5

def fts5(corpus: Path, db_path: Path, plan_path: Path, budget: float) -> dict:
    db_path.unlink(missing_ok=True)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    with PeakRSS() as mem:
        started = time.perf_counter()
        con.execute("CREATE VIRTUAL TABLE docs USING fts5(household, head_name, title, text, "
                    "region UNINDEXED, tokenize='trigram')")
        count = 0
        with con:
            rows = ((d["document_id"], d["household"], d["head_name"], d["title"], d["text"], d["region"])
                    for d in read_corpus(corpus))
            for row in rows:
                con.execute("INSERT INTO docs(rowid, household, head_name, title, text, region) "
                            "VALUES (?,?,?,?,?,?)", row)
                count += 1
        seconds = time.perf_counter() - started
    con.close()
    con = sqlite3.connect(db_path)
    queries = read_json(plan_path)["queries"]

    def run_one(q: str, scope: str | None) -> list[int]:
        where, args = [], []
        for word in q.split():
            if len(word) >= 3:  # trigram MATCH needs 3+ characters
                where.append("docs MATCH ?")
                args.append('"' + word.replace('"', '""') + '"')
            else:  # shorter: LIKE, which the trigram index cannot serve (a scan)
                where.append("(head_name LIKE ? OR title LIKE ? OR text LIKE ? OR household LIKE ?)")
                args += [f"%{word}%"] * 4
        if scope:
            # an expression, not LIKE: FTS5 would push LIKE into the trigram index
            where.append(f"substr(region, 1, {len(scope)}) = ?")
            args.append(scope)
        order = " ORDER BY rank" if any(len(w) >= 3 for w in q.split()) else ""
        sql = f"SELECT rowid FROM docs WHERE {' AND '.join(where)}{order} LIMIT 10"
        return [r[0] for r in con.execute(sql, args)]

    for q in queries[:3]:
        run_one(q["q"], None)
    classes = _measure(run_one, queries, budget)
    con.close()
    return {"build": {"docs": count, "seconds": seconds, "docs_per_s": count / seconds,
                      "index_mb": db_path.stat().st_size / 1e6, "peak_rss_mb": mem.peak / 1e6},
            "classes": classes}


# --------------------------------------------------------------------------- reindex

def reindex(corpus: Path, home: Path, limit: int | None) -> dict:
    """``hudang reindex`` of the corpus: catalogue it in a fresh home (timed apart), then
    run the command and sample the RSS of its process tree."""
    import subprocess
    import sys
    from datetime import date as Date

    from ingest.archive import Archive, Settings
    from ingest.synthetic_catalogue import TextDocument, add_text_documents

    shutil.rmtree(home, ignore_errors=True)
    key_file = home.with_name(home.name + ".key")
    key_file.unlink(missing_ok=True)
    archive = Archive.init(Settings.from_env(home, key_file))
    started = time.perf_counter()
    docs = (TextDocument(household=d["household"], head_name=d["head_name"], doc_type=d["doc_type"],
                         title=d["title"], date=Date.fromisoformat(d["date"]) if d["date"] else None,
                         text=d["text"]) for d in read_corpus(corpus, limit))
    count = add_text_documents(archive, docs)
    load_s = time.perf_counter() - started
    archive.close()
    env = {**os.environ, "HUDANG_HOME": str(home), "HUDANG_MASTER_KEY_FILE": str(key_file)}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)
    hudang = str(Path(sys.executable).with_name("hudang"))
    started = time.perf_counter()
    proc = subprocess.Popen([hudang, "reindex"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with PeakRSS(pid=proc.pid) as mem:
        out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"hudang reindex exited with {proc.returncode}")
    return {"docs": count, "load_s": load_s, "seconds": seconds, "docs_per_s": count / seconds,
            "peak_rss_mb": mem.peak / 1e6, "index_mb": dir_size(home / "index") / 1e6,
            "output": out.decode().strip()}


# --------------------------------------------------------------------------- lengths

LENGTHS = (60, 120, 252, 504, 1008)


def lengths(index_dir: Path, corpus: Path) -> dict:
    """Seconds of CPU for one search of each length in ``LENGTHS`` (cap
    lifted, no time limit): "shuffled" is the Han characters of real pages in
    random order (one word, no exact match: every look-alike alternative is
    tried); "pasted" is the text of the same pages in order, line breaks and
    punctuation kept, digits removed (so no ID number is in a query)."""
    import re

    import search.index as search_index
    from search import QueryTooLong, SearchIndex

    text = "".join(d["text"] for d in read_corpus(corpus, 50))
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    random.Random(1).shuffle(han)
    kinds = {"shuffled": "".join(han), "pasted": re.sub(r"[0-9]", "", text)}
    out: dict = {}
    with SearchIndex.open(index_dir, keys=_keys(index_dir)) as ix:
        ix.search("低保", limit=10)
        cap = search_index.MAX_QUERY_CHARS
        for n in (cap + 1, 10_000):
            started = time.process_time()
            try:
                ix.search("低" * n)
            except QueryTooLong:
                out[f"refused_{n}_cpu_s"] = time.process_time() - started
        search_index.MAX_QUERY_CHARS = 10**9
        try:
            for kind, source in kinds.items():
                for n in LENGTHS:
                    q = (source * (n // len(source) + 1))[:n]
                    started = time.process_time()
                    ix.search(q, limit=10, time_limit=None)
                    out.setdefault(kind, {})[str(n)] = time.process_time() - started
        finally:
            search_index.MAX_QUERY_CHARS = cap
    return out


# --------------------------------------------------------------------------- CLI

def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=("plan", "build", "query", "fts5", "lengths", "reindex"))
    p.add_argument("--home", type=Path)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--n", type=int)
    p.add_argument("--seed", type=int, default=20240)
    p.add_argument("--per-class", type=int, default=20)
    p.add_argument("--plan", type=Path)
    p.add_argument("--index", type=Path)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--limit", type=int)
    p.add_argument("--mode", default="bulk", choices=("bulk", "rebuild"))
    p.add_argument("--limitmb", type=int, help="each writer's posting pool (build, bulk)")
    p.add_argument("--budget", type=float, default=30.0)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.step == "plan":
        log(f"search: corpus of {a.n} documents and queries")
        res = plan(a.corpus, a.n, a.seed, a.per_class)
    elif a.step == "build":
        log(f"search: building {a.limit or 'all'} documents, {a.mode}, procs={a.procs}")
        res = build(a.corpus, a.index, a.procs, a.limit, a.mode, a.limitmb)
    elif a.step == "query":
        log("search: hudang queries")
        res = query(a.index, a.plan, a.budget, a.profile)
    elif a.step == "reindex":
        log(f"search: hudang reindex of {a.limit or 'all'} documents")
        res = reindex(a.corpus, a.home, a.limit)
    elif a.step == "lengths":
        log("search: CPU time by query length")
        res = lengths(a.index, a.corpus)
    else:
        log("search: SQLite FTS5 trigram build and queries")
        res = fts5(a.corpus, a.index, a.plan, a.budget)
    write_json(a.out, res)


if __name__ == "__main__":
    main()
