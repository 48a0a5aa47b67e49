"""Tests of the storage package: keys, field sealing and the encrypted blob store."""
from __future__ import annotations

import base64
import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage import (
    BlobNotFound,
    BlobStore,
    FixityError,
    KeyFileError,
    KeyPurpose,
    MasterKey,
    StorageError,
    WrongKeyError,
    blind_index,
    open_field,
    seal_field,
)

CHINESE = "户主：张三，低保户，身份证号码".encode("utf-8")
PDF = b"%PDF-1.7\n" + CHINESE + b"\n" + os.urandom(2000) + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own key settings must never leak into the tests.
    monkeypatch.delenv("HUDANG_MASTER_KEY", raising=False)
    monkeypatch.delenv("HUDANG_MASTER_KEY_FILE", raising=False)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def store(tmp_path: Path, master: MasterKey) -> BlobStore:
    return BlobStore.create(tmp_path / "blobs", master)


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- blob round trips --------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(store: BlobStore) -> None:
    ref = store.put(PDF)
    assert store.get(ref.ref, ref.wrapped_key) == PDF
    assert ref.size == len(PDF)
    assert ref.sha256 == hashlib.sha256(PDF).hexdigest()
    store.verify(ref.ref, ref.wrapped_key, ref.sha256)


def test_put_file_then_get_returns_the_file_contents(store: BlobStore, tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(PDF)
    ref = store.put_file(scan)
    assert store.get(ref.ref, ref.wrapped_key) == PDF


def test_empty_blob_round_trips(store: BlobStore) -> None:
    ref = store.put(b"")
    assert store.get(ref.ref, ref.wrapped_key) == b""


def test_reopened_store_reads_blobs_written_before(tmp_path: Path, master: MasterKey) -> None:
    ref = BlobStore.create(tmp_path / "s", master).put(PDF)
    reopened = BlobStore.open(tmp_path / "s", master)
    assert reopened.get(ref.ref, ref.wrapped_key) == PDF


def test_equal_plaintexts_get_different_refs_and_ciphertexts(store: BlobStore) -> None:
    a, b = store.put(PDF), store.put(PDF)
    assert a.ref != b.ref
    assert a.wrapped_key != b.wrapped_key
    assert a.sha256 == b.sha256
    assert store.path_of(a.ref).read_bytes() != store.path_of(b.ref).read_bytes()


def test_blobs_are_fanned_out_two_levels(store: BlobStore) -> None:
    ref = store.put(b"x").ref
    assert store.path_of(ref) == store.root / ref[:2] / ref[2:4] / ref
    assert store.path_of(ref).is_file()


# --- confidentiality ---------------------------------------------------------


def test_disk_holds_neither_plaintext_nor_data_key_nor_wrapped_key(store: BlobStore, master: MasterKey) -> None:
    ref = store.put(PDF)
    data_key = master.unwrap(ref.wrapped_key)
    files = all_files(store.root)
    assert store.path_of(ref.ref) in files
    for f in files:
        raw = f.read_bytes()
        assert b"%PDF" not in raw
        assert CHINESE[:12] not in raw
        assert data_key not in raw
        assert ref.wrapped_key not in raw
        assert base64.b64encode(ref.wrapped_key) not in raw


def test_store_and_blob_files_are_private(store: BlobStore) -> None:
    ref = store.put(b"x")
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path_of(ref.ref).stat().st_mode) & 0o077 == 0


def test_master_key_repr_does_not_reveal_the_key(tmp_path: Path) -> None:
    key = MasterKey.create_file(tmp_path / "master.key")
    raw = base64.b64decode((tmp_path / "master.key").read_text().strip().split(":", 1)[1])
    text = repr(key) + str(key)
    assert base64.b64encode(raw).decode() not in text
    assert raw.hex() not in text
    assert key.fingerprint() in text


# --- fixity ------------------------------------------------------------------


