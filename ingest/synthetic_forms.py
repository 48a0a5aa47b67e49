"""Drawing the five synthetic dossier documents (see ``ingest/synthetic.py``).

Each renderer draws clean A4 pages at 300 dpi (the approval form two, with its
attachment; the household-register copy three at most), each on a :class:`Sheet`, which
records every printed line (the ground truth) in reading order and the boxes
that stamps must leave readable (household number, head's name, ID numbers).
Scanner effects are added afterwards by ``synthetic.scan_look``.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFont

from ingest.synthetic_people import Household, Person

PAGE_SIZE = (2480, 3508)  # A4 at 300 dpi
MARGIN = 250
PAPER = (247, 245, 238)
INK = (22, 22, 26)
PEN = (26, 36, 104)  # dark-blue ballpoint, for what is filled in by hand
STAMP_RED = (212, 38, 48)
RULE = (22, 22, 26)  # table rulings
# Tesseract loses whole table rows when skewed rulings are 3 px or more, or sit close to the text above.
RULE_WIDTH = 2
CELL_PAD = 22
HEADER_GAP = 140
ROW = 100

# Sizes in pixels at 300 dpi: 11 pt ≈ 46 px, 10.5 pt ≈ 44 px.
TITLE = 84
BODY = 46
TABLE = 44  # printed labels of forms
VALUE = 50  # typed-in values of forms (12 pt)
SMALL = 40

Box = tuple[int, int, int, int]


# Chinese documents set Latin letters and digits in a Western font (西文字体). It also matters for
# OCR: chi_sim reads the short hyphen of WenQuanYi Zen Hei in '220381105012-0042' as ':' or '.'.
WESTERN_SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WESTERN_SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
_LATIN_RUN = re.compile(r"([!-~]+)")


@lru_cache(maxsize=64)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=0)


def western_partner(cjk_font: str) -> str:
    """The Western font set beside a CJK font: serif for Ming and Kai, sans for Hei; itself if absent."""
    partner = WESTERN_SERIF if ("ming" in cjk_font or "kai" in cjk_font) else WESTERN_SANS
    return partner if Path(partner).is_file() else cjk_font


def chinese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


# The ways member tables write a birth date (1984.02.17, 1984-02-17, 19840217, 1984年2月17日).
# Each sits right before the ID number, so OCR and search snippets join the two with a space.
BIRTH_DATE_STYLES = ("dotted", "dashed", "compact", "chinese")


def birth_date_text(d: date, style: str) -> str:
    """``d`` written in one of :data:`BIRTH_DATE_STYLES`."""
    if style == "chinese":
        return chinese_date(d)
    return {"dotted": "{:%Y.%m.%d}", "dashed": "{:%Y-%m-%d}", "compact": "{:%Y%m%d}"}[style].format(d)


PHONE_FROM_AGE = 16  # younger members have no phone number of their own in the table


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# Runs of Latin letters and digits (ID numbers, household numbers) are never broken across lines.
_TOKEN = re.compile(r"[0-9A-Za-z.\-/]+|.", re.S)
_NO_LINE_START = set("，。、；：！？）》”")


def wrap(text: str, measure: Callable[[str], float], width: float, first_indent: float = 0) -> list[str]:
    """Greedy line breaking for Chinese text, keeping number runs whole and punctuation off line starts."""
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        limit = width - (first_indent if not lines else 0)
        if line and measure(line + token) > limit and token not in _NO_LINE_START:
            lines.append(line)
            line = ""
        line += token
    if line:
        lines.append(line)
    return lines


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass
class Sheet:
    """One page being drawn, with its ground-truth lines and the boxes stamps must not cover."""

    font_path: str
    date: date
    image: Image.Image = field(default_factory=lambda: Image.new("RGB", PAGE_SIZE, PAPER))
    lines: list[str] = field(default_factory=list)
    protected: list[Box] = field(default_factory=list)

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.image)

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        return load_font(self.font_path, size)

    def runs(self, s: str, size: int) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """``s`` cut into runs of Latin (Western font) and other text (CJK font)."""
        western = load_font(western_partner(self.font_path), size)
        parts = _LATIN_RUN.split(s)  # odd items are the Latin runs
        return [(part, western if i % 2 else self.font(size)) for i, part in enumerate(parts) if part]

    def length(self, s: str, size: int) -> float:
        return sum(font.getlength(part) for part, font in self.runs(s, size))

    def text(self, xy: tuple[float, float], s: str, size: int, *, fill: tuple[int, int, int] = INK,
             anchor: str = "la", bold: bool = False, protect: bool = False) -> Box:
        """Draw text without recording it; return its box.

        ``anchor`` is Pillow's two letters: l/m/r horizontally, a (top) or m (middle) vertically.
        """
        ascent, descent = self.font(size).getmetrics()
        x = xy[0] - {"l": 0.0, "m": 0.5, "r": 1.0}[anchor[0]] * self.length(s, size)
        baseline = xy[1] + (ascent if anchor[1] == "a" else (ascent - descent) / 2)
        stroke = 1 if bold else 0
        boxes = []
        for part, font in self.runs(s, size):
            self.draw.text((x, baseline), part, font=font, fill=fill, anchor="ls",
                           stroke_width=stroke, stroke_fill=fill)
            boxes.append(self.draw.textbbox((x, baseline), part, font=font, anchor="ls", stroke_width=stroke))
            x += font.getlength(part)
        box = (int(min(b[0] for b in boxes)), int(min(b[1] for b in boxes)),
               int(max(b[2] for b in boxes)), int(max(b[3] for b in boxes)))
        if protect:
            self.protected.append(box)
        return box

    def line(self, s: str, size: int, y: float, *, align: str = "left", x: float = MARGIN,
             fill: tuple[int, int, int] = INK, bold: bool = False, protect: bool = False,
             spacing: float = 1.7) -> float:
        """Draw and record one line; return the y of the next line."""
        anchors = {"left": ("la", x), "center": ("ma", PAGE_SIZE[0] / 2), "right": ("ra", PAGE_SIZE[0] - x)}
        anchor, ax = anchors[align]
        self.text((ax, y), s, size, fill=fill, anchor=anchor, bold=bold, protect=protect)
        self.lines.append(s)
        return y + size * spacing

    def paragraph(self, text: str, size: int, y: float, *, indent: int = 2, protect: bool = False,
                  fill: tuple[int, int, int] = INK, spacing: float = 1.7) -> float:
        """Draw and record a wrapped paragraph with a first-line indent of ``indent`` characters."""
        width = PAGE_SIZE[0] - 2 * MARGIN
        for i, line in enumerate(wrap(text, lambda t: self.length(t, size), width, indent * size)):
            x = MARGIN + (indent * size if i == 0 else 0)
            y = self.line(line, size, y, x=x, fill=fill, protect=protect, spacing=spacing)
        return y

    def free(self, box: Box) -> bool:
        return not any(_overlaps(box, p) for p in self.protected)


# --------------------------------------------------------------------------
# Tables


@dataclass
class Cell:
    width: int
    text: str = ""
    align: str = "left"  # 'left' or 'center'
    protect: bool = False
    fill: tuple[int, int, int] = INK
    size: int = TABLE


def label_cell(width: int, text: str) -> Cell:
    """A printed label cell of a form."""
    return Cell(width, text, "center", size=TABLE)


def value_cell(width: int, text: str, *, align: str = "left", protect: bool = False,
          fill: tuple[int, int, int] = INK) -> Cell:
    """A filled-in value cell of a form."""
    return Cell(width, text, align, protect=protect, fill=fill, size=VALUE)


def table_row(sheet: Sheet, x: int, y: int, height: int, cells: list[Cell]) -> int:
    """Draw one ruled row of cells, record its text as one line; return the y below it."""
    draw = sheet.draw
    left = x
    for cell in cells:
        draw.rectangle((left, y, left + cell.width, y + height), outline=RULE, width=RULE_WIDTH)
        if cell.text:
            anchor, tx = ("mm", left + cell.width / 2) if cell.align == "center" else ("lm", left + CELL_PAD)
            sheet.text((tx, y + height / 2), cell.text, cell.size, fill=cell.fill, anchor=anchor,
                       protect=cell.protect)
        left += cell.width
    sheet.lines.append(" ".join(c.text for c in cells if c.text))
    return y + height


def opinion_row(sheet: Sheet, x: int, y: int, height: int, label_width: int, width: int,
                label: str, lines: list[str], signed: date) -> tuple[int, tuple[int, int]]:
    """A tall row with a label and a handwritten opinion, '（盖章）' and a date at the bottom right.

    Returns the y below the row and the point where the stamp belongs.
    """
    draw = sheet.draw
    draw.rectangle((x, y, x + label_width, y + height), outline=RULE, width=RULE_WIDTH)
    draw.rectangle((x + label_width, y, x + width, y + height), outline=RULE, width=RULE_WIDTH)
    top = y + 40
    sheet.text((x + 22, top), label, TABLE)
    first, *rest = lines
    sheet.text((x + label_width + 30, top), first, TABLE, fill=PEN)
    sheet.lines.append(f"{label} {first}")
    row_y = top + TABLE * 1.7
    for text in rest:
        sheet.text((x + label_width + 30, row_y), text, TABLE, fill=PEN)
        sheet.lines.append(text)
        row_y += TABLE * 1.7
    right = x + width - 60
    seal_y = y + height - 190
    date_y = y + height - 100
    sheet.text((right - 120, seal_y), "（盖章）", TABLE, anchor="ra")
    sheet.lines.append("（盖章）")
    date_box = sheet.text((right, date_y), chinese_date(signed), TABLE, fill=PEN, anchor="ra")
    sheet.lines.append(chinese_date(signed))
    return y + height, ((date_box[0] + date_box[2]) // 2, seal_y + 20)


# --------------------------------------------------------------------------
# Stamps and other ink


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = math.radians(-90 + i * 36)
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _ink_unevenness(layer: Image.Image, rng: random.Random) -> Image.Image:
    """Stamps never print evenly: fade the ink in blotches."""
    w, h = max(1, layer.width // 12), max(1, layer.height // 12)
    blotches = Image.frombytes("L", (w, h), rng.randbytes(w * h)).point(lambda v: 140 + v * 115 // 255)
    return ImageChops.multiply(layer, blotches.resize(layer.size, Image.Resampling.BILINEAR))


def _apply_ink(sheet: Sheet, layer: Image.Image, center: tuple[int, int], color: tuple[int, int, int]) -> None:
    """Multiply coloured ink onto the page where ``layer`` (an L mask) is set, so text under it stays dark."""
    left, top = center[0] - layer.width // 2, center[1] - layer.height // 2
    box = (left, top, left + layer.width, top + layer.height)
    region = sheet.image.crop(box)
    inked = ImageChops.multiply(region, Image.new("RGB", layer.size, color))
    sheet.image.paste(Image.composite(inked, region, layer), box[:2])


def round_stamp(sheet: Sheet, rng: random.Random, candidates: list[tuple[int, int]], ring_text: str, *,
                radius: int = 210, bottom_text: str = "", color: tuple[int, int, int] = STAMP_RED) -> None:
    """A round official seal (公章): ring, star, text along the upper arc; never over protected text.

    Its text is not part of the ground truth.
    """
    center = next((c for c in candidates
                   if sheet.free((c[0] - radius, c[1] - radius, c[0] + radius, c[1] + radius))), None)
    if center is None:
        raise AssertionError("no stamp position leaves the protected text readable")
    size = 2 * radius + 40
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    c = size / 2
    draw.ellipse((c - radius, c - radius, c + radius, c + radius), outline=255, width=max(8, radius // 22))
    draw.polygon(_star(c, c, radius * 0.3), fill=255)
    char_size = int(radius * 0.24)
    font = load_font(sheet.font_path, char_size)
    span = min(290.0, len(ring_text) * 24.0)
    for i, char in enumerate(ring_text):
        theta = -span / 2 + span * (i + 0.5) / len(ring_text)
        glyph = Image.new("L", (char_size * 2, char_size * 2), 0)
        ImageDraw.Draw(glyph).text((char_size, char_size), char, font=font, fill=255, anchor="mm",
                                   stroke_width=1, stroke_fill=255)
        glyph = glyph.rotate(-theta, resample=Image.Resampling.BICUBIC)
        r = radius * 0.74
        gx = c + r * math.sin(math.radians(theta)) - char_size
        gy = c - r * math.cos(math.radians(theta)) - char_size
        layer.paste(255, (int(gx), int(gy)), glyph)
    if bottom_text:
        bottom_font = load_font(sheet.font_path, int(radius * 0.2))
        draw.text((c, c + radius * 0.55), bottom_text, font=bottom_font, fill=255, anchor="mm")
    layer = layer.rotate(rng.uniform(-30, 30), resample=Image.Resampling.BICUBIC)
    _apply_ink(sheet, _ink_unevenness(layer, rng), center, color)


def fingerprint(sheet: Sheet, rng: random.Random, center: tuple[int, int]) -> None:
    """A red thumbprint (手印) in printing paste, as people press beside their signature."""
    w, h = 150, 200
    layer = Image.new("L", (w + 40, h + 40), 0)
    draw = ImageDraw.Draw(layer)
    for k in range(0, 70, 9):  # ridges as shrinking ellipses
        draw.ellipse((20 + k, 20 + k * 1.3, 20 + w - k, 20 + h - k * 1.3), outline=230, width=5)
    layer = layer.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)
    _apply_ink(sheet, _ink_unevenness(layer, rng), center, STAMP_RED)


def photocopy(image: Image.Image, rng: random.Random) -> Image.Image:
    """A greyscale photocopy: no colour, toner-grey background, blacks lifted a little, grain."""
    grey = image.convert("L").point(lambda v: int(28 + v * 0.83))
    w, h = grey.width // 6, grey.height // 6
    toner = Image.frombytes("L", (w, h), rng.randbytes(w * h)).point(lambda v: v * 14 // 255)
    grey = ImageChops.subtract(grey, toner.resize(grey.size, Image.Resampling.BILINEAR))
    return Image.merge("RGB", (grey, grey, grey))


# --------------------------------------------------------------------------
# Shared wording

MEMBER_NOUNS = {"配偶": ("丈夫", "妻子"), "子": ("儿子", "儿子"), "女": ("女儿", "女儿"),
                "父亲": ("父亲", "父亲"), "母亲": ("母亲", "母亲")}
MEMBER_STATES = ("患有慢性病", "在校读书", "在家务农", "外出务工", "年老体弱", "肢体残疾", "无固定收入")
HARDSHIPS = (
    "本人患有{illness}，常年吃药，不能从事重体力劳动。",
    "家中仅有承包地{mu}亩，土地贫瘠，收入微薄。",
    "{year}年遭受洪涝灾害，房屋和庄稼受损严重。",
    "家中缺少劳动力，没有稳定的收入来源。",
    "看病和孩子上学开支较大，家庭生活十分困难。",
)
ILLNESSES = ("高血压", "糖尿病", "风湿性关节炎", "腰椎间盘突出", "慢性支气管炎", "心脏病")
INCOME_SOURCES = ("主要收入来源为种植玉米", "主要靠务农和零星打工维持生活",
                  "主要收入来源为养殖和务农", "除少量土地收入外无其他收入")
CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def _capital_below_10000(n: int) -> str:
    out, pending_zero = "", False
    for digit, unit in zip(f"{n:04d}", ("仟", "佰", "拾", "")):
        if digit == "0":
            pending_zero = bool(out)
            continue
        if pending_zero:
            out += "零"
            pending_zero = False
        out += CAPITAL_DIGITS[int(digit)] + unit
    return out


def yuan_in_capitals(n: int) -> str:
    """An amount of yuan in financial capitals (大写), e.g. 1050 -> '壹仟零伍拾元整'."""
    if n == 0:
        return "零元整"
    high, low = divmod(n, 10000)
    text = _capital_below_10000(high) + "万" if high else ""
    if low:
        text += ("零" if high and low < 1000 else "") + _capital_below_10000(low)
    return text + "元整"


def _member_phrase(person: Person, day: date, rng: random.Random) -> str:
    male, female = MEMBER_NOUNS.get(person.relation, (person.relation, person.relation))
    noun = male if person.sex == "男" else female
    age = age_on(person.birth, day)
    state = "在校读书" if age < 19 else rng.choice(MEMBER_STATES)
    return f"{noun}{person.name}，{age}岁，{state}"


def member_rows(household: Household, day: date, first_style: int) -> list[tuple[str, ...]]:
    """The member table's rows: name, relation, sex, birth date, ID number, phone number.

    Birth-date styles go round :data:`BIRTH_DATE_STYLES` row by row from
    ``first_style`` and the household's serial, so two tables of one household
    that start two styles apart show all four once it has two members.
    """
    start = first_style + int(household.number[-4:])
    return [(p.name, p.relation, p.sex,
             birth_date_text(p.birth, BIRTH_DATE_STYLES[(start + i) % len(BIRTH_DATE_STYLES)]),
             p.id_number, p.phone if age_on(p.birth, day) >= PHONE_FROM_AGE else "")
            for i, p in enumerate(household.members)]


def member_table(sheet: Sheet, x: int, y: int, height: int, widths: Sequence[int],
                 header: Sequence[str], rows: list[tuple[str, ...]]) -> int:
    """A ruled member table: printed labels, then one typed row per member."""
    y = table_row(sheet, x, y, height, [label_cell(w, t) for w, t in zip(widths, header)])
    for values in rows:
        # set at the labels' size: an 18-digit number and a phone number fit their columns
        y = table_row(sheet, x, y, height, [Cell(w, t, "center", protect=True, size=TABLE)
                                            for w, t in zip(widths, values)])
    return y


def _cadre_name(rng: random.Random) -> str:
    return rng.choice("王李张刘陈杨赵孙周吴") + rng.choice(("志刚", "红梅", "国栋", "丽", "明", "海燕", "树林"))


# --------------------------------------------------------------------------
# The five documents


def render_application(household: Household, rng: random.Random, font: str) -> list[Sheet]:
    """个人申请书: a letter in prose, signed and thumb-printed."""
    head, day = household.head, household.applied_on
    sheet = Sheet(font, day)
    y = sheet.line("个人申请书", TITLE, 330, align="center", bold=True, spacing=2.0)
    y = sheet.line(f"{household.village}村民委员会、{household.township}人民政府：", BODY, y + 40, spacing=1.8)
    y = sheet.paragraph(
        f"我叫{head.name}，{head.sex}，{age_on(head.birth, day)}岁，身份证号码{head.id_number}，"
        f"户号{household.number}，现住{household.address}。", BODY, y, protect=True)
    others = household.members[1:]
    family = f"我家共有{len(household.members)}口人"
    family += "：" + "；".join(_member_phrase(p, day, rng) for p in others) + "。" if others else "，只有我一人。"
    y = sheet.paragraph(family, BODY, y)
    hardships = rng.sample(HARDSHIPS, 2)
    y = sheet.paragraph("".join(hardships).format(illness=rng.choice(ILLNESSES), mu=rng.randint(2, 8),
                                                  year=day.year - 1), BODY, y)
    per_person = household.monthly_income // len(household.members)
    y = sheet.paragraph(
        f"全家月收入约{household.monthly_income}元，人均月收入{per_person}元，低于当地最低生活保障标准。"
        "为保障家庭基本生活，特申请享受城乡居民最低生活保障待遇，请予审核批准。", BODY, y)
    y = sheet.paragraph("本人保证以上情况属实，如有虚报，愿承担相应责任。", BODY, y)
    y = sheet.line("此致", BODY, y + 20, x=MARGIN + 2 * BODY)
    y = sheet.line("敬礼！", BODY, y)
    y = max(y + 80, 2500.0)
    signer = f"申请人：{head.name}"
    sheet.line(signer, BODY, y, align="right", x=MARGIN + 200, fill=PEN)
    sheet.line(chinese_date(day), BODY, y + BODY * 1.8, align="right", x=MARGIN + 200, fill=PEN)
    fingerprint(sheet, rng, (PAGE_SIZE[0] - MARGIN - 90, int(y + BODY / 2)))
    return [sheet]


APPROVAL_WIDTHS = (400, 620, 400, 620)  # four columns across 2040 px
MEMBER_WIDTHS = (210, 270, 120, 420, 600, 420)  # name, relation, sex, born, ID, phone


def render_approval_form(household: Household, rng: random.Random, font: str) -> list[Sheet]:
    """低保申报审批表: the ruled application and approval form, with three signed, stamped opinions."""
    head, applied = household.head, household.applied_on
    village_day = applied + timedelta(days=rng.randint(3, 8))
    township_day = village_day + timedelta(days=rng.randint(7, 15))
    county_day = township_day + timedelta(days=rng.randint(7, 20))
    sheet = Sheet(font, county_day)
    x, width = 220, sum(APPROVAL_WIDTHS)
    y = sheet.line("城乡居民最低生活保障申报审批表", TITLE, 300, align="center", bold=True)
    unit = f"填报单位：{household.village}村民委员会"
    filled = f"填表日期：{chinese_date(applied)}"
    sheet.text((x, y), unit, SMALL)
    sheet.text((x + width, y), filled, SMALL, anchor="ra")
    sheet.lines.append(f"{unit} {filled}")
    y = int(y + HEADER_GAP)
    l1, v1, l2, v2 = APPROVAL_WIDTHS
    kind = "农村低保" if "村" in household.village else "城市低保"
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "户号"), value_cell(v1, household.number, protect=True),
                                     label_cell(l2, "户主姓名"), value_cell(v2, head.name, protect=True)])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "身份证号"),
                                     value_cell(v1 + l2 + v2, head.id_number, protect=True)])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "家庭住址"), value_cell(v1 + l2 + v2, household.address)])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "家庭人口"), value_cell(v1, f"{len(household.members)}人"),
                                     label_cell(l2, "家庭月收入"), value_cell(v2, f"{household.monthly_income}元")])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "申请类别"), value_cell(v1, kind),
                                     label_cell(l2, "拟保障金额"), value_cell(v2, f"{household.allowance}元/月")])
    header = ("姓名", "与户主关系", "性别", "出生日期", "身份证号", "联系电话")
    y = member_table(sheet, x, y, 90, MEMBER_WIDTHS, header, member_rows(household, applied, 0))
    reason = rng.choice(("家庭成员患病，缺乏劳动能力，收入低于当地低保标准。",
                         "家庭收入微薄，生活困难，人均收入低于当地低保标准。"))
    y = table_row(sheet, x, y, 110, [label_cell(l1, "申请理由"), value_cell(v1 + l2 + v2, reason, fill=PEN)])
    opinions = (
        ("村(居)委会意见", ["经民主评议，情况属实，同意上报。"], village_day,
         f"{household.village}村民委员会"),
        ("乡镇审核意见", ["经入户调查核实，该户符合低保条件，同意上报。"], township_day,
         f"{household.township}人民政府"),
        ("县民政局审批意见", [f"同意纳入最低生活保障，月保障金额{household.allowance}元。"], county_day,
         f"{household.county}民政局"),
    )
    for label, lines, signed, stamp_text in opinions:
        y, (sx, sy) = opinion_row(sheet, x, y, 430, l1, width, label, lines, signed)
        candidates = [(sx + dx, sy + dy) for dx, dy in ((0, 0), (-120, 0), (-240, 20), (-400, 20))]
        round_stamp(sheet, rng, candidates, stamp_text, radius=200)
    sheet.line("注：本表一式三份，县民政局、乡镇人民政府、村(居)委会各存一份。", SMALL, y + 40, x=x)
    return [sheet, _income_attachment(household, font, township_day)]


INCOME_ITEMS = (("种植收入", 0.45), ("务工收入", 0.35), ("转移性收入", 0.15), ("其他收入", 0.05))


def _income_attachment(household: Household, font: str, day: date) -> Sheet:
    """The approval form's attachment (附件): the household's income worked out item by item.

    Drawn with its own random stream, so that the form's first page is what it was when the
    form had one page."""
    rng = random.Random(f"{household.number}/approval-attachment")
    sheet = Sheet(font, day)
    x, width = 220, sum(APPROVAL_WIDTHS)
    y = sheet.line("附件：家庭收入核算表", TITLE, 300, align="center", bold=True, spacing=2.0)
    l1, v1, l2, v2 = APPROVAL_WIDTHS
    y = table_row(sheet, x, int(y), ROW, [label_cell(l1, "户号"), value_cell(v1, household.number),
                                          label_cell(l2, "户主姓名"), value_cell(v2, household.head.name)])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "收入项目"), label_cell(v1, "年收入（元）"),
                                     label_cell(l2 + v2, "核算依据")])
    yearly = household.monthly_income * 12
    sources = ("村委会证明", "用工单位证明", "银行流水", "本人申报")
    for (item, share), source in zip(INCOME_ITEMS, sources):
        y = table_row(sheet, x, y, ROW, [label_cell(l1, item), value_cell(v1, str(round(yearly * share)),
                                                                          align="center"),
                                         value_cell(l2 + v2, source, fill=PEN)])
    y = table_row(sheet, x, y, ROW, [label_cell(l1, "合计"), value_cell(v1, str(yearly), align="center"),
                                     value_cell(l2 + v2, f"月均{household.monthly_income}元", fill=PEN)])
    y = sheet.line(f"核算人：{_cadre_name(rng)}", BODY, y + 120, x=x, fill=PEN)
    sheet.line(chinese_date(day), BODY, y, x=x, fill=PEN)
    return sheet


def _card_guilloche(draw: ImageDraw.ImageDraw, box: Box) -> None:
    """Faint wavy background lines, as on the real card."""
    x0, y0, x1, y1 = box
    for row in range(y0 + 60, y1 - 20, 70):
        points = [(x, row + 14 * math.sin((x - x0) / 45)) for x in range(x0 + 20, x1 - 20, 12)]
        draw.line(points, fill=(222, 226, 232), width=3)


def _card_outline(sheet: Sheet, box: Box) -> None:
    draw = sheet.draw
    shadow = (box[0] + 8, box[1] + 8, box[2] + 8, box[3] + 8)
    draw.rounded_rectangle(shadow, radius=56, fill=(150, 150, 150))
    draw.rounded_rectangle(box, radius=56, fill=(250, 250, 252), outline=(90, 90, 90), width=4)
    _card_guilloche(draw, box)


def _card_front(sheet: Sheet, left: int, top: int, person: Person, address: str) -> None:
    """The front of a 2nd-generation ID card, copied at 150 % (1517 x 957 px)."""
    box = (left, top, left + 1517, top + 957)
    _card_outline(sheet, box)
    label, value = 36, 46
    vx = left + 210
    rows = [("姓名", person.name, 110), ("性别", f"{person.sex}", 230), ("出生", "", 350)]
    for name, text, dy in rows:
        sheet.text((left + 70, top + dy + 6), name, label, fill=(70, 90, 130))
        if text:
            sheet.text((vx, top + dy), text, value, protect=True)
    sheet.text((vx + 260, top + 236), "民族", label, fill=(70, 90, 130))
    sheet.text((vx + 400, top + 230), "汉", value)
    sheet.lines += [f"姓名 {person.name}", f"性别 {person.sex} 民族 汉"]
    birth = f"{person.birth.year} 年 {person.birth.month} 月 {person.birth.day} 日"
    sheet.text((vx, top + 350), birth, value)
    sheet.lines.append(f"出生 {birth}")
    address_lines = wrap(address, lambda t: sheet.length(t, value), 740)
    sheet.text((left + 70, top + 476), "住址", label, fill=(70, 90, 130))
    for i, text in enumerate(address_lines):
        sheet.text((vx, top + 470 + i * 72), text, value)
    sheet.lines.append(f"住址 {address_lines[0]}")
    sheet.lines += address_lines[1:]
    sheet.text((left + 70, top + 806), "公民身份号码", label, fill=(70, 90, 130))
    sheet.text((left + 360, top + 798), person.id_number, 52, protect=True)
    sheet.lines.append(f"公民身份号码 {person.id_number}")
    photo = (left + 1030, top + 110, left + 1420, top + 610)
    draw = sheet.draw
    draw.rectangle(photo, fill=(214, 214, 218))
    cx = (photo[0] + photo[2]) // 2
    draw.ellipse((cx - 100, photo[1] + 90, cx + 100, photo[1] + 330), fill=(120, 120, 126))
    draw.chord((cx - 190, photo[1] + 330, cx + 190, photo[3] + 240), 180, 360, fill=(120, 120, 126))


def _card_back(sheet: Sheet, left: int, top: int, household: Household, person: Person, day: date,
               rng: random.Random) -> None:
    """The back of the card: emblem, 居民身份证, issuing office and validity."""
    box = (left, top, left + 1517, top + 957)
    _card_outline(sheet, box)
    draw = sheet.draw
    draw.ellipse((left + 90, top + 80, left + 330, top + 320), outline=(110, 30, 30), width=8)
    draw.polygon(_star(left + 210, top + 200, 80), fill=(110, 30, 30))
    sheet.text((left + 420, top + 120), "中华人民共和国", 64, bold=True)
    sheet.text((left + 420, top + 300), "居民身份证", 104, bold=True)
    issued_year = max(day.year - rng.randint(1, 9), person.birth.year + 16)
    issued = date(issued_year, rng.randint(1, 12), rng.randint(1, 28))
    age = age_on(person.birth, issued)
    years = 10 if age < 26 else 20 if age < 46 else 0
    until = "长期" if years == 0 else f"{issued.year + years}.{issued:%m.%d}"
    office = f"{household.county}公安局"
    validity = f"{issued:%Y.%m.%d}-{until}"
    sheet.text((left + 140, top + 690), "签发机关", 36, fill=(70, 90, 130))
    sheet.text((left + 340, top + 684), office, 46)
    sheet.text((left + 140, top + 800), "有效期限", 36, fill=(70, 90, 130))
    sheet.text((left + 340, top + 794), validity, 46)
    sheet.lines += ["中华人民共和国", "居民身份证", f"签发机关 {office}", f"有效期限 {validity}"]


def render_id_card_copy(household: Household, rng: random.Random, font: str) -> list[Sheet]:
    """身份证复印件: both sides of the head's card photocopied on A4, certified by the village."""
    head, day = household.head, household.applied_on
    sheet = Sheet(font, day)
    left = (PAGE_SIZE[0] - 1517) // 2
    _card_front(sheet, left, 330, head, household.address)
    _card_back(sheet, left, 1450, household, head, day, rng)
    sheet.image = photocopy(sheet.image, rng)
    y = sheet.line("经核对，与原件一致。", BODY, 2650, x=MARGIN + 200, fill=PEN)
    y = sheet.line(f"核对人：{_cadre_name(rng)}", BODY, y, x=MARGIN + 200, fill=PEN)
    sheet.line(chinese_date(day), BODY, y, x=MARGIN + 200, fill=PEN)
    round_stamp(sheet, rng, [(MARGIN + 1100, 2780), (MARGIN + 1300, 2800)], f"{household.village}村民委员会")
    return [sheet]


