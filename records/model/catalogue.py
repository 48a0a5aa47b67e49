"""The tables of the archive itself: regions, households, dossiers, documents, pages, users,
the audit chain, keys, self-lookup, the desk, locations, retention and destruction.

Imported through :mod:`records.model`, which holds every table."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from records.clock import utcnow
# the kinds of stored values live in records.kinds; named here too, as before
from records.kinds import (Area, BatchState, ContainerKind, EndAction, FileOutcome,  # noqa: F401
                           HouseholdStatus, ItemStatus, JobKind, JobState, ListStatus,
                           RegionLevel, RequestStatus, RetentionTrigger, ReviewOutcome,
                           RotationState, RowOutcome, ScanProfile, StatusChange)


class Base(DeclarativeBase):
    pass


class Region(Base):
    """行政区划: a county, township or village, keyed by its statistical area code."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[RegionLevel] = mapped_column(Enum(RegionLevel, native_enum=False, length=10))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)

    parent: Mapped[Region | None] = relationship(remote_side=[code])


class Household(Base):
    """低保户: one household, one dossier, one number for life (一户一档, 一户一号)."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    head_name: Mapped[str] = mapped_column(String(50))
    # 户主身份证号: sealed (AES-GCM under a key derived from the master key), never in the clear
    head_id_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # HMAC-SHA256 blind index of the normalised ID number, for exact look-up
    head_id_index: Mapped[str | None] = mapped_column(String(64), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    status: Mapped[HouseholdStatus] = mapped_column(
        Enum(HouseholdStatus, native_enum=False, length=10), default=HouseholdStatus.active
    )
    # the date of the last 停保 while stopped (kept by records.households from the events)
    stop_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    address: Mapped[str | None] = mapped_column(String(200))
    area: Mapped[Area | None] = mapped_column(Enum(Area, native_enum=False, length=5))
    # 分类管理: 1 一类 (stable), 2 二类, 3 三类 (unstable); None: not classed yet
    review_class: Mapped[int | None] = mapped_column(Integer)
    enrolled_on: Mapped[date | None] = mapped_column(Date)  # 纳入日期
    # fingerprint of the master key whose sub-keys sealed and blind-indexed the ID number
    # (see KEY_ID below)
    key_id: Mapped[str | None] = mapped_column(String(16))

    region: Mapped[Region] = relationship()
    dossier: Mapped[Dossier | None] = relationship(back_populates="household", uselist=False)
    # the persons of the household other than the head (who is in the columns above)
    members: Mapped[list[HouseholdMember]] = relationship(
        back_populates="household", order_by="HouseholdMember.position",
        cascade="all, delete-orphan")
    status_events: Mapped[list[StatusEvent]] = relationship(
        back_populates="household", order_by="[StatusEvent.effective_on, StatusEvent.id]",
        cascade="all, delete-orphan")


class HouseholdMember(Base):
    """家庭成员: one person of a household besides its head.

    The ID number is sealed like the head's, with a blind index for exact look-up.
    """

    __tablename__ = "household_member"
    __table_args__ = (UniqueConstraint("household_id", "position",
                                       name="uq_household_member_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order on the roster, from 1
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[str] = mapped_column(String(20))  # 与户主关系: 配偶, 子女, 父母 ...
    id_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_index: Mapped[str | None] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID below

    household: Mapped[Household] = relationship(back_populates="members")


class StatusEvent(Base):
    """One change of the allowance (停发, 增发, 减发, 停保, 恢复): its date, reason and who
    recorded it. ``Household.status`` and ``stop_date`` follow these (records.households)."""

    __tablename__ = "household_status_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    change: Mapped[StatusChange] = mapped_column(
        Enum(StatusChange, native_enum=False, length=10))
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    household: Mapped[Household] = relationship(back_populates="status_events")


class Dossier(Base):
    """卷 / 案卷: the household's dossier. Exactly one per household."""

    __tablename__ = "dossier"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # 档号 (records.numbering): given once, with the dossier's first item number; never changes
    archival_code: Mapped[str | None] = mapped_column(String(120), unique=True)
    # where the paper is now: a folder or a box (records.locations); history in location_move
    container_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    # 保管期限: None follows the class marked default_for_dossiers (records.retention)
    retention_class: Mapped[str | None] = mapped_column(ForeignKey("retention_class.code"))
    # when its retention runs out (records.retention.disposition_date), None: not yet known
    disposition_on: Mapped[date | None] = mapped_column(Date, index=True)
    # 已销毁: the catalogue keeps the entry, the blobs and their data keys are gone
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    destruction_list_id: Mapped[int | None] = mapped_column(ForeignKey("destruction_list.id"))

    household: Mapped[Household] = relationship(back_populates="dossier")
    container: Mapped[Container | None] = relationship()
    documents: Mapped[list[Document]] = relationship(
        back_populates="dossier", order_by="Document.seq"
    )


