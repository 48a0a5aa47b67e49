"""Synthetic 低保 household dossiers, rendered as scan-like page images.

A deterministic generator of fictional households (regions, people, ID
numbers) and of the five core documents of their dossiers, each page kept
with the exact text printed on it (ground truth). It feeds the demo, the
tests and the OCR benchmarks: the same seed always gives the same bytes.

Everything here is invented: the region names are fictional (the county code
is only a plausible shape), and no page shows a real person.

The drawing of the forms lives in ``ingest/synthetic_forms.py``; this module
holds the data model, the scanner effects and the writer of dossier sets.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from ingest import synthetic_forms as forms
from ingest.synthetic_people import Household, Person, Region  # noqa: F401  (the model)
from ingest.fonts import fonts_available
from records.idnumbers import check_digit

# --------------------------------------------------------------------------
# ID numbers (GB 11643-1999)

def id_check_digit(first17: str) -> str:
    """The check character of an 18-digit ID number (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    return check_digit(first17)


def is_valid_id_number(s: str) -> bool:
    """True for an 18-character ID number with a region code (not starting with 0), a real
    birth date from 1900 to 2099 and a right check digit."""
    if len(s) != 18 or not s[:17].isdigit() or s[0] == "0" or s[6:8] not in ("19", "20"):
        return False
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return s[17].upper() == id_check_digit(s[:17])


def make_id_number(rng: random.Random, region6: str, birth: date, sex: str) -> str:
    """An ID number for someone born in ``region6`` on ``birth``; the 17th digit is odd for men."""
    sequence = f"{rng.randint(0, 99):02d}"
    sex_digit = rng.choice("13579" if sex == "男" else "02468")
    first17 = f"{region6}{birth:%Y%m%d}{sequence}{sex_digit}"
    return first17 + id_check_digit(first17)


def make_phone(id_number: str) -> str:
    """A mobile number (1[3-9] and 9 digits) for the person with ``id_number``.

    Drawn from its own generator, seeded by the ID number, so that giving
    people phone numbers left every other draw of a seed as it was.
    """
    rng = random.Random(f"phone/{id_number}")
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


# --------------------------------------------------------------------------
# The data model


@dataclass
class SyntheticPage:
    """One rendered page and the text printed on it.

    ``ground_truth`` is the printed text line by line in reading order. Table
    rows are one line, their cells joined by a single space. The text of the
    round stamps (the ring text around the star, and the 户口专用章 line of
    the register's stamp) is NOT included: it is curved or half-hidden, and
    OCR is not expected to read it. Everything else printed is.
    """

    image: Image.Image
    ground_truth: str
    doc_type: str
    title: str
    household: Household
    date: date
    dpi: int = 300


DOC_TYPES: dict[str, str] = {
    "application": "申请书",
    "approval_form": "申报审批表",
    "id_card_copy": "身份证复印件",
    "hukou_copy": "户口簿复印件",
    "income_certificate": "收入证明",
}
# Order of the documents in the dossier: as submitted in the approval process.
DOC_SEQ: dict[str, int] = {code: i for i, code in enumerate(DOC_TYPES, start=1)}

# --------------------------------------------------------------------------
# Regions and people (fictional)

PROVINCE = "吉林省"  # matches the '22' prefix of the county code
COUNTY_CODE = "220381"
COUNTY_NAMES = ("青山县", "清河县", "安平县", "永丰县")
TOWNSHIP_NAMES = ("东风镇", "红旗乡", "前进镇", "胜利乡", "太平镇", "长青乡", "新民镇", "和平乡")
VILLAGE_NAMES = (
    "红星村", "向阳村", "光明村", "丰收村", "新华村", "团结村", "永兴村", "富民村",
    "建设村", "民主村", "五星村", "金山村", "双河村", "兴隆村", "平安村", "长春村",
)

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许"
    "傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆"
    "郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹易常武乔贺龚文"
)
MALE_GIVEN = "建国军伟强明华平刚勇志军德福春生国庆海波林杰涛斌超宝山成玉贵东"
FEMALE_GIVEN = "秀英兰芳丽娟霞玉梅桂珍凤红云艳华敏静淑琴燕萍翠娥春花"