HUKOU_WIDTHS = (360, 660, 360, 660)
REGISTER_WIDTHS = (210, 270, 120, 420, 600, 420)  # name, relation, sex, born, ID, phone


def render_hukou_copy(household: Household, rng: random.Random, font: str) -> list[Sheet]:
    """户口簿复印件: the register's head page and its members, photocopied with the police seal."""
    head, day = household.head, household.applied_on
    sheet = Sheet(font, day)
    x = 220
    y = sheet.line("居民户口簿", TITLE, 330, align="center", bold=True, spacing=2.2)
    l1, v1, l2, v2 = HUKOU_WIDTHS
    issued = date(rng.randint(2008, day.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    kind = "农业家庭户" if rng.random() < 0.8 else "非农业家庭户"
    y = table_row(sheet, x, int(y), 110, [label_cell(l1, "户别"), value_cell(v1, kind),
                                          label_cell(l2, "户主姓名"), value_cell(v2, head.name, protect=True)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "户号"),
                                     value_cell(v1 + l2 + v2, household.number, protect=True)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "住址"), value_cell(v1 + l2 + v2, household.address)])
    stamp_row = y
    y = table_row(sheet, x, y, 110, [label_cell(l1, "承办人签章"), value_cell(v1, _cadre_name(rng), fill=PEN),
                                     label_cell(l2, "签发日期"), value_cell(v2, chinese_date(issued))])
    y = sheet.line("常住人口登记卡", BODY, y + 90, align="center", bold=True, spacing=1.6)
    header = ("姓名", "与户主关系", "性别", "出生日期", "公民身份号码", "联系电话")
    # two styles on from the approval form's: the household's two tables show all four
    y = member_table(sheet, x, int(y), 100, REGISTER_WIDTHS, header, member_rows(household, day, 2))
    police = f"{household.county}公安局{household.township}派出所"
    stamp_x = x + l1 + v1 + l2 + v2 // 2
    round_stamp(sheet, rng, [(stamp_x, stamp_row + 40), (stamp_x + 60, stamp_row + 10)], police,
                radius=210, bottom_text="户口专用章")
    sheet.image = photocopy(sheet.image, rng)
    cards = random.Random(f"{household.number}/hukou-cards")  # page 1 stays as it was
    return [sheet] + [_register_card(household, person, font, day, cards)
                      for person in household.members[:REGISTER_CARDS]]