class DocumentType(Base):
    """A controlled vocabulary of document types (材料类别), seeded by the first migration.

    ``required``: a complete dossier holds at least one document of this type
    (records.completeness); administrators change the vocabulary and the flag.
    """

    __tablename__ = "document_type"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(50), unique=True)
    name_en: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(default=False)
    # a type of daily-management records (日常管理档案: 花名册, 公示记录 ...), filed in a region's
    # volume, never in a household's dossier; completeness never asks for one
    daily: Mapped[bool] = mapped_column(default=False)
    # the retention class a document of this type gets unless an archivist sets another
    retention_class: Mapped[str] = mapped_column(ForeignKey("retention_class.code"),
                                                 default="approval-3y")


class Document(Base):
    """件: one document of a household's dossier or of a region's volume of daily-management
    records (exactly one of the two), stored as one encrypted archival PDF."""

    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("dossier_id", "seq", name="uq_document_dossier_seq"),
        UniqueConstraint("dossier_id", "sha256", name="uq_document_dossier_sha256"),
        UniqueConstraint("volume_id", "seq", name="uq_document_volume_seq"),
        UniqueConstraint("volume_id", "sha256", name="uq_document_volume_sha256"),
        CheckConstraint("(dossier_id IS NULL) <> (volume_id IS NULL)",
                        name="ck_document_one_home"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), index=True)
    # 日常管理档案: the region's volume of the year (then dossier_id is NULL)
    volume_id: Mapped[int | None] = mapped_column(ForeignKey("volume.id"), index=True)
    month: Mapped[int | None] = mapped_column(Integer)  # 1-12, for monthly records
    type_code: Mapped[str] = mapped_column(ForeignKey("document_type.code"))
    # the order in the dossier (顺序号, 1..n); reordering changes it (records.numbering)
    seq: Mapped[int] = mapped_column(Integer)
    # 件号: the item number, never given twice in a dossier (history in item_number)
    item_no: Mapped[int | None] = mapped_column(Integer)
    date: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    responsible: Mapped[str | None] = mapped_column(String(100))  # 责任者
    page_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # of the original upload
    source_kind: Mapped[str] = mapped_column(String(10))  # pdf / tiff / jpeg / png
    source_size: Mapped[int] = mapped_column(Integer)
    pdf_ref: Mapped[str] = mapped_column(String(64))
    pdf_key: Mapped[bytes] = mapped_column(LargeBinary)  # data key wrapped by the master key
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    pdf_size: Mapped[int] = mapped_column(Integer)
    # the file exactly as received, encrypted like everything (its SHA-256 is ``sha256``);
    # None for documents ingested before it was kept (migration 0007)
    original_ref: Mapped[str | None] = mapped_column(String(64))
    original_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    original_size: Mapped[int | None] = mapped_column(Integer)
    ocr_engine: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID below
    # None: its type's class (DocumentType.retention_class); set by an archivist with a
    # reason; "daily-5y" for daily records
    retention_class: Mapped[str | None] = mapped_column(ForeignKey("retention_class.code"))
    # set with its dossier's destruction; its wrapped data keys are then empty (b"")
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the digitisation batch (批次) it came in with, if any (ingest.box)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), index=True)

    dossier: Mapped[Dossier | None] = relationship(back_populates="documents")
    volume: Mapped[Volume | None] = relationship(back_populates="documents")
    type: Mapped[DocumentType] = relationship()
    pages: Mapped[list[Page]] = relationship(
        back_populates="document", order_by="Page.number", cascade="all, delete-orphan"
    )
    # corrections of its pages and rescans (ingest.corrections), oldest first
    corrections: Mapped[list[Correction]] = relationship(
        back_populates="document", order_by="Correction.id")

    @property
    def household_number(self) -> str | None:
        """The household whose dossier holds it; None for a daily-management record."""
        return self.dossier.household.number if self.dossier is not None else None

    @property
    def region_code(self) -> str:
        """Where it lies for the jurisdiction check: the household's village, or the region
        of the volume it is filed in."""
        if self.dossier is not None:
            return self.dossier.household.region_code
        return self.volume.region_code


