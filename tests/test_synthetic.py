"""The synthetic dossier generator: people, pages, ground truth, determinism, OCR legibility."""
from __future__ import annotations

import random
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from ingest import synthetic
from ingest.synthetic import (
    DOC_SEQ,
    DOC_TYPES,
    Manifest,
    degrade,
    generate_dossier_set,
    id_check_digit,
    is_valid_id_number,
    make_household,
    make_id_number,
    make_regions,
    render_document,
)

SEED = 2024
# Tesseract's chi_sim output puts spaces between Han characters.
HAN = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
HAN_GAP = re.compile(rf"(?<={HAN})[ \t]+(?={HAN})")


@pytest.fixture(scope="module")
def dossier_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """Two households with all five documents each, written once for the module."""
    out = tmp_path_factory.mktemp("dossiers")
    return out, generate_dossier_set(out, seed=SEED, households=2)


def _households(seed: int, count: int) -> list[synthetic.Household]:
    rng = random.Random(seed)
    villages = [r for r in make_regions(rng) if len(r.code) == 12]
    return [make_household(rng, villages[i % len(villages)], i + 1) for i in range(count)]


def test_every_generated_id_number_has_a_valid_check_digit_and_encodes_birth_and_sex() -> None:
    people = [p for seed in range(5) for h in _households(seed, 20) for p in h.members]
    assert len(people) > 150
    for person in people:
        number = person.id_number
        assert is_valid_id_number(number), number
        assert number[6:14] == f"{person.birth:%Y%m%d}"
        assert int(number[16]) % 2 == (1 if person.sex == "男" else 0)


def test_id_numbers_ending_in_x_occur_and_are_valid() -> None:
    rng = random.Random(3)
    numbers = [make_id_number(rng, "220381", date(1970, 5, 1), "女") for _ in range(300)]
    assert any(n.endswith("X") for n in numbers)
    assert all(is_valid_id_number(n) for n in numbers)


def test_is_valid_id_number_rejects_a_wrong_check_digit() -> None:
    assert id_check_digit("11010519491231002") == "X"  # the example of GB 11643-1999
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")
    assert not is_valid_id_number("11010519491331002X")  # month 13
    first17 = "11010585130101001"  # born in the year 8513
    assert not is_valid_id_number(first17 + id_check_digit(first17))
    first17 = "01010519491231002"  # no region code starts with 0
    assert not is_valid_id_number(first17 + id_check_digit(first17))
    assert not is_valid_id_number("1101051949123100")


def test_households_are_numbered_by_village_code_and_serial() -> None:
    rng = random.Random(1)
    regions = make_regions(rng)
    county, villages = regions[0], [r for r in regions if len(r.code) == 12]
    assert len(county.code) == 6 and county.parent is None
    assert len([r for r in regions if len(r.code) == 9]) == 2 and len(villages) == 4
    household = make_household(rng, villages[0], 42)
    assert household.number == f"{villages[0].code}-0042"
    assert household.members[0] is household.head and household.head.relation == "户主"
    assert household.village == villages[0].name and household.village in household.address


def test_names_have_two_and_three_characters() -> None:
    lengths = {len(p.name) for h in _households(9, 30) for p in h.members}
    assert {2, 3} <= lengths


def test_a_dossier_set_holds_every_document_in_order_with_its_ground_truth_beside_it(
        dossier_set: tuple[Path, Manifest]) -> None:
    out, manifest = dossier_set
    for household in manifest.households:
        documents = [d for d in manifest.documents if d.household == household.number]
        assert [d.doc_type for d in documents] == list(DOC_TYPES)
        assert [d.seq for d in documents] == [DOC_SEQ[t] for t in DOC_TYPES]
    for document in manifest.documents:
        assert len(document.files) == len(document.ground_truth) >= 1
        for path, truth in zip(document.files, document.ground_truth):
            with Image.open(path) as image:
                assert image.size == (2480, 3508) and image.mode == "RGB"
            assert path.with_suffix(".txt").read_text(encoding="utf-8") == truth + "\n"
    assert Manifest.load(out / "manifest.json") == manifest


def test_ground_truth_names_the_household_and_the_head(dossier_set: tuple[Path, Manifest]) -> None:
    _, manifest = dossier_set
    heads = {h.number: h.head for h in manifest.households}
    for document in manifest.documents:
        head = heads[document.household]
        truth = "\n".join(document.ground_truth)
        if document.doc_type in ("application", "approval_form", "hukou_copy"):
            assert document.household in truth and head.name in truth, document.doc_type
        if document.doc_type == "id_card_copy":
            assert head.id_number in truth