def region_name(code: str) -> str:
    """The fictional name of a region, a pure function of its code."""
    if len(code) == 6:
        return COUNTY_NAMES[int(code) % len(COUNTY_NAMES)]
    if len(code) == 9:
        return TOWNSHIP_NAMES[int(code[6:]) % len(TOWNSHIP_NAMES)]
    if len(code) == 12:
        return VILLAGE_NAMES[int(code[9:]) % len(VILLAGE_NAMES)]
    raise ValueError(f"a region code has 6, 9 or 12 digits, not {code!r}")


def make_regions(rng: random.Random) -> list[Region]:
    """One county, two townships, two villages in each (county first, then each township and its villages)."""
    county = Region(COUNTY_CODE, region_name(COUNTY_CODE), None)
    regions = [county]
    # Townships are 1xx (镇) or 2xx (乡) in the statistical codes; names follow the codes.
    for town_suffix in rng.sample(range(100, 108), 2):
        town_code = f"{county.code}{town_suffix:03d}"
        regions.append(Region(town_code, region_name(town_code), county.code))
        for village_suffix in rng.sample(range(200, 216), 2):
            village_code = f"{town_code}{village_suffix:03d}"
            regions.append(Region(village_code, region_name(village_code), town_code))
    return regions


def make_name(rng: random.Random, sex: str, surname: str | None = None) -> str:
    """A common Chinese name: surname plus one or two given characters (about 2:3)."""
    surname = surname or rng.choice(SURNAMES)
    pool = MALE_GIVEN if sex == "男" else FEMALE_GIVEN
    given_length = 1 if rng.random() < 0.4 else 2
    return surname + "".join(rng.sample(pool, given_length))


def _birth(rng: random.Random, today: date, age_from: int, age_to: int) -> date:
    year = today.year - rng.randint(age_from, age_to)
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _person(rng: random.Random, today: date, relation: str, sex: str, ages: tuple[int, int],
            surname: str | None = None, region6: str = COUNTY_CODE) -> Person:
    birth = _birth(rng, today, *ages)
    name = make_name(rng, sex, surname)  # drawn before the ID number, as always: seeds keep their people
    id_number = make_id_number(rng, region6, birth, sex)
    return Person(name, id_number, sex, birth, relation, make_phone(id_number))


def _family(rng: random.Random, today: date) -> list[Person]:
    """The head first, then spouse, children and perhaps a parent of the head."""
    head_sex = "男" if rng.random() < 0.7 else "女"
    head = _person(rng, today, "户主", head_sex, (32, 78))
    head_age = today.year - head.birth.year
    members = [head]
    spouse_surname = None
    if head_age < 72 and rng.random() < 0.7:
        spouse_sex = "女" if head_sex == "男" else "男"
        # A spouse is often from a neighbouring county.
        region6 = COUNTY_CODE if rng.random() < 0.7 else rng.choice(("220382", "220523", "220621"))
        spouse = _person(rng, today, "配偶", spouse_sex, (head_age - 4, head_age + 3), region6=region6)
        spouse_surname = spouse.name[0]
        members.append(spouse)
    family_surname = head.name[0] if head_sex == "男" or spouse_surname is None else spouse_surname
    if head_age > 24:
        # Siblings are at least two years apart.
        possible_ages = range(max(1, head_age - 38), max(2, head_age - 21), 2)
        count = min(rng.choice((0, 1, 1, 2, 2, 3)), len(possible_ages))
        for age in sorted(rng.sample(possible_ages, count), reverse=True):
            sex = rng.choice("男女")
            members.append(_person(rng, today, "子" if sex == "男" else "女", sex, (age, age), family_surname))
    if head_age < 52 and rng.random() < 0.3:
        sex = rng.choice("男女")
        parent_surname = head.name[0] if sex == "男" else None
        members.append(_person(rng, today, "父亲" if sex == "男" else "母亲", sex,
                               (head_age + 22, head_age + 34), parent_surname))
    return members