class Page(Base):
    """One page of a document: its access image and its OCR text, both encrypted blobs."""

    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_page_document_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)  # access image, pixels
    height: Mapped[int] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)  # correction applied at ingest
    image_ref: Mapped[str] = mapped_column(String(64))
    image_key: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64))
    text_ref: Mapped[str] = mapped_column(String(64))
    text_key: Mapped[bytes] = mapped_column(LargeBinary)
    text_sha256: Mapped[str] = mapped_column(String(64))
    text_source: Mapped[str] = mapped_column(String(10))  # ocr / pdf (existing layer) / none
    ocr_confidence: Mapped[float | None] = mapped_column(Float)
    # engine that produced this page's text (re-OCR can change it per page)
    ocr_engine: Mapped[str | None] = mapped_column(String(100))
    # reasons for an archivist's look, comma-separated (ingest.ocr.fields), None if none
    flag: Mapped[str | None] = mapped_column(String(100), index=True)
    # where ID numbers are printed: JSON [[x0, y0, x1, y1], ...] as fractions of the page,
    # covered on images for readers without see_full_id (ingest.redaction); never the numbers.
    # None: not known yet (archived before regions were kept), "[]": none found
    id_regions: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID below

    document: Mapped[Document] = relationship(back_populates="pages")


class Correction(Base):
    """One correction of a stored document without re-ingesting it (ingest.corrections):
    a page's OCR text corrected line by line, a page turned, a page or the whole document
    replaced by a rescan.

    ``before`` and ``after`` are JSON of what the catalogue pointed at (blob references,
    SHA-256s, rotation, page count): never text. The lines a text correction changed,
    before and after, are sealed in ``lines_sealed`` (JSON, AES-GCM under a key derived
    from the master key); the dossier's destruction forgets them with its data keys.
    """

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    page: Mapped[int | None] = mapped_column(Integer)  # None: the whole document
    kind: Mapped[str] = mapped_column(String(20))  # text / rotate / replace_page / replace_document
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(500))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    lines_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID below

    document: Mapped[Document] = relationship(back_populates="corrections")


class User(Base):
    """A person who signs in. ``region_code`` None means the whole deployment.

    ``roles`` holds one or more role names, sorted and comma-separated
    (``auditor,staff``); ``records.policy.parse_roles`` reads it.
    """

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    active: Mapped[bool] = mapped_column(default=True)  # False: locked by an administrator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set by a password reset: ``password_hash`` then holds the hash of a one-time code,
    # good once until ``password_expires_at``; the user must choose a new password
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    region: Mapped[Region | None] = relationship()


class AuditEvent(Base):
    """One entry of the append-only, hash-chained audit log (利用登记 and more).

    ``hash`` is the link of this event: over its canonical form, which includes
    ``prev_hash``, by the ``scheme`` it names (plain SHA-256 before the log was keyed,
    HMAC-SHA256 under the chain key of master key ``key_id`` since); see ``records.audit``.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC with microseconds; part of the hash
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str | None] = mapped_column(String(20))
    object_id: Mapped[str | None] = mapped_column(String(64))
    household: Mapped[str | None] = mapped_column(String(40), index=True)
    page: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    scheme: Mapped[str] = mapped_column(String(20), default="sha256", server_default="sha256")
    key_id: Mapped[str | None] = mapped_column(String(16))  # whose chain key made the link


class AuditHead(Base):
    """The single row that serialises appends to the audit chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    keyed_from: Mapped[int | None] = mapped_column(Integer)  # first keyed event; None: not yet
    key_id: Mapped[str | None] = mapped_column(String(16))  # the chain key appends use now
    mac: Mapped[str | None] = mapped_column(String(64))  # HMAC of (last_id, last_hash)


