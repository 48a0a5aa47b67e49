"""The tables of work in progress: digitisation batches (批次) and the scan-quality findings of
their pages (DA/T 31-2017; ingest.box, ingest.scanquality), and background jobs (ingest.jobs).

Imported through :mod:`records.model`, which holds every table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (DateTime, Enum, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from records.clock import utcnow
from records.kinds import (AcceptanceOutcome, BatchState, FileOutcome, JobKind, JobState,
                           ReworkState, RowOutcome, ScanProfile, Verdict)
from records.model.catalogue import Base, Container, Page

# -- digitisation batches and scan quality (DA/T 31-2017; ingest.box, ingest.scanquality) ---
class Batch(Base):
    """批次: one digitisation run of a box (ingest.box): its source, box, ``profile``, who ran
    it and when. Sampling acceptance (验收) hangs off it by ``id`` and ``state``."""

    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("source", name="uq_batch_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # the directory or long scan run, ID numbers masked (records.idnumbers); a run again of
    # the same source continues the batch
    source: Mapped[str] = mapped_column(String(300))
    container_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    profile: Mapped[ScanProfile] = mapped_column(
        Enum(ScanProfile, native_enum=False, length=10), default=ScanProfile.standard)
    state: Mapped[BatchState] = mapped_column(
        Enum(BatchState, native_enum=False, length=20), default=BatchState.running, index=True)
    operator: Mapped[str] = mapped_column(String(100))
    # the operator's jurisdiction when it was run (None: the whole deployment)
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runs: Mapped[int] = mapped_column(Integer, default=1)

    container: Mapped[Container | None] = relationship()
    rows: Mapped[list[BatchRow]] = relationship(
        back_populates="batch", order_by="BatchRow.position", cascade="all, delete-orphan")


class BatchRow(Base):
    """One row of a batch's manifest (or one document of a separated long scan) and what
    became of it, with the file's own scanner tags and its document-level findings."""

    __tablename__ = "batch_row"
    __table_args__ = (UniqueConstraint("batch_id", "position", "item", name="uq_batch_row_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the manifest's row number (header: 1)
    # the file, or "file#n" for a part; ID numbers masked, as in ``message``
    item: Mapped[str] = mapped_column(String(300))
    household_no: Mapped[str] = mapped_column(String(40), default="")
    doc_type: Mapped[str] = mapped_column(String(50), default="")
    declared_pages: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[RowOutcome] = mapped_column(
        Enum(RowOutcome, native_enum=False, length=10), default=RowOutcome.pending)
    message: Mapped[str] = mapped_column(Text, default="")  # the sentence of a failure
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), index=True)
    pages: Mapped[int | None] = mapped_column(Integer)
    scanner_make: Mapped[str | None] = mapped_column(String(100))
    scanner_model: Mapped[str | None] = mapped_column(String(100))
    scanner_software: Mapped[str | None] = mapped_column(String(100))
    findings: Mapped[str] = mapped_column(Text, default="[]")  # JSON, of the document
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    batch: Mapped[Batch] = relationship(back_populates="rows")


class PageScan(Base):
    """One page as scanned: process metadata (resolution, colour mode, bit depth, skew before
    correction) and the findings of the scan-quality checks (数据质检, ingest.scanquality)."""

    __tablename__ = "page_scan"

    page_id: Mapped[int] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"),
                                         primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), index=True)
    dpi: Mapped[float | None] = mapped_column(Float)  # as the file states it; None: not stated
    colour_mode: Mapped[str | None] = mapped_column(String(10))  # bitonal / greyscale / colour
    bit_depth: Mapped[int | None] = mapped_column(Integer)
    skew: Mapped[float | None] = mapped_column(Float)  # degrees, before correction
    phash: Mapped[str] = mapped_column(String(64), index=True)  # perceptual hash, hex
    findings: Mapped[str] = mapped_column(Text, default="[]")  # JSON [{"check": ..., values}]
    flagged: Mapped[bool] = mapped_column(default=False, index=True)

    page: Mapped[Page] = relationship()