REGISTER_CARDS = 2  # 常住人口登记卡 pages copied after the head page: the head's and one more


def _register_card(household: Household, person: Person, font: str, day: date,
                   rng: random.Random) -> Sheet:
    """One member's page of the register (常住人口登记卡), photocopied."""
    sheet = Sheet(font, day)
    x = 220
    y = sheet.line("常住人口登记卡", TITLE, 330, align="center", bold=True, spacing=2.2)
    l1, v1, l2, v2 = HUKOU_WIDTHS
    y = table_row(sheet, x, int(y), 110, [label_cell(l1, "姓名"), value_cell(v1, person.name),
                                          label_cell(l2, "户主或与户主关系"), value_cell(v2, person.relation)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "性别"), value_cell(v1, person.sex),
                                     label_cell(l2, "民族"), value_cell(v2, "汉")])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "出生日期"), value_cell(v1, chinese_date(person.birth)),
                                     label_cell(l2, "出生地"), value_cell(v2, household.county)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "公民身份号码"),
                                     value_cell(v1 + l2 + v2, person.id_number, protect=True)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "本市住址"), value_cell(v1 + l2 + v2, household.address)])
    y = table_row(sheet, x, y, 110, [label_cell(l1, "户号"), value_cell(v1 + l2 + v2, household.number)])
    sheet.line(f"承办人：{_cadre_name(rng)}", BODY, y + 120, x=x, fill=PEN)
    sheet.image = photocopy(sheet.image, rng)
    return sheet