class FailedAttempt(Base):
    """One failed sign-in or self-lookup attempt against one key, for the lock-out
    (``records.lockout``). Keys are keyed hashes made by the caller, never the values."""

    __tablename__ = "failed_attempt"
    __table_args__ = (Index("ix_failed_attempt_kind_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # sign_in / request / redeem
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignedIn(Base):
    """One signed-in browser session (``records.signins``): the session cookie carries a
    random token, the catalogue its SHA-256 and whether it has ended. Every server process
    reads the same row, so signing out (or an idle timeout) ends the session in all of
    them, and a copy of the old cookie opens nothing."""

    __tablename__ = "signed_in"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# -- keys and verification (docs/operations.md) ------------------------------------------
# KEY_ID: rows that hold data keys wrapped by the master key (document, page) or values
# sealed or blind-indexed with its sub-keys (household, household_certificate) name that
# key by its fingerprint in ``key_id``; None: written before key ids were kept, by the key
# current then. A key rotation (``KeyRotation``) re-wraps each row and sets it.


class KeyRotation(Base):
    """One rotation of the master key (``hudang key rotate``): which key to which, and how
    far it got, so that a rotation killed part-way resumes where it stopped. Keys appear
    only by fingerprint."""

    __tablename__ = "key_rotation"

    id: Mapped[int] = mapped_column(primary_key=True)
    old_key: Mapped[str] = mapped_column(String(16))
    new_key: Mapped[str] = mapped_column(String(16))
    state: Mapped[RotationState] = mapped_column(
        Enum(RotationState, native_enum=False, length=10), default=RotationState.running)
    stage: Mapped[str] = mapped_column(String(30), default="")  # the table being re-wrapped
    cursor: Mapped[int] = mapped_column(Integer, default=0)  # last row id done in that table
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VerificationRun(Base):
    """One run of ``hudang verify`` (四性检测) and its report (JSON: findings name objects by
    id and blob ref, never their content)."""

    __tablename__ = "verification_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    passed: Mapped[bool] = mapped_column(default=False)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text)


# -- citizen self-lookup (本人查阅); the rules are in records.self_lookup ---------------
class HouseholdCertificate(Base):
    """The household's allowance certificate (低保证), as a blind index of its number.

    Kept beside ``household`` rather than in it: a household without one on
    file still exists. When a row exists, a self-lookup request must give the
    same number to match.
    """

    __tablename__ = "household_certificate"

    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), primary_key=True)
    # HMAC-SHA256 of the normalised certificate number; the number itself is not stored
    certificate_no_index: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the number sealed (AES-GCM, a key derived from the master key), so that a key
    # rotation can compute its blind index again; None for numbers recorded before 0007
    certificate_no_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID above


class AccessRequest(Base):
    """One matching self-lookup request (本人查阅申请). Non-matching requests leave no row."""

    __tablename__ = "self_lookup_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=10), default=RequestStatus.pending,
        index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # HMAC of the one-time code (records.self_lookup.hash_code); the code is never stored
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    household: Mapped[Household] = relationship()


# -- the archivist's desk: numbering and reviews ------------------------------------------
class ItemNumber(Base):
    """One item number (件号) ever given in a dossier: the history that keeps numbers from
    being given twice (records.numbering). A row is never deleted; ``document_id`` becomes
    NULL when its document is deleted, ``retired_at`` is set when the document gets a new
    number (a reorder)."""

    __tablename__ = "item_number"
    __table_args__ = (UniqueConstraint("dossier_id", "number", name="uq_item_number_dossier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(160))  # the item's archival code as given
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_by: Mapped[str] = mapped_column(String(100))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(40))  # ingest / reorder / numbering


class ReviewEvent(Base):
    """One review of a household (复核/年审): when, by whom, with what outcome."""

    __tablename__ = "review_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    reviewed_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[ReviewOutcome] = mapped_column(
        Enum(ReviewOutcome, native_enum=False, length=20), default=ReviewOutcome.continued)
    note: Mapped[str] = mapped_column(Text, default="")  # ID numbers masked before storing
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- daily-management records and physical locations (issue 13) ----------------------------
DAILY_RETENTION = "daily-5y"  # 日常管理档案: 5 years from their date (DOMAIN.md)


