"""Who may do what: the one place that decides access.

Routes, templates, search and the CLI all ask :func:`decide`. It is a pure
function over plain values so it can be tested without a server.

Jurisdiction is a region subtree: statistical area codes nest by prefix
(county 6 digits, township 9, village 12), so a household is inside a user's
jurisdiction when its village code starts with the user's region code. A
user with no region has the whole deployment.

A user may hold several roles; what they may do is the union of what each
role grants (:data:`ROLE_ACTIONS`), plus any grants a deployment adds with
``HUDANG_GRANTS`` (see :func:`parse_grants` and ``docs/access.md``). The
jurisdiction check comes on top of every role.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from records.exceptions import Invalid


class Role(str, enum.Enum):
    administrator = "administrator"  # 管理员
    archivist = "archivist"  # 档案员
    staff = "staff"  # 经办人员
    reviewer = "reviewer"  # 鉴定小组: the appraisal group, drafts destruction lists
    approver = "approver"  # 审批人: approves or returns destruction lists
    witness = "witness"  # 监销人: confirms a destruction
    auditor = "auditor"  # 监督
    inspector = "inspector"  # 质检员: judges the sample of a digitisation batch (验收)
    operator = "operator"  # the operating-system user at the console, holder of the master key
    citizen = "citizen"  # 本人: a person reading their own household's dossier with an access code


# The roles an account can hold (operator and citizen are never stored on an account).
ACCOUNT_ROLES = (Role.administrator, Role.archivist, Role.staff, Role.reviewer, Role.approver,
                 Role.witness, Role.auditor, Role.inspector)


class Action(str, enum.Enum):
    search = "search"
    read_household = "read_household"  # see a dossier's list of documents
    read_page = "read_page"  # see a page image
    read_text = "read_text"  # see a page's OCR text
    download = "download"  # take away the archival PDF (watermarked)
    see_full_id = "see_full_id"  # see an ID number unmasked
    ingest = "ingest"  # also re-OCR, corrections and acceptance rework (ingest.corrections)
    batches = "batches"  # see digitisation batches (批次), their rows, reports and acceptance
    accept = "accept"  # draw and judge the sample of a batch (验收, ingest.acceptance)
    edit_household = "edit_household"  # create, edit, import households; record status changes
    manage = "manage"  # users, regions and the document-type vocabulary
    audit_view = "audit_view"  # read, export, verify or anchor the audit log
    verify = "verify"  # run the four-property check (四性检测) and read its reports
    backup = "backup"  # copy the archive (encrypted) to a backup
    manage_keys = "manage_keys"  # export or rotate the master key
    approve_self_lookup = "approve_self_lookup"  # issue a citizen's 本人查阅 access code
    catalogue = "catalogue"  # correct a document's type, date, title, 责任者; reorder a dossier
    record_review = "record_review"  # record a household's review (复核)
    report = "report"  # gaps, roster, statistics, due reviews, reconciliation of a region
    locate = "locate"  # keep cabinets, boxes and folders: add, move papers, print labels
    retention_due = "retention_due"  # the retention review queue (records.retention)
    set_retention = "set_retention"  # change a dossier's or a document's retention class
    hold = "hold"  # place and lift holds (冻结)
    destruction_view = "destruction_view"  # see destruction lists and their certificates
    destruction_draft = "destruction_draft"  # draw up, change, submit or withdraw a list
    destruction_approve = "destruction_approve"  # approve a list or return it
    destruction_witness = "destruction_witness"  # confirm a destruction as a witness (监销人)
    destruction_execute = "destruction_execute"  # carry out an approved, witnessed list
    jobs = "jobs"  # see one's own background jobs and retry them
    jobs_all = "jobs_all"  # see and retry everyone's background jobs


# How a refusal names an action (records.door.Refused), in a sentence "this account may not ..."
ACTION_WORDS: dict[Action, str] = {
    Action.search: "search the archive",
    Action.read_household: "open dossiers",
    Action.read_page: "read page images",
    Action.read_text: "read page text",
    Action.download: "download documents",
    Action.see_full_id: "see full ID numbers",
    Action.ingest: "ingest, re-OCR or correct documents",
    Action.batches: "see digitisation batches",
    Action.accept: "accept digitisation batches",
    Action.edit_household: "create or change households",
    Action.manage: "manage users, regions, document types and retention classes",
    Action.audit_view: "read the audit log",
    Action.verify: "verify the archive",
    Action.backup: "back up the archive",
    Action.manage_keys: "export or rotate the master key",
    Action.approve_self_lookup: "approve self-lookup requests",
    Action.catalogue: "correct documents or their order",
    Action.record_review: "record reviews",
    Action.report: "see reports",
    Action.locate: "keep cabinets, boxes and folders",
    Action.retention_due: "see the retention review queue",
    Action.set_retention: "change retention classes of dossiers and documents",
    Action.hold: "place or lift holds",
    Action.destruction_view: "see destruction lists",
    Action.destruction_draft: "draw up destruction lists",
    Action.destruction_approve: "approve destruction lists",
    Action.destruction_witness: "witness destructions",
    Action.destruction_execute: "carry out destructions",
    Action.jobs: "see background jobs",
    Action.jobs_all: "see other people's background jobs",
}

# What each role may do at all; the jurisdiction check comes on top.
# docs/access.md shows this table; tests/test_access.py checks the two agree.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.administrator: frozenset({Action.manage, Action.search, Action.read_household,
                                   Action.report, Action.verify, Action.backup,
                                   Action.manage_keys, Action.jobs, Action.jobs_all}),
    Role.archivist: frozenset({Action.ingest, Action.edit_household, Action.search,
                               Action.read_household, Action.read_page, Action.read_text,
                               Action.download, Action.catalogue, Action.record_review,
                               Action.report, Action.locate, Action.retention_due,
                               Action.set_retention, Action.hold, Action.jobs,
                               Action.batches}),
    Role.staff: frozenset({Action.search, Action.read_household, Action.read_page,
                           Action.read_text, Action.approve_self_lookup, Action.record_review,
                           Action.report}),
    Role.reviewer: frozenset({Action.search, Action.read_household, Action.read_page,
                              Action.retention_due, Action.hold, Action.destruction_view,
                              Action.destruction_draft, Action.destruction_execute,
                              Action.jobs}),
    Role.approver: frozenset({Action.search, Action.read_household, Action.read_page,
                              Action.retention_due, Action.hold, Action.destruction_view,
                              Action.destruction_approve, Action.destruction_execute,
                              Action.jobs}),
    Role.witness: frozenset({Action.read_household, Action.destruction_view,
                             Action.destruction_witness}),
    Role.auditor: frozenset({Action.audit_view, Action.search, Action.read_household,
                             Action.verify, Action.destruction_view, Action.jobs}),
    # reads the sampled documents to judge them, never changes them (rework is ingest's)
    Role.inspector: frozenset({Action.batches, Action.accept, Action.search,
                               Action.read_household, Action.read_page, Action.read_text}),
    # the console user holds the master key and may do everything, except see ID numbers in
    # full: like every role, that needs a deployment's grant (HUDANG_GRANTS)
    Role.operator: frozenset(Action) - {Action.see_full_id},
    Role.citizen: frozenset({Action.read_household, Action.read_page}),
}

Grants = Mapping[Role, frozenset[Action]]


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user name, roles and a jurisdiction (None = everywhere).

    A citizen (本人) is bound to one household instead of a region.
    ``granted`` holds actions a deployment grants this user's roles on top of
    :data:`ROLE_ACTIONS` (``HUDANG_GRANTS``); see :func:`principal_grants`.
    """

    name: str
    roles: frozenset[Role]
    region: str | None = None
    household: str | None = None
    granted: frozenset[Action] = frozenset()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def in_jurisdiction(principal: Principal, region_code: str | None) -> bool:
    if principal.region is None:
        return True
    return region_code is not None and region_code.startswith(principal.region)


