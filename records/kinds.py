"""The kinds of values the catalogue stores in its columns (``records.model`` uses them and
names them again, so ``from records.model import HouseholdStatus`` keeps working).

Each is a ``str`` enum stored by its value (``native_enum=False``): adding a member needs
no migration of the column type, only of values already stored.
"""
from __future__ import annotations

import enum

__all__ = ["AcceptanceOutcome", "Area", "BatchState", "ContainerKind", "EndAction", "FileOutcome", "HouseholdStatus",
           "ItemStatus", "JobKind", "JobState", "ListStatus",
           "RegionLevel", "RequestStatus", "RetentionTrigger", "ReviewOutcome", "RotationState",
           "ReworkState", "RowOutcome", "ScanProfile", "StatusChange", "Verdict"]


class RegionLevel(str, enum.Enum):
    """行政区划级别, read from the length of the statistical area code."""

    county = "county"  # 县, 6 digits
    township = "township"  # 乡镇/街道, 9 digits
    village = "village"  # 村/社区, 12 digits


class HouseholdStatus(str, enum.Enum):
    """Follows the household's status events (``records.households.replay``)."""

    active = "active"  # 在保
    suspended = "suspended"  # 停发: payment paused, still enrolled
    stopped = "stopped"  # 停保: starts the retention clock


class Area(str, enum.Enum):
    """城乡: whether the household is under the urban or the rural allowance."""

    urban = "urban"  # 城市
    rural = "rural"  # 农村


class StatusChange(str, enum.Enum):
    """A change of the allowance (动态管理); the value is the CLI's flag."""

    suspend = "suspend"  # 停发
    increase = "raise"  # 增发
    decrease = "lower"  # 减发
    stop = "stop"  # 停保: its date is the stop date, the retention clock's start
    resume = "resume"  # 恢复


class RetentionTrigger(str, enum.Enum):
    """When a retention class's period starts (records.retention)."""

    document_date = "document_date"  # from the document's date (日常管理类: daily-management)
    stop_date = "stop_date"  # from the household's stop date (停保后N年)
    permanent = "permanent"  # never falls due (永久)


class EndAction(str, enum.Enum):
    """What happens when a retention period has run out."""

    destroy = "destroy"  # 销毁, through a destruction list
    review = "review"  # 鉴定: appraised again
    transfer = "transfer"  # 移交: handed to another archive


class RotationState(str, enum.Enum):
    running = "running"
    done = "done"


class RequestStatus(str, enum.Enum):
    pending = "pending"  # waiting for staff to see the ID card
    approved = "approved"  # a code was issued and not yet used
    redeemed = "redeemed"  # the code opened a reading session (until expires_at)
    closed = "closed"  # the reader ended the session
    rejected = "rejected"  # staff declined


class ReviewOutcome(str, enum.Enum):
    continued = "continued"  # 继续享受
    adjusted = "adjusted"  # 调整保障金额
    stop_proposed = "stop_proposed"  # 建议停保


class ContainerKind(str, enum.Enum):
    """一村一柜、一组一盒、一户一袋: what a container is, from the outside in."""

    cabinet = "cabinet"  # 柜
    box = "box"  # 盒
    folder = "folder"  # 袋 (or 卷夹): one household's dossier


class ListStatus(str, enum.Enum):
    """Where a destruction list (销毁清册) stands (records.destruction)."""

    draft = "draft"  # the appraisal group (reviewer) is drawing it up
    submitted = "submitted"  # waits for an approver
    returned = "returned"  # sent back with a comment; the reviewer may change and resubmit
    approved = "approved"  # the waiting period, then two witnesses
    executing = "executing"  # destruction under way (resumable)
    executed = "executed"  # done; its list and certificate are permanent records
    cancelled = "cancelled"  # withdrawn before approval


class ItemStatus(str, enum.Enum):
    pending = "pending"  # on the list, not destroyed yet
    destroyed = "destroyed"  # 已销毁
    held = "held"  # a hold stopped it at execution (冻结)
    skipped = "skipped"  # no longer due at execution (its class or stop date changed)


class ScanProfile(str, enum.Enum):
    """What a digitisation batch (批次) asks of its scans (ingest.scanquality)."""

    standard = "standard"  # DA/T 31-2017's minimum: any colour mode
    colour = "colour"  # every page in colour (red seals, photos: DA/T 31-2017 9.3)


class BatchState(str, enum.Enum):
    """Where a batch stands. Sampling acceptance (验收) adds its states after ``ingested``."""

    running = "running"  # rows are being ingested (or the run was interrupted: run it again)
    ingested = "ingested"  # every row has an outcome; ready for acceptance
    sampling = "sampling"  # a sample is drawn and being judged (验收, ingest.acceptance)
    accepted = "accepted"  # the sample's pass rate reached the threshold (验收合格)
    rejected = "rejected"  # it did not: the failed documents go back for rework, then a new round


class AcceptanceOutcome(str, enum.Enum):
    """What a round of sampling acceptance (验收) decided."""

    accepted = "accepted"  # 合格
    rejected = "rejected"  # 不合格


class Verdict(str, enum.Enum):
    """The inspector's judgement of one sampled document."""

    passed = "pass"  # 合格
    failed = "fail"  # 不合格, with a reason


class ReworkState(str, enum.Enum):
    """A sampled document's rework (返工): a failed one is rescanned by the archivist."""

    none = "none"  # passed, or not judged yet
    pending = "pending"  # failed: waits for a rescan
    done = "done"  # rescanned (ingest.corrections.replace_document)


class RowOutcome(str, enum.Enum):
    """What became of one row of a box's manifest (or one part of a separated scan)."""

    pending = "pending"  # not reached yet
    stored = "stored"  # ingested by this batch
    duplicate = "duplicate"  # the same file was already in the dossier (a re-run, or twice)
    failed = "failed"  # refused, with its sentence; nothing of it was stored


class JobKind(str, enum.Enum):
    """Long work a worker runs (ingest.jobs): what a job does."""

    ingest = "ingest"  # files uploaded into a household's dossier
    reindex = "reindex"  # rebuild the search index
    verify = "verify"  # the four-property check (四性检测)
    reocr = "reocr"  # OCR a stored document again
    box = "box"  # a box's files with their manifest, uploaded in the browser (ingest.box)
    destroy = "destroy"  # carry out an approved, witnessed destruction list (ingest.shredding)


class JobState(str, enum.Enum):
    queued = "queued"  # waits for a worker (again, after a dead worker's lease ran out)
    running = "running"  # a worker holds its lease
    failed = "failed"  # stopped with a sentence; may be retried
    done = "done"


class FileOutcome(str, enum.Enum):
    """What became of one file of an ingest job."""

    stored = "stored"
    duplicate = "duplicate"  # the same file is already in the dossier
    refused = "refused"  # ingest refused it, with a sentence