class Acceptance(Base):
    """One round of sampling acceptance (验收, DA/T 31-2017) of a batch: the sample drawn, the
    rate and threshold it was drawn under, the outcome, and the acceptance report (验收报告)
    kept as an encrypted PDF (``report_ref``, its data key wrapped in ``report_key``).

    A rejected batch's failed documents are reworked, then a new round is drawn."""

    __tablename__ = "acceptance"
    __table_args__ = (UniqueConstraint("batch_id", "round", name="uq_acceptance_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)  # 1, 2, ... per batch
    sample_rate: Mapped[float] = mapped_column(Float)  # per cent of the stored documents
    threshold: Mapped[float] = mapped_column(Float)  # pass rate in per cent to accept
    drawn_by: Mapped[str] = mapped_column(String(100))
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[AcceptanceOutcome | None] = mapped_column(
        Enum(AcceptanceOutcome, native_enum=False, length=10))
    report_ref: Mapped[str | None] = mapped_column(String(64))
    report_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID in catalogue

    batch: Mapped[Batch] = relationship()
    items: Mapped[list[AcceptanceItem]] = relationship(
        back_populates="acceptance", order_by="AcceptanceItem.id", cascade="all, delete-orphan")


class AcceptanceItem(Base):
    """One sampled document of a round and its verdict; a failed one's rework (返工)."""

    __tablename__ = "acceptance_item"
    __table_args__ = (UniqueConstraint("acceptance_id", "document_id",
                                       name="uq_acceptance_item_document"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    acceptance_id: Mapped[int] = mapped_column(ForeignKey("acceptance.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), index=True)
    verdict: Mapped[Verdict | None] = mapped_column(Enum(Verdict, native_enum=False, length=10))
    reason: Mapped[str | None] = mapped_column(String(500))  # ID numbers masked
    judged_by: Mapped[str | None] = mapped_column(String(100))
    judged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rework: Mapped[ReworkState] = mapped_column(
        Enum(ReworkState, native_enum=False, length=10), default=ReworkState.none)
    rework_correction_id: Mapped[int | None] = mapped_column(ForeignKey("correction.id"))

    acceptance: Mapped[Acceptance] = relationship(back_populates="items")


class Job(Base):
    """Long work run in the background by a worker (``hudang worker``, ``ingest.jobs``).

    The queue (Huey) carries only the job's id; everything else is here, in the catalogue,
    so that a job's state, progress and outcome are the same for every process and machine.
    A worker holds a running job under a lease it renews (``lease_until``); a job whose
    lease ran out belonged to a worker that died, and goes back to the queue.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_state_lease", "state", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(Enum(JobKind, native_enum=False, length=10))
    state: Mapped[JobState] = mapped_column(Enum(JobState, native_enum=False, length=10),
                                            default=JobState.queued)
    submitted_by: Mapped[str] = mapped_column(String(100), index=True)
    # "operator" for the console user (no account); an account's rights are read again at run
    submitted_as: Mapped[str] = mapped_column(String(100))
    # what the job works on, as the door places it: a household number, a document id
    household: Mapped[str | None] = mapped_column(String(40))
    document_id: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON: type, date, title, engine
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str | None] = mapped_column(String(500))  # the outcome, one sentence
    error: Mapped[str | None] = mapped_column(String(1000))  # why it failed, one sentence
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100))  # host:pid holding the lease
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    files: Mapped[list[JobFile]] = relationship(
        back_populates="job", order_by="JobFile.position", cascade="all, delete-orphan")


class JobFile(Base):
    """One uploaded file of an ingest job: staged as an encrypted blob until it is ingested
    (never a plain file under the data home), then its outcome."""

    __tablename__ = "job_file"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_file_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # from 1, in the order given
    name: Mapped[str] = mapped_column(String(255))  # the file's name, ID numbers masked
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # the upload, encrypted in the blob store until ingested; None once it is
    staged_ref: Mapped[str | None] = mapped_column(String(64))
    staged_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_total: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[FileOutcome | None] = mapped_column(
        Enum(FileOutcome, native_enum=False, length=10))
    sentence: Mapped[str | None] = mapped_column(String(1000))  # a refusal's, from ingest
    stored_document: Mapped[int | None] = mapped_column(Integer)  # the document it is now
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID above

    job: Mapped[Job] = relationship(back_populates="files")