class Volume(Base):
    """日常管理档案卷: the daily-management records (花名册, 公示记录, 资金台账 ...) of one region
    and one year, arranged like a dossier but not of a household."""

    __tablename__ = "volume"
    __table_args__ = (UniqueConstraint("region_code", "year", name="uq_volume_region_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    archival_code: Mapped[str | None] = mapped_column(String(120), unique=True)
    # the retention class's code (the retention engine, issue 16, reads it)
    retention_class: Mapped[str] = mapped_column(String(40), default=DAILY_RETENTION)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    container_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)

    region: Mapped[Region] = relationship()
    container: Mapped[Container | None] = relationship()
    documents: Mapped[list[Document]] = relationship(
        back_populates="volume", order_by="Document.seq")


class Container(Base):
    """A cabinet, box or folder: a code (its barcode says the same), a title, where it stands
    (``parent``) and the region whose papers it keeps (None: the whole deployment's)."""

    __tablename__ = "container"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ContainerKind] = mapped_column(
        Enum(ContainerKind, native_enum=False, length=10))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    parent: Mapped[Container | None] = relationship(remote_side=[id])
    region: Mapped[Region | None] = relationship()


class LocationMove(Base):
    """One move (移位): a dossier, a volume or a container put somewhere else, on a day, by
    someone. ``from_id`` None: it had no place yet; ``to_id`` None: taken out."""

    __tablename__ = "location_move"
    __table_args__ = (
        # a sum of CASEs, not of booleans: PostgreSQL does not add booleans
        CheckConstraint("(CASE WHEN dossier_id IS NULL THEN 0 ELSE 1 END) "
                        "+ (CASE WHEN volume_id IS NULL THEN 0 ELSE 1 END) "
                        "+ (CASE WHEN container_id IS NULL THEN 0 ELSE 1 END) = 1",
                        name="ck_location_move_one_thing"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), index=True)
    volume_id: Mapped[int | None] = mapped_column(ForeignKey("volume.id"), index=True)
    container_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    from_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    to_id: Mapped[int | None] = mapped_column(ForeignKey("container.id"), index=True)
    moved_on: Mapped[date] = mapped_column(Date)
    moved_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")

    dossier: Mapped[Dossier | None] = relationship()
    volume: Mapped[Volume | None] = relationship()
    container: Mapped[Container | None] = relationship(foreign_keys=[container_id])
    source: Mapped[Container | None] = relationship(foreign_keys=[from_id])
    destination: Mapped[Container | None] = relationship(foreign_keys=[to_id])


# -- retention, holds and destruction (records.retention, records.holds, records.destruction) --
class RetentionClass(Base):
    """保管期限: a retention class: how long, counted from what, and what happens then."""

    __tablename__ = "retention_class"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    years: Mapped[int] = mapped_column(Integer)  # 0 for a permanent class
    trigger: Mapped[RetentionTrigger] = mapped_column(
        Enum(RetentionTrigger, native_enum=False, length=20))
    action: Mapped[EndAction] = mapped_column(Enum(EndAction, native_enum=False, length=10))
    # the class of household dossiers that have none of their own (exactly one)
    default_for_dossiers: Mapped[bool] = mapped_column(default=False)
    # the class of the archive's own permanent records (destruction lists, certificates):
    # it stays permanent, whatever an administrator asks
    locked: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class RetentionChange(Base):
    """An archivist's change of a dossier's or a document's retention class, with the reason."""

    __tablename__ = "retention_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    before: Mapped[str | None] = mapped_column(String(40))  # None: the default
    after: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(500))
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Hold(Base):
    """冻结: a hold on a household, a dossier or a document; while it stands, nothing of it is
    destroyed. Lifted, never deleted."""

    __tablename__ = "hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(10))  # household / dossier / document
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    reason: Mapped[str] = mapped_column(String(500))
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    lift_reason: Mapped[str | None] = mapped_column(String(500))

    household: Mapped[Household] = relationship()