def permits(principal: Principal, action: Action) -> bool:
    """Does any of the principal's roles (or a deployment grant) allow ``action`` at all?"""
    return action in principal.granted or any(action in ROLE_ACTIONS[r] for r in principal.roles)


def decide(principal: Principal, action: Action, region_code: str | None = None,
           household: str | None = None) -> Decision:
    """May ``principal`` do ``action`` on an object located in ``region_code``?

    ``region_code`` is the household's village code for household, document
    and page objects; None for actions not tied to one household (search,
    ingest in general, audit); ``""`` for an object kept for the whole deployment
    (a container or a digitisation batch with no region), which only a principal
    with no region reaches. ``household`` is the object's household
    number, which a citizen's access is bound to.
    """
    if not permits(principal, action):
        return Decision(False, f"role does not permit {action.value}")
    if Role.citizen in principal.roles and principal.household is None:
        return Decision(False, "a citizen reads only a household bound by an approved request")
    if principal.household is not None and household != principal.household:
        return Decision(False, "not the reader's own household")
    if region_code is not None and not in_jurisdiction(principal, region_code):
        return Decision(False, "outside the user's jurisdiction")
    return Decision(True)


def may_see_job(principal: Principal, submitted_by: str) -> Decision:
    """A background job is its submitter's; others see it only with ``jobs_all`` (an
    administrator: the whole deployment's work)."""
    if not permits(principal, Action.jobs):
        return Decision(False, "role does not permit jobs")
    scope = job_scope(principal)
    if scope is None or submitted_by == scope:
        return Decision(True)
    return Decision(False, "another user's job")


