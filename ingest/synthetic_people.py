"""The people and places of the synthetic dossiers: the data model both the generator
(``ingest.synthetic``) and the form layouts (``ingest.synthetic_forms``) work on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass
class Person:
    name: str
    id_number: str
    sex: str  # '男' / '女'
    birth: date
    relation: str  # relation to the head: '户主', '配偶', '子', '女', '父亲', '母亲', '孙子', '孙女'
    phone: str = ""  # 11-digit mobile number (make_phone)


@dataclass
class Region:
    """A county (6-digit code), township (9) or village (12), as in the statistical area codes."""

    code: str
    name: str
    parent: str | None


@dataclass
class Household:
    """One household and its dossier number (一户一档、一户一号)."""

    number: str  # village code + '-' + 4-digit serial, e.g. '220381105012-0042'
    region_code: str  # the village's 12-digit code
    county: str
    township: str
    village: str
    address: str
    head: Person
    members: list[Person]  # head first
    monthly_income: int  # yuan, the whole household
    allowance: int  # yuan per month
    applied_on: date = date(2023, 3, 1)  # date of the application letter; the other documents follow it
