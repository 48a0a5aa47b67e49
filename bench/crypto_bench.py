"""Blob store put/get on 5 MB objects against raw AES-256-GCM, same run.

``put`` = fresh data key + AES-GCM + SHA-256 of the plaintext + atomic write
(temp file, fsync, rename, fsync of the folder) + wrapping the data key.
``get`` = unwrap + read the file + AES-GCM decrypt. The crypto-only part is
timed too (the same AESGCM calls the store makes, plus key wrap/unwrap), so
a miss can be pinned on hashing or the disk rather than on the cipher.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from bench.common import log, out_dir, profile_call, write_json

SIZE = 5 * 1024 * 1024


def _rates(ops: dict, reps: int) -> dict:
    """Interleave the operations (so interference from other processes hits
    them alike) and return MB/s at each one's best and median time."""
    times: dict = {k: [] for k in ops}
    for _ in range(reps):
        for name, fn in ops.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, ts in times.items():
        ts.sort()
        out[name] = {"best": SIZE / ts[0] / 1e6, "median": SIZE / ts[len(ts) // 2] / 1e6}
    return out


def run(reps: int) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from storage import BlobStore, MasterKey
    from storage.blobstore import _HEADER

    data = os.urandom(SIZE)
    tmp = Path(tempfile.mkdtemp(prefix="crypto-", dir=out_dir("tmp")))
    master = MasterKey.generate()
    store = BlobStore.create(tmp / "blobs", master)

    # raw AES-256-GCM, one key, as fast as the cipher goes
    key = AESGCM.generate_key(256)
    aes = AESGCM(key)
    nonce = os.urandom(12)
    ct = aes.encrypt(nonce, data, b"ad")

    # what BlobStore.put/get do for crypto only (new data key + wrap; unwrap + decrypt)
    ad = _HEADER + b"0" * 32

    def crypto_put():
        dk = os.urandom(32)
        AESGCM(dk).encrypt(os.urandom(12), data, ad)
        master.wrap(dk)

    dk = os.urandom(32)
    wrapped = master.wrap(dk)
    n2 = os.urandom(12)
    ct2 = AESGCM(dk).encrypt(n2, data, ad)

    def crypto_get():
        AESGCM(master.unwrap(wrapped)).decrypt(n2, ct2, ad)

    ref = store.put(data)

    # the put without its durability (fsync) cost: how much of the gap is the disk
    import storage.blobstore as bs

    def put_no_fsync():
        real = bs.os.fsync
        bs.os.fsync = lambda fd: None
        try:
            store.put(data)
        finally:
            bs.os.fsync = real

    rates = _rates({
        "raw_encrypt": lambda: aes.encrypt(os.urandom(12), data, b"ad"),
        "raw_decrypt": lambda: aes.decrypt(nonce, ct, b"ad"),
        "crypto_put": crypto_put, "crypto_get": crypto_get,
        "sha256": lambda: hashlib.sha256(data).digest(),
        "put": lambda: store.put(data), "get": lambda: store.get(ref.ref, ref.wrapped_key),
        "put_no_fsync": put_no_fsync,
    }, reps)
    best = {k: v["best"] for k, v in rates.items()}
    raw_enc, raw_dec, c_put, c_get = best["raw_encrypt"], best["raw_decrypt"], best["crypto_put"], best["crypto_get"]
    sha, put_rate, get_rate, put_nofsync = best["sha256"], best["put"], best["get"], best["put_no_fsync"]

    prof = profile_call(lambda: store.put(data), "crypto-blobstore-put", repeat=max(5, reps // 2))
    prof_get = profile_call(lambda: store.get(ref.ref, ref.wrapped_key), "crypto-blobstore-get",
                            repeat=max(5, reps // 2))
    return {
        "object_mb": SIZE / 1024 / 1024, "reps": reps, "statistic": "best of reps, interleaved",
        "raw_encrypt_mb_s": raw_enc, "raw_decrypt_mb_s": raw_dec,
        "crypto_only_put_mb_s": c_put, "crypto_only_get_mb_s": c_get, "sha256_mb_s": sha,
        "blob_put_mb_s": put_rate, "blob_get_mb_s": get_rate, "blob_put_no_fsync_mb_s": put_nofsync,
        "put_ratio": put_rate / raw_enc, "get_ratio": get_rate / raw_dec,
        "crypto_only_put_ratio": c_put / raw_enc, "crypto_only_get_ratio": c_get / raw_dec,
        "profile_put": prof, "profile_get": prof_get, "median_mb_s": {k: v["median"] for k, v in rates.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    log(f"crypto: 5 MB objects, {a.reps} repetitions")
    write_json(a.out, run(a.reps))


if __name__ == "__main__":
    main()
