import pytest

from labeler.ruleset import load_ruleset
from labeler.sections import SectionSplitter


@pytest.fixture(scope="module")
def splitter():
    return SectionSplitter.from_ruleset(load_ruleset())


def names(splitter, text):
    return [(s.name, text[s.start:s.end].strip(), s.labeled) for s in splitter.split(text)]


def test_sections_run_in_headers(splitter):
    text = "INDICATION: cough.\nFINDINGS: No effusion.\nIMPRESSION: no acute process."
    assert names(splitter, text) == [
        ("history", "cough.", False),
        ("findings", "No effusion.", True),
        ("impression", "no acute process.", True),
    ]


def test_sections_case_insensitive_and_header_on_own_line(splitter):
    text = "Findings\nLungs clear.\n\nimpression:\nNormal."
    assert [n for n, _, _ in names(splitter, text)] == ["findings", "impression"]


def test_sections_header_after_sentence_end(splitter):
    text = "Indication: fever. Comparison: none. Findings: Clear lungs."
    assert [n for n, _, _ in names(splitter, text)] == ["history", "comparison", "findings"]


def test_sections_headerless_report_is_labeled(splitter):
    assert names(splitter, "No pneumothorax.") == [("findings", "No pneumothorax.", True)]


def test_sections_preamble_not_labeled(splitter):
    text = "FINAL REPORT\nCHEST TWO VIEWS\nFINDINGS: clear."
    got = names(splitter, text)
    assert got[0][0] == "preamble" and got[0][2] is False
    assert got[1][:2] == ("findings", "clear.")


def test_sections_unknown_caps_header_opens_findings(splitter):
    text = "INDICATION: dyspnea.\n\nPA AND LATERAL CHEST RADIOGRAPH: Small effusion."
    got = names(splitter, text)
    assert got[-1] == ("findings", "Small effusion.", True)


def test_sections_text_after_blank_line_in_history_is_labeled(splitter):
    text = "HISTORY: cough.\n\nThe lungs are clear."
    got = names(splitter, text)
    assert got == [("history", "cough.", False), ("findings", "The lungs are clear.", True)]


def test_sections_header_word_inside_sentence_is_not_a_header(splitter):
    text = "FINDINGS: The impression of the prior radiologist was correct."
    assert [n for n, _, _ in names(splitter, text)] == ["findings"]


def test_sections_empty_text(splitter):
    assert splitter.split("   ") == ()