def job_scope(principal: Principal) -> str | None:
    """The submitter every job listing by this principal is confined to (None: everyone's);
    each job shown or retried is still checked with :func:`may_see_job`."""
    return None if permits(principal, Action.jobs_all) else principal.name


def may_judge_batch(principal: Principal, batch_operator: str) -> Decision:
    """Separation of duties (验收): the account that ran a digitisation batch does not
    judge its sample; someone else checks its work."""
    if not permits(principal, Action.accept):
        return Decision(False, "role does not permit accept")
    if principal.name == batch_operator:
        return Decision(False, "the batch's own operator may not judge its sample")
    return Decision(True)


def full_ids(principal: Principal, region_code: str | None, household: str | None) -> bool:
    """May ``principal`` see ID numbers of this household in full? The one decision for every
    form (text, page images, downloads, members)."""
    return decide(principal, Action.see_full_id, region_code, household).allowed


def region_scope(principal: Principal) -> str | None:
    """The region prefix every listing by this principal is confined to (None: all).

    Searches, the audit screen and the self-lookup queue filter their queries
    by it, so counts never include what the principal may not see; each
    object shown is still checked with :func:`decide`.
    """
    return principal.region


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip())
    except ValueError:
        names = ", ".join(r.value for r in ACCOUNT_ROLES)
        raise Invalid(f"unknown role '{value}'; choose one of: {names}") from None


def parse_roles(values: str | Iterable[str]) -> frozenset[Role]:
    """``"staff,auditor"`` or ``["staff", "auditor"]`` (or both mixed) -> a set of roles."""
    items = [values] if isinstance(values, str) else list(values)
    roles = {parse_role(part) for item in items for part in str(item).split(",") if part.strip()}
    if not roles:
        raise Invalid("give at least one role")
    return frozenset(roles)


def format_roles(roles: Iterable[Role]) -> str:
    """The stored form of a set of roles: their names, sorted, comma-separated."""
    return ",".join(sorted(Role(r).value for r in roles))


def parse_grants(spec: str | None) -> dict[Role, frozenset[Action]]:
    """Extra grants from ``HUDANG_GRANTS``: ``"see_full_id=administrator;download=staff"``.

    Only adds rights (a deployment cannot take away what :data:`ROLE_ACTIONS`
    grants); an unknown action or role raises ValueError naming it.
    """
    grants: dict[Role, set[Action]] = {}
    for clause in (spec or "").split(";"):
        if not clause.strip():
            continue
        action_name, sep, role_names = clause.partition("=")
        if not sep:
            raise ValueError(f"HUDANG_GRANTS clause '{clause.strip()}' must look like "
                             "action=role,role")
        try:
            action = Action(action_name.strip())
        except ValueError:
            names = ", ".join(a.value for a in Action)
            raise ValueError(f"unknown action '{action_name.strip()}' in HUDANG_GRANTS; "
                             f"choose one of: {names}") from None
        for role in parse_roles(role_names):
            grants.setdefault(role, set()).add(action)
    return {role: frozenset(actions) for role, actions in grants.items()}


def principal_grants(roles: Iterable[Role], grants: Grants | None) -> frozenset[Action]:
    """The extra actions ``grants`` gives to holders of ``roles``."""
    if not grants:
        return frozenset()
    return frozenset(a for r in roles for a in grants.get(r, ()))