def flip_byte(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("where", ["header", "nonce", "ciphertext", "tag"])
def test_one_flipped_byte_is_a_fixity_error(store: BlobStore, where: str) -> None:
    ref = store.put(PDF)
    path = store.path_of(ref.ref)
    offset = {"header": 0, "nonce": 6, "ciphertext": 100, "tag": path.stat().st_size - 1}[where]
    flip_byte(path, offset)
    with pytest.raises(FixityError, match=ref.ref):
        store.get(ref.ref, ref.wrapped_key)
    with pytest.raises(FixityError):
        store.verify(ref.ref, ref.wrapped_key, ref.sha256)


def test_truncated_blob_is_a_fixity_error(store: BlobStore) -> None:
    ref = store.put(PDF)
    store.path_of(ref.ref).write_bytes(b"HDB1\x01")
    with pytest.raises(FixityError):
        store.get(ref.ref, ref.wrapped_key)


def test_wrong_sha256_is_a_fixity_error(store: BlobStore) -> None:
    ref = store.put(PDF)
    with pytest.raises(FixityError, match=ref.ref):
        store.verify(ref.ref, ref.wrapped_key, hashlib.sha256(b"other").hexdigest())


def test_blob_file_moved_to_another_ref_does_not_decrypt(store: BlobStore) -> None:
    # The ref is GCM associated data, so blobs cannot be swapped on disk.
    a, b = store.put(b"household A"), store.put(b"household B")
    store.path_of(b.ref).write_bytes(store.path_of(a.ref).read_bytes())
    with pytest.raises(FixityError):
        store.get(b.ref, a.wrapped_key)


# --- wrong keys --------------------------------------------------------------


def test_other_master_key_cannot_open_the_store(tmp_path: Path, master: MasterKey) -> None:
    BlobStore.create(tmp_path / "s", master)
    other = MasterKey.generate()
    with pytest.raises(WrongKeyError, match="does not open the archive") as err:
        BlobStore.open(tmp_path / "s", other)
    assert other.fingerprint() in str(err.value) and master.fingerprint() in str(err.value)


def test_other_master_key_cannot_unwrap_a_data_key(store: BlobStore) -> None:
    ref = store.put(PDF)
    with pytest.raises(WrongKeyError):
        MasterKey.generate().unwrap(ref.wrapped_key)


def test_wrapped_key_from_another_archive_is_a_wrong_key_error(tmp_path: Path, store: BlobStore) -> None:
    foreign = BlobStore.create(tmp_path / "other", MasterKey.generate()).put(PDF)
    mine = store.put(PDF)
    with pytest.raises(WrongKeyError, match=mine.ref):
        store.get(mine.ref, foreign.wrapped_key)


def test_unwrap_rejects_tampered_or_unknown_version_wrapped_keys(master: MasterKey) -> None:
    wrapped = master.wrap(os.urandom(32))
    assert wrapped[0] == 1
    for bad in (bytes([2]) + wrapped[1:], wrapped[:-1] + bytes([wrapped[-1] ^ 1]), wrapped[:10]):
        with pytest.raises(WrongKeyError):
            master.unwrap(bad)


def test_opening_a_folder_that_is_not_a_store_is_a_storage_error(tmp_path: Path, master: MasterKey) -> None:
    with pytest.raises(StorageError, match="not a hudang blob store"):
        BlobStore.open(tmp_path, master)


def test_creating_a_store_over_an_existing_store_is_refused(tmp_path: Path, master: MasterKey) -> None:
    ref = BlobStore.create(tmp_path / "s", master).put(PDF)
    with pytest.raises(StorageError):
        BlobStore.create(tmp_path / "s", MasterKey.generate())
    assert BlobStore.open(tmp_path / "s", master).get(ref.ref, ref.wrapped_key) == PDF


# --- key files ---------------------------------------------------------------


def test_key_file_is_created_with_mode_0600_and_loads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "hudang" / "master.key"
    created = MasterKey.create_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = MasterKey.load(path)
    assert loaded.fingerprint() == created.fingerprint()
    wrapped = created.wrap(b"k" * 32)
    assert loaded.unwrap(wrapped) == b"k" * 32
    assert os.listdir(path.parent) == ["master.key"]  # no temp file left


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = MasterKey.create_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        MasterKey.create_file(path)
    assert path.read_bytes() == before
    assert MasterKey.load(path).fingerprint() == first.fingerprint()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_key_file_open_to_other_users_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    MasterKey.create_file(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        MasterKey.load(path)


def test_missing_key_file_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "master.key"
    with pytest.raises(KeyFileError) as err:
        MasterKey.load(path)
    assert str(path) in str(err.value)
    assert "hudang init" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"hudang-master-key-v1:c2hvcnQ=\n", b"\xff\xfe"])
def test_malformed_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="malformed"):
        MasterKey.load(path)