class DestructionList(Base):
    """销毁清册: a list of dossiers to destroy, with who drew it up, approved and witnessed it."""

    __tablename__ = "destruction_list"

    id: Mapped[int] = mapped_column(primary_key=True)  # the list's number
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    status: Mapped[ListStatus] = mapped_column(
        Enum(ListStatus, native_enum=False, length=10), default=ListStatus.draft, index=True)
    fonds: Mapped[str] = mapped_column(String(20))  # 全宗号
    due_within: Mapped[int] = mapped_column(Integer, default=0)
    drafted_by: Mapped[str] = mapped_column(String(100))  # the appraisal lead (鉴定小组)
    drafted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the end of the waiting period (HUDANG_DESTRUCTION_WAIT_DAYS after approval)
    wait_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    witness_1_by: Mapped[str | None] = mapped_column(String(100))  # 监销人
    witness_1_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    witness_2_by: Mapped[str | None] = mapped_column(String(100))
    witness_2_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    executed_by: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)  # the last return's comment

    region: Mapped[Region] = relationship()
    items: Mapped[list[DestructionItem]] = relationship(
        back_populates="destruction_list", order_by="DestructionItem.position",
        cascade="all, delete-orphan")
    steps: Mapped[list[DestructionStep]] = relationship(
        order_by="DestructionStep.id", cascade="all, delete-orphan")


class DestructionItem(Base):
    """One dossier on a destruction list, with the row the printed list shows (a snapshot
    taken when it was listed) and its status at execution."""

    __tablename__ = "destruction_item"
    __table_args__ = (UniqueConstraint("list_id", "dossier_id", name="uq_destruction_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("destruction_list.id"), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 序号
    household_no: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))  # 题名
    years: Mapped[str] = mapped_column(String(20))  # 年度
    archival_code: Mapped[str] = mapped_column(String(120))  # 档号
    retention: Mapped[str] = mapped_column(String(100))  # 应保管期限
    retained_from: Mapped[date | None] = mapped_column(Date)  # the period's start
    due_on: Mapped[date | None] = mapped_column(Date)
    pages: Mapped[int] = mapped_column(Integer)  # 页数
    note: Mapped[str] = mapped_column(String(300), default="")  # 备注
    status: Mapped[ItemStatus] = mapped_column(
        Enum(ItemStatus, native_enum=False, length=10), default=ItemStatus.pending)
    outcome: Mapped[str | None] = mapped_column(String(300))  # why held or skipped
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    destruction_list: Mapped[DestructionList] = relationship(back_populates="items")
    dossier: Mapped[Dossier] = relationship()


class DestructionStep(Base):
    """One step of a list's procedure: who did what, when, with what comment."""

    __tablename__ = "destruction_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("destruction_list.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))  # draft / submit / return / approve / ...
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")


class ArchiveRecord(Base):
    """A record of the archive's own work, kept as an encrypted PDF under a retention class:
    the destruction lists and certificates (permanent). Never a household's, so never on a
    destruction list."""

    __tablename__ = "archive_record"
    __table_args__ = (UniqueConstraint("destruction_list_id", "kind",
                                       name="uq_archive_record_list_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # destruction_list / destruction_certificate
    title: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    date: Mapped[date] = mapped_column(Date)
    retention_class: Mapped[str] = mapped_column(ForeignKey("retention_class.code"))
    destruction_list_id: Mapped[int | None] = mapped_column(ForeignKey("destruction_list.id"))
    page_count: Mapped[int] = mapped_column(Integer)
    pdf_ref: Mapped[str] = mapped_column(String(64))
    pdf_key: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    pdf_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str | None] = mapped_column(String(16))  # see KEY_ID above