CHINESE_NUMERALS = "〇一二三四五六七八九十"


def _group_name(n: int) -> str:
    return CHINESE_NUMERALS[n] + "组" if n <= 10 else f"{n}组"


def make_household(rng: random.Random, village: Region, serial: int) -> Household:
    """A fictional household of ``village``, numbered ``village.code-serial``.

    The township and county names are derived from the village code (see
    :func:`region_name`), so they agree with :func:`make_regions`.
    """
    applied_on = date(rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28))
    members = _family(rng, applied_on)
    county = region_name(village.code[:6])
    township = region_name(village.code[:9])
    address = f"{PROVINCE}{county}{township}{village.name}{_group_name(rng.randint(1, 9))}{rng.randint(1, 120)}号"
    income = rng.randrange(0, 1600, 50)
    standard = 500  # yuan per person per month, a plausible rural standard
    allowance = max(100, (standard * len(members) - income) // 10 * 10)
    return Household(
        number=f"{village.code}-{serial:04d}",
        region_code=village.code,
        county=county,
        township=township,
        village=village.name,
        address=address,
        head=members[0],
        members=members,
        monthly_income=income,
        allowance=allowance,
        applied_on=applied_on,
    )


# --------------------------------------------------------------------------
# Fonts and scanner effects

def _noise(size: tuple[int, int], rng: random.Random, amplitude: int, scale: int) -> Image.Image:
    """Grey noise 0..amplitude; scale > 1 gives smooth mottling instead of grain."""
    width, height = max(1, size[0] // scale), max(1, size[1] // scale)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.point(lambda v: v * amplitude // 255)
    return grain if scale == 1 else grain.resize(size, Image.Resampling.BILINEAR)


def _specks(size: tuple[int, int], rng: random.Random, darkness: int, every: int) -> Image.Image:
    """Sparse dust: about one 2x2 speck in ``every`` cells, as an amount to subtract."""
    width, height = size[0] // 2, size[1] // 2
    threshold = 256 - max(1, 256 // every)
    cells = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    cells = cells.point(lambda v: darkness if v >= threshold else 0)
    return cells.resize(size, Image.Resampling.NEAREST)


def _darken(image: Image.Image, amount: Image.Image) -> Image.Image:
    return ImageChops.subtract(image, Image.merge("RGB", (amount, amount, amount)))


def _rotate(image: Image.Image, degrees: float, fill: tuple[int, int, int]) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=fill)


def scan_look(image: Image.Image, rng: random.Random) -> Image.Image:
    """What a flatbed scanner adds to every page: a slight skew (0.3-1 degree) and light noise."""
    angle = rng.uniform(0.3, 1.0) * rng.choice((-1, 1))
    image = _rotate(image, angle, (214, 214, 210))  # the scanner lid shows at the corners
    dirt = ImageChops.add(_noise(image.size, rng, 10, 8), _specks(image.size, rng, 70, 400))
    return _darken(image, dirt)


def degrade(image: Image.Image, rng: random.Random) -> Image.Image:
    """A much worse copy of ``image``, like a photocopy of a photocopy, scanned again.

    Rotation of 1-3 degrees, faded colour and contrast, blur, grain and dust,
    and JPEG artefacts (quality 30-50). The size is kept.
    """
    image = image.convert("RGB")
    angle = rng.uniform(1.0, 3.0) * rng.choice((-1, 1))
    image = _rotate(image, angle, (120, 120, 118))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.35, 0.7))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.65, 0.85))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.92, 1.05))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.8)))
    dirt = ImageChops.add(_noise(image.size, rng, 30, 1), _noise(image.size, rng, 18, 16))
    image = _darken(image, ImageChops.add(dirt, _specks(image.size, rng, 110, 300)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(30, 50))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# --------------------------------------------------------------------------
# Rendering documents


def document_title(household: Household, doc_type: str) -> str:
    """The catalogue title (题名) of a document, e.g. '王建国户申报审批表'."""
    return f"{household.head.name}户{DOC_TYPES[doc_type]}"


def render_document(household: Household, doc_type: str, rng: random.Random, *,
                    font: str | None = None, degraded: bool = False) -> list[SyntheticPage]:
    """The pages of one document of ``household``: one page, except the approval form (the
    form and its attachment, 附件) and the household-register copy (its head page and the
    registration cards of the first members), so that a dossier has pages to turn.

    ``font`` is a font file path (default: one of :func:`fonts_available`,
    chosen by ``rng``). A degraded page has the same content and ground truth
    as the clean page drawn from the same ``rng`` state.
    """
    if doc_type not in DOC_TYPES:
        raise ValueError(f"unknown document type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}")
    font = font or rng.choice(fonts_available())
    drawn = forms.RENDERERS[doc_type](household, rng, font)
    pages = []
    for sheet in drawn:
        image = scan_look(sheet.image, rng)
        if degraded:
            image = degrade(image, random.Random(rng.getrandbits(64)))
        pages.append(SyntheticPage(
            image=image,
            ground_truth="\n".join(sheet.lines),
            doc_type=doc_type,
            title=document_title(household, doc_type),
            household=household,
            date=sheet.date,
        ))
    return pages


# --------------------------------------------------------------------------
# Dossier sets on disk


@dataclass
class ManifestDocument:
    """One document (件) written by :func:`generate_dossier_set`."""

    files: list[Path]  # page images, in order
    household: str  # household number
    doc_type: str
    title: str
    date: date
    seq: int  # order in the dossier (件号)
    ground_truth: list[str]  # one string per page


@dataclass
class Manifest:
    """What a synthetic dossier set holds; ``manifest.json`` stores it with paths relative to itself."""

    regions: list[Region]
    households: list[Household]
    documents: list[ManifestDocument]
    seed: int | None = None
    degraded: bool = False

    def save(self, path: Path) -> None:
        path = Path(path)
        path.write_text(json.dumps(self._to_json(path.parent), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            regions=[Region(**r) for r in data["regions"]],
            households=[_household_from_json(h) for h in data["households"]],
            documents=[_document_from_json(d, path.parent) for d in data["documents"]],
            seed=data.get("seed"),
            degraded=data.get("degraded", False),
        )

    def _to_json(self, base: Path) -> dict[str, Any]:
        documents = []
        for doc in self.documents:
            row = asdict(doc)
            row["files"] = [Path(f).relative_to(base).as_posix() for f in doc.files]
            row["date"] = doc.date.isoformat()
            documents.append(row)
        return {
            "seed": self.seed,
            "degraded": self.degraded,
            "regions": [asdict(r) for r in self.regions],
            "households": [_jsonable(asdict(h)) for h in self.households],
            "documents": documents,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def _person_from_json(data: dict[str, Any]) -> Person:
    return Person(**{**data, "birth": date.fromisoformat(data["birth"])})


def _household_from_json(data: dict[str, Any]) -> Household:
    return Household(**{
        **data,
        "head": _person_from_json(data["head"]),
        "members": [_person_from_json(m) for m in data["members"]],
        "applied_on": date.fromisoformat(data["applied_on"]),
    })


def _document_from_json(data: dict[str, Any], base: Path) -> ManifestDocument:
    return ManifestDocument(**{
        **data,
        "files": [base / f for f in data["files"]],
        "date": date.fromisoformat(data["date"]),
    })


def make_households(rng: random.Random, regions: Sequence[Region], count: int) -> list[Household]:
    """``count`` households spread over the villages in turn, serials rising within each village."""
    villages = [r for r in regions if len(r.code) == 12]
    next_serial = {v.code: rng.randint(1, 60) for v in villages}
    households = []
    for i in range(count):
        village = villages[i % len(villages)]
        households.append(make_household(random.Random(rng.getrandbits(64)), village, next_serial[village.code]))
        next_serial[village.code] += rng.randint(1, 9)
    return households


def generate_dossier_set(out_dir: Path, *, seed: int, households: int = 4,
                         doc_types: Sequence[str] | None = None, degraded: bool = False,
                         image_format: str = "png",
                         progress: Callable[[int, int], None] | None = None) -> Manifest:
    """Write the dossiers of ``households`` fictional households under ``out_dir``.

    Layout: ``<household number>/<seq>-<doc_type>-p<page>.<png|jpg>`` with a
    sibling ``.txt`` holding the page's ground truth, and ``manifest.json``
    at the top. Fonts rotate across pages. ``progress(done, total)`` is
    called after each document. The same arguments give identical bytes; a
    degraded set has the same households, text and fonts as the clean set of
    the same seed.
    """
    image_format = image_format.lower().replace("jpeg", "jpg")
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', not {image_format!r}")
    doc_types = list(doc_types or DOC_TYPES)
    for doc_type in doc_types:
        if doc_type not in DOC_TYPES:
            raise ValueError(f"unknown document type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}")
    doc_types.sort(key=DOC_SEQ.__getitem__)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fonts = fonts_available()
    rng = random.Random(seed)
    regions = make_regions(rng)
    people = make_households(rng, regions, households)
    manifest = Manifest(regions=regions, households=people, documents=[], seed=seed, degraded=degraded)
    total = len(people) * len(doc_types)
    for household in people:
        for doc_type in doc_types:
            font = fonts[len(manifest.documents) % len(fonts)]
            doc_rng = random.Random(f"{seed}/{household.number}/{doc_type}")
            pages = render_document(household, doc_type, doc_rng, font=font, degraded=degraded)
            manifest.documents.append(_write_document(out_dir, pages, image_format))
            if progress:
                progress(len(manifest.documents), total)
    manifest.save(out_dir / "manifest.json")
    return manifest


def _write_document(out_dir: Path, pages: list[SyntheticPage], image_format: str) -> ManifestDocument:
    first = pages[0]
    seq = DOC_SEQ[first.doc_type]
    folder = out_dir / first.household.number
    folder.mkdir(exist_ok=True)
    files = []
    for number, page in enumerate(pages, start=1):
        path = folder / f"{seq:02d}-{first.doc_type}-p{number}.{image_format}"
        if image_format == "png":
            page.image.save(path, "PNG", dpi=(page.dpi, page.dpi), compress_level=3)
        else:
            page.image.save(path, "JPEG", quality=85, dpi=(page.dpi, page.dpi))
        path.with_suffix(".txt").write_text(page.ground_truth + "\n", encoding="utf-8")
        files.append(path)
    return ManifestDocument(
        files=files,
        household=first.household.number,
        doc_type=first.doc_type,
        title=first.title,
        date=first.date,
        seq=seq,
        ground_truth=[p.ground_truth for p in pages],
    )


# --------------------------------------------------------------------------
# python -m ingest.synthetic OUT --seed 1 --households 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.synthetic",
                                     description="Write synthetic 低保 dossier pages with their ground truth.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--households", type=int, default=4)
    parser.add_argument("--doc-types", nargs="+", choices=list(DOC_TYPES), default=None)
    parser.add_argument("--degraded", action="store_true")
    parser.add_argument("--format", dest="image_format", choices=("png", "jpg"), default="png")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate_dossier_set(
        args.out, seed=args.seed, households=args.households, doc_types=args.doc_types,
        degraded=args.degraded, image_format=args.image_format,
        progress=lambda done, total: print(f"\r{done}/{total} documents", end="", file=sys.stderr),
    )
    print(file=sys.stderr)
    pages = sum(len(d.files) for d in manifest.documents)
    print(f"{len(manifest.households)} households, {len(manifest.documents)} documents, {pages} pages "
          f"in {time.perf_counter() - started:.1f} s -> {args.out / 'manifest.json'}")
    for household in manifest.households:
        print(f"  {household.number}  {household.head.name}  members: {len(household.members)}  "
              f"{household.village}, {household.township}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