def test_derive_is_deterministic_per_key_and_purpose(master: MasterKey) -> None:
    index, seal = KeyPurpose.id_number_index, KeyPurpose.id_number_seal
    assert master.derive(index) == master.derive(index)
    assert len(master.derive(index)) == 32
    assert master.derive(index) != master.derive(seal)
    assert master.derive(index) != MasterKey.generate().derive(index)
    # every subkey comes from the one list of purposes: a label of one's own is refused
    with pytest.raises(ValueError):
        master.derive("id-number-hmac")


def test_fingerprint_is_stable_and_differs_between_keys(master: MasterKey) -> None:
    assert master.fingerprint() == master.fingerprint()
    assert len(master.fingerprint()) == 16
    assert master.fingerprint() != MasterKey.generate().fingerprint()


# --- shredding ---------------------------------------------------------------


def test_shred_removes_the_blob_and_get_then_says_not_found(store: BlobStore) -> None:
    ref = store.put(PDF)
    store.shred(ref.ref)
    assert not store.path_of(ref.ref).exists()
    assert not store.exists(ref.ref)
    with pytest.raises(BlobNotFound, match=ref.ref):
        store.get(ref.ref, ref.wrapped_key)
    store.shred(ref.ref)  # idempotent


def test_exists_and_iter_refs_list_stored_blobs_only(store: BlobStore) -> None:
    refs = {store.put(bytes([i])).ref for i in range(5)}
    assert set(store.iter_refs()) == refs
    assert all(store.exists(r) for r in refs)
    assert not store.exists("0" * 32)
    assert not store.exists("../../etc/passwd")


