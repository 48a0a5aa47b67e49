"""Synthetic text documents for the search benchmark (no images, no OCR).

Each document is one page of 500-1500 characters: a 低保 document type,
the head of household with name, ID number, address and household number,
the members with their ID numbers and a sentence each, and boilerplate of the
programme. Deterministic: document i depends only on (seed, i).

Like OCR output, 30% of documents carry one or two look-alike characters
(因->固, 于->干, ...) right after a person's name. ``text`` is what gets
indexed (with those errors); ``clean`` is the printed truth used for
relevance judgements.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from ingest.synthetic import FEMALE_GIVEN, MALE_GIVEN, SURNAMES, make_id_number

DOC_TYPES = {
    "application": "申请书",
    "approval_form": "申报审批表",
    "id_card_copy": "身份证复印件",
    "hukou_copy": "户口簿复印件",
    "income_certificate": "收入证明",
}
COUNTY = "220381"
TOWNSHIPS = [f"{COUNTY}{100 + t:03d}" for t in range(1, 11)]  # 10 townships
VILLAGES = [f"{t}{200 + v:03d}" for t in TOWNSHIPS for v in range(10)]  # 100 villages
TOWN_NAMES = ("东风镇", "红旗乡", "前进镇", "胜利乡", "太平镇", "长青乡", "新民镇", "和平乡", "兴华镇", "永安乡")
VILLAGE_NAMES = ("红星村", "向阳村", "光明村", "丰收村", "新华村", "团结村", "永兴村", "富民村", "建设村", "民主村")

# Member sentences: each starts with a character OCR confuses with a look-alike.
MEMBER_STORY = (
    "因病丧失劳动能力，长期服药", "患有慢性疾病，需要长期治疗", "于{y}年外出务工，收入不稳定",
    "在家务农，年收入微薄", "长期卧床，需要家人照料", "已年满{n}周岁，无固定收入",
    "未参加工作，在校读书", "为残疾人员，持有残疾证",
)
LOOKALIKE = {"因": "固", "患": "思", "于": "干", "在": "任", "长": "卡", "已": "己", "未": "末", "为": "办"}

BOILERPLATE = (
    "根据最低生活保障审核确认办法的规定，经本人申请，村民委员会入户调查，",
    "家庭收入低于当地最低生活保障标准，生活困难，符合申请条件。",
    "经民主评议，参加评议人员一致同意将该户纳入最低生活保障范围。",
    "乡镇人民政府对申请人家庭经济状况进行了核查，情况属实。",
    "公示期间无异议，拟批准享受最低生活保障待遇。",
    "申请人承诺所提供的信息真实有效，如有虚假愿承担相应责任。",
    "家庭成员无机动车辆，无商品住房，无经营性收入。",
    "村委会审核意见：情况属实，同意上报。",
    "该户家庭人均收入低于保障标准，生活确有困难。",
    "请民政部门予以审核批准为盼。",
    "入户调查时家中陈设简陋，无大额存款。",
    "家庭主要收入来源为种植业，受灾减产，生活困难。",
    "经信息核对，未发现其他财产和收入。",
    "申请人及家庭成员同意授权民政部门核对家庭经济状况。",
    "特此证明，情况属实。",
    "县级民政部门审批意见：同意，自次月起发放保障金。",
)
# Two-word phrases for the "common phrase" query class (each occurs in the boilerplate).
PHRASES = ("生活困难", "家庭收入", "民主评议", "入户调查", "审核意见", "情况属实", "保障标准",
           "经济状况", "信息核对", "申请条件")


@dataclass
class GenDoc:
    document_id: int
    household: str
    head_name: str
    region: str
    doc_type: str
    doc_type_name: str
    title: str
    date: str
    text: str  # as indexed (with look-alike errors)
    clean: str  # as printed
    names: list  # member names in the text
    ids: list  # ID numbers in the text
    planted: list  # [(clean window start, end)] spans around a look-alike error


def _name(rng: random.Random, sex: str, surname: str | None = None) -> str:
    pool = MALE_GIVEN if sex == "男" else FEMALE_GIVEN
    return (surname or rng.choice(SURNAMES)) + "".join(rng.sample(pool, 1 if rng.random() < 0.4 else 2))


def _household(seed: int, h: int) -> dict:
    rng = random.Random(f"{seed}/household/{h}")
    village = VILLAGES[h % len(VILLAGES)]
    number = f"{village}-{h // len(VILLAGES) + 1:04d}"
    from datetime import date, timedelta

    members = []
    head_sex = "男" if rng.random() < 0.7 else "女"
    surname = rng.choice(SURNAMES)
    relations = ["户主"] + rng.sample(["配偶", "子", "女", "父亲", "母亲"], rng.randint(0, 3))
    for rel in relations:
        sex = head_sex if rel == "户主" else ("女" if rel in ("女", "母亲") else "男") if rel != "配偶" else (
            "女" if head_sex == "男" else "男")
        birth = date(rng.randint(1940, 2015), 1, 1) + timedelta(days=rng.randrange(365))
        name = _name(rng, sex, surname if rel in ("户主", "子", "女", "父亲") else None)
        members.append((rel, name, sex, birth, make_id_number(rng, COUNTY, birth, sex)))
    town = TOWNSHIPS.index(village[:9])
    address = (f"吉林省青山县{TOWN_NAMES[town]}{VILLAGE_NAMES[int(village[9:]) - 200]}"
               f"{rng.randint(1, 9)}组{rng.randint(1, 120)}号")
    return {"number": number, "village": village, "members": members, "address": address}


def make_doc(seed: int, i: int, _cache: dict = {}) -> GenDoc:
    h = i // 5
    hh = _cache.get((seed, h))
    if hh is None:
        if len(_cache) > 64:
            _cache.clear()
        hh = _cache[(seed, h)] = _household(seed, h)
    rng = random.Random(seed * 1_000_003 + i)
    code = list(DOC_TYPES)[i % 5]
    type_name = DOC_TYPES[code]
    head = hh["members"][0]
    year = rng.randint(2018, 2024)
    date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    parts = [f"{type_name}\n", f"申请人{head[1]}，性别{head[2]}，公民身份号码{head[4]}，",
             f"住址{hh['address']}，户号{hh['number']}。\n家庭成员共{len(hh['members'])}人：\n"]
    stories = []  # (offset in clean text of the story's first char)
    for rel, name, sex, birth, idn in hh["members"]:
        parts.append(f"{rel}{name}，{sex}，{birth.year}年{birth.month}月生，身份证号{idn}，")
        story = rng.choice(MEMBER_STORY).format(y=rng.randint(2010, 2023), n=rng.randint(60, 90))
        parts.append(name)
        stories.append((sum(map(len, parts)), len(name)))
        parts.append(story + "。\n")
    target = rng.randint(500, 1500)
    length = sum(map(len, parts))
    while length < target:
        s = rng.choice(BOILERPLATE)
        if rng.random() < 0.3:
            s = f"{year}年{rng.randint(1, 12)}月，月收入{rng.randrange(0, 1600, 50)}元，" + s
        parts.append(s)
        length += len(s)
    parts.append(f"\n{VILLAGE_NAMES[int(hh['village'][9:]) - 200]}村民委员会 {date}")
    clean = "".join(parts)
    text = clean
    planted = []
    if rng.random() < 0.3:
        chars = list(clean)
        for at, name_len in rng.sample(stories, min(len(stories), rng.randint(1, 2))):
            wrong = LOOKALIKE.get(chars[at])
            if wrong:
                chars[at] = wrong
                # the clean phrase a reader would type: the name and the next 3 characters
                planted.append((at - name_len, at + 3))
        text = "".join(chars)
    return GenDoc(document_id=i + 1, household=hh["number"], head_name=head[1], region=hh["village"],
                  doc_type=code, doc_type_name=type_name, title=f"{head[1]}户{type_name}", date=date,
                  text=text, clean=clean, names=[m[1] for m in hh["members"]],
                  ids=[m[4] for m in hh["members"]], planted=planted)


def write_corpus(path: Path, n: int, seed: int) -> Path:
    """JSON lines, one document each; reused when it already exists."""
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as f:
        for i in range(n):
            d = make_doc(seed, i)
            f.write(json.dumps(d.__dict__, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


def read_corpus(path: Path, limit: int | None = None):
    with path.open(encoding="utf-8") as f:
        for k, line in enumerate(f):
            if limit is not None and k >= limit:
                return
            yield json.loads(line)