def test_member_tables_set_birth_date_id_number_and_phone_side_by_side_in_all_four_styles(
        dossier_set: tuple[Path, Manifest]) -> None:
    # the layout that joined a date to an ID number in search snippets (issue 9)
    from ingest.synthetic_forms import BIRTH_DATE_STYLES, PHONE_FROM_AGE, age_on, birth_date_text

    _, manifest = dossier_set
    styles_seen = set()
    for household in manifest.households:
        truth = {d.doc_type: "\n".join(d.ground_truth) for d in manifest.documents
                 if d.household == household.number}
        for k, person in enumerate(household.members):
            assert re.fullmatch(r"1[3-9][0-9]{9}", person.phone), f"member {k}: phone number"
            adult = age_on(person.birth, household.applied_on) >= PHONE_FROM_AGE
            for doc_type in ("approval_form", "hukou_copy"):
                rows = [line for line in truth[doc_type].splitlines()
                        if line.startswith(f"{person.name} {person.relation} ")]
                assert len(rows) == 1, f"member {k}: no single row in the {doc_type} table"
                styles = [style for style in BIRTH_DATE_STYLES
                          if rows[0].endswith(" ".join(filter(None, (
                              birth_date_text(person.birth, style), person.id_number,
                              person.phone if adult else ""))))]
                assert len(styles) == 1, f"member {k}: {doc_type} row is not date, ID, phone"
                styles_seen.update(styles)
    assert styles_seen == set(BIRTH_DATE_STYLES)


def test_same_seed_gives_identical_manifest_and_image_bytes(tmp_path: Path) -> None:
    kinds = ["approval_form", "id_card_copy"]
    first = generate_dossier_set(tmp_path / "a", seed=5, households=1, doc_types=kinds)
    second = generate_dossier_set(tmp_path / "b", seed=5, households=1, doc_types=kinds)
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    for doc_a, doc_b in zip(first.documents, second.documents, strict=True):
        for file_a, file_b in zip(doc_a.files, doc_b.files, strict=True):
            assert file_a.read_bytes() == file_b.read_bytes()


def test_different_seeds_give_different_households() -> None:
    one, two = _households(1, 4), _households(2, 4)
    assert [h.head.id_number for h in one] != [h.head.id_number for h in two]
    assert [h.head.name for h in one] != [h.head.name for h in two]


def test_degrade_changes_the_image_but_keeps_its_size(dossier_set: tuple[Path, Manifest]) -> None:
    _, manifest = dossier_set
    with Image.open(manifest.documents[0].files[0]) as page:
        clean = page.convert("RGB")
    worse = degrade(clean, random.Random(1))
    assert worse.size == clean.size and worse.mode == "RGB"
    difference = ImageStat.Stat(ImageChops.difference(clean, worse).convert("L")).mean[0]
    assert difference > 5  # mean change per pixel, out of 255


def test_a_degraded_page_keeps_the_ground_truth_of_the_clean_page() -> None:
    household = _households(4, 1)[0]
    clean = render_document(household, "income_certificate", random.Random(8))[0]
    worse = render_document(household, "income_certificate", random.Random(8), degraded=True)[0]
    assert worse.ground_truth == clean.ground_truth
    assert worse.image.tobytes() != clean.image.tobytes()


def test_unknown_document_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown document type"):
        render_document(_households(1, 1)[0], "marriage_certificate", random.Random(1))


def test_missing_fonts_name_the_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import fonts

    monkeypatch.setattr(fonts, "CJK_FONTS", ("/nonexistent/font.ttc",))
    with pytest.raises(RuntimeError, match="fonts-wqy-zenhei"):
        synthetic.fonts_available()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="the tesseract binary is not installed")
def test_tesseract_reads_household_number_and_head_name_on_clean_pages(
        dossier_set: tuple[Path, Manifest]) -> None:
    import pytesseract

    if "chi_sim" not in pytesseract.get_languages():
        pytest.skip("tesseract has no chi_sim language data")
    _, manifest = dossier_set
    household = manifest.households[0]
    for document in manifest.documents[:2]:
        assert document.doc_type in ("application", "approval_form")
        with Image.open(document.files[0]) as page:
            text = pytesseract.image_to_string(page, lang="chi_sim", config="--psm 3")
        text = HAN_GAP.sub("", text)
        assert household.number in text, (document.doc_type, text)
        assert household.head.name in text, (document.doc_type, text)