def test_malformed_ref_cannot_escape_the_store(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("../" * 5 + "etc/passwd", b"")


# --- atomicity and concurrency -----------------------------------------------


def test_failed_write_leaves_no_temp_or_partial_file(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(all_files(store.root))

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.put(PDF)
    assert set(all_files(store.root)) == before
    assert list(store.iter_refs()) == []


def test_failed_key_file_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_link(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", broken_link)
    with pytest.raises(KeyFileError, match="cannot write"):
        MasterKey.create_file(tmp_path / "master.key")
    assert os.listdir(tmp_path) == []


def test_concurrent_puts_and_gets_from_threads(store: BlobStore) -> None:
    payloads = [os.urandom(1000 + i) for i in range(40)]

    def round_trip(data: bytes) -> bool:
        ref = store.put(data)
        return store.get(ref.ref, ref.wrapped_key) == data

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, payloads))
    assert len(list(store.iter_refs())) == len(payloads)


# --- short fields --------------------------------------------------------------


def test_seal_and_open_field_round_trip(master: MasterKey) -> None:
    key = master.derive(KeyPurpose.id_number_seal)
    sealed = seal_field(key, "11010519491231002X")
    assert b"11010519491231002X" not in sealed
    assert open_field(key, sealed) == "11010519491231002X"
    assert seal_field(key, "11010519491231002X") != sealed  # random nonce
    assert open_field(key, seal_field(key, "张三")) == "张三"


def test_open_field_with_wrong_key_or_altered_value_is_a_wrong_key_error(master: MasterKey) -> None:
    sealed = seal_field(master.derive(KeyPurpose.id_number_seal), "11010519491231002X")
    with pytest.raises(WrongKeyError):
        open_field(master.derive(KeyPurpose.certificate_index), sealed)
    with pytest.raises(WrongKeyError):
        open_field(master.derive(KeyPurpose.id_number_seal), sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_blind_index_is_deterministic_normalised_and_key_specific(master: MasterKey) -> None:
    key = master.derive(KeyPurpose.id_number_index)
    index = blind_index(key, "11010519491231002X")
    assert blind_index(key, "11010519491231002X") == index
    assert blind_index(key, " 110105 19491231 002x ") == index
    assert blind_index(key, "１１０１０５１９４９１２３１００２Ｘ") == index  # full-width input
    assert blind_index(key, "110105194912310021") != index
    assert blind_index(master.derive(KeyPurpose.certificate_index), "11010519491231002X") != index
    assert "11010519491231002X" not in index


# --- per-object keys: a broken promise would still pass the tests above ----------------


def test_no_two_objects_share_a_data_key_a_wrapped_key_or_a_nonce(store: BlobStore, master: MasterKey) -> None:
    refs = [store.put(PDF) for _ in range(200)]  # the same plaintext every time
    nonces = [store.path_of(r.ref).read_bytes()[5:17] for r in refs]  # b"HDB1", version, nonce
    assert len(set(nonces)) == len(refs)
    assert len({r.wrapped_key for r in refs}) == len(refs)
    assert len({r.wrapped_key[1:13] for r in refs}) == len(refs)  # the wraps' own nonces
    assert len({master.unwrap(r.wrapped_key) for r in refs}) == len(refs)


def test_shredding_one_objects_key_leaves_every_other_readable(store: BlobStore) -> None:
    payloads = [os.urandom(300 + i) for i in range(30)]
    refs = [store.put(p) for p in payloads]
    victim = refs.pop(10)
    shredded_file = store.path_of(victim.ref).read_bytes()
    store.shred(victim.ref)  # and the catalogue forgets victim.wrapped_key
    del payloads[10]
    for ref, data in zip(refs, payloads):
        assert store.get(ref.ref, ref.wrapped_key) == data
    # no other object's key opens what was shredded, even with its ciphertext kept somewhere
    store.path_of(victim.ref).parent.mkdir(parents=True, exist_ok=True)
    store.path_of(victim.ref).write_bytes(shredded_file)
    for ref in refs:
        with pytest.raises(FixityError):
            store.get(victim.ref, ref.wrapped_key)


# --- key ring, key files, key export ----------------------------------------------------


def test_a_key_ring_wraps_with_the_new_key_and_opens_what_either_wrapped() -> None:
    from storage import KeyRing

    old, new = MasterKey.generate(), MasterKey.generate()
    by_old = old.wrap(b"o" * 32)
    ring = KeyRing(new, [old])
    assert ring.unwrap(by_old) == b"o" * 32
    by_ring = ring.wrap(b"n" * 32)
    assert new.unwrap(by_ring) == b"n" * 32
    with pytest.raises(WrongKeyError):
        old.unwrap(by_ring)
    assert ring.fingerprint() == new.fingerprint()
    assert ring.derive(KeyPurpose.audit_chain) == new.derive(KeyPurpose.audit_chain)
    with pytest.raises(WrongKeyError):
        KeyRing(MasterKey.generate()).unwrap(by_old)


def test_a_store_opens_with_a_ring_holding_its_key_and_takes_a_new_key_check(tmp_path: Path) -> None:
    from storage import KeyRing

    old, new = MasterKey.generate(), MasterKey.generate()
    store = BlobStore.create(tmp_path / "s", old)
    ref = store.put(PDF)
    ring = KeyRing(new, [old])
    reopened = BlobStore.open(tmp_path / "s", ring)
    reopened.rekey(ring)
    assert BlobStore.open(tmp_path / "s", new).get(ref.ref, new.wrap(old.unwrap(ref.wrapped_key))) == PDF
    with pytest.raises(WrongKeyError):
        BlobStore.open(tmp_path / "s", old)


def test_key_export_round_trips_and_a_wrong_passphrase_is_one_sentence(tmp_path: Path) -> None:
    import json

    from storage import WeakPassphrase, WrongPassphrase, export_key, import_key

    key = MasterKey.generate()
    path = tmp_path / "key-export.json"
    export_key(key, path, "correct horse battery staple")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert import_key(path, "correct horse battery staple").same_key(key)
    with pytest.raises(WrongPassphrase) as wrong:
        import_key(path, "correct horse battery stapler")
    assert str(wrong.value).count(".") <= 1 and str(path) in str(wrong.value)
    # every parameter is bound to the ciphertext: a cheaper KDF setting fails like a wrong passphrase
    doc = json.loads(path.read_text())
    doc["kdf"]["memory_cost"] = 8
    path.write_text(json.dumps(doc))
    with pytest.raises(WrongPassphrase):
        import_key(path, "correct horse battery staple")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        export_key(key, path, "correct horse battery staple")
    with pytest.raises(WeakPassphrase):
        export_key(key, tmp_path / "weak.json", "short")


def test_a_rotation_puts_the_new_key_in_place_and_keeps_the_old_one_aside(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from storage import KeyFiles

    old = MasterKey.create_file(tmp_path / "master.key")
    files = KeyFiles(tmp_path / "master.key")
    new = MasterKey.generate()
    new.save_as(files.staged)
    when = datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)
    retired = files.promote(when)
    assert retired.name == "master.key.retired-2026-11-30T150000Z"
    assert MasterKey.load(tmp_path / "master.key").same_key(new)
    assert MasterKey.load(retired).same_key(old)
    assert not files.staged.exists() and files.promote(when) is None  # done: nothing left
    assert [k.fingerprint() for k in files.retired_keys()] == [old.fingerprint()]
