"""Who may do what: the one place that decides access.

Routes, templates, search and the CLI all ask :func:`decide`. It is a pure
function over plain values so it can be tested without a server.

Jurisdiction is a region subtree: statistical area codes nest by prefix
(county 6 digits, township 9, village 12), so a household is inside a user's
jurisdiction when its village code starts with the user's region code. A
user with no region has the whole deployment.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(str, enum.Enum):
    administrator = "administrator"  # 管理员
    archivist = "archivist"  # 档案员
    staff = "staff"  # 经办人员
    reviewer = "reviewer"  # 鉴定小组 / 审批人
    auditor = "auditor"  # 监督
    operator = "operator"  # the operating-system user at the console, holder of the master key
    citizen = "citizen"  # 本人: a person reading their own household's dossier with an access code


class Action(str, enum.Enum):
    search = "search"
    read_household = "read_household"  # see a dossier's list of documents
    read_page = "read_page"  # see a page image
    read_text = "read_text"  # see a page's OCR text
    ingest = "ingest"
    manage = "manage"  # users, regions, households
    audit_view = "audit_view"  # read or verify the audit log


# What each role may do at all; the jurisdiction check comes on top.
_ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.administrator: frozenset({Action.manage, Action.search, Action.read_household}),
    Role.archivist: frozenset({Action.ingest, Action.search, Action.read_household,
                               Action.read_page, Action.read_text}),
    Role.staff: frozenset({Action.search, Action.read_household, Action.read_page,
                           Action.read_text}),
    Role.reviewer: frozenset({Action.search, Action.read_household, Action.read_page}),
    Role.auditor: frozenset({Action.audit_view, Action.search, Action.read_household}),
    Role.operator: frozenset(Action),
    Role.citizen: frozenset({Action.read_household, Action.read_page}),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user name, roles and a jurisdiction (None = everywhere).

    A citizen (本人) is bound to one household instead of a region.
    """

    name: str
    roles: frozenset[Role]
    region: str | None = None
    household: str | None = None


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


def decide(principal: Principal, action: Action, region_code: str | None = None,
           household: str | None = None) -> Decision:
    """May ``principal`` do ``action`` on an object located in ``region_code``?

    ``region_code`` is the household's village code for household, document
    and page objects; None for actions not tied to one household (search,
    ingest in general, audit). ``household`` is the object's household
    number, which a citizen's access is bound to.
    """
    if not any(action in _ROLE_ACTIONS[r] for r in principal.roles):
        return Decision(False, f"role does not permit {action.value}")
    if principal.household is not None and household != principal.household:
        return Decision(False, "not the reader's own household")
    if region_code is not None and not in_jurisdiction(principal, region_code):
        return Decision(False, "outside the user's jurisdiction")
    return Decision(True)


def search_scope(principal: Principal) -> str | None:
    """The region prefix a search by this principal is confined to (None: all)."""
    return principal.region


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role if r not in (Role.operator, Role.citizen))
        raise ValueError(f"unknown role '{value}'; choose one of: {names}") from None