def render_income_certificate(household: Household, rng: random.Random, font: str) -> list[Sheet]:
    """收入证明: the village committee certifies the household's monthly income."""
    head = household.head
    day = household.applied_on - timedelta(days=rng.randint(2, 10))
    sheet = Sheet(font, day)
    y = sheet.line("收入证明", TITLE, 360, align="center", bold=True, spacing=2.4)
    y = sheet.paragraph(
        f"兹证明{head.name}（性别：{head.sex}，身份证号码：{head.id_number}）系我村村民，"
        f"户号{household.number}，现住{household.address}。", BODY, y, protect=True)
    income = household.monthly_income
    per_person = income // len(household.members)
    y = sheet.paragraph(
        f"该户家庭人口{len(household.members)}人，{rng.choice(INCOME_SOURCES)}。经核实，该户{day.year - 1}年"
        f"家庭月收入约{income}元（大写：{yuan_in_capitals(income)}），人均月收入{per_person}元。", BODY, y)
    y = sheet.paragraph("特此证明。", BODY, y)
    y = sheet.paragraph("本证明仅用于申请城乡居民最低生活保障。", BODY, y)
    y = max(y + 200, 1700.0)
    unit = f"证明单位：{household.village}村民委员会"
    right = MARGIN + 100
    sheet.line(unit, BODY, y, align="right", x=right)
    sheet.line(f"经办人：{_cadre_name(rng)}", BODY, y + BODY * 1.8, align="right", x=right, fill=PEN)
    sheet.line(chinese_date(day), BODY, y + BODY * 3.6, align="right", x=right, fill=PEN)
    cx = PAGE_SIZE[0] - right - 330
    round_stamp(sheet, rng, [(cx, int(y + BODY * 2)), (cx - 150, int(y + BODY * 2.5))],
                f"{household.village}村民委员会")
    return [sheet]


RENDERERS: dict[str, Callable[[Household, random.Random, str], list[Sheet]]] = {
    "application": render_application,
    "approval_form": render_approval_form,
    "id_card_copy": render_id_card_copy,
    "hukou_copy": render_hukou_copy,
    "income_certificate": render_income_certificate,
}
