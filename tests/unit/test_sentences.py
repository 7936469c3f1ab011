import pytest

from labeler.sentences import split_sentences


def sents(text):
    return [text[s:e] for s, e in split_sentences(text, 0, len(text))]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("No effusion. Heart normal.", ["No effusion.", "Heart normal."]),
        ("Atelectasis vs. pneumonia. Next.", ["Atelectasis vs. pneumonia.", "Next."]),
        ("Nodule measures 2.5 cm. Stable.", ["Nodule measures 2.5 cm.", "Stable."]),
        ("Clear at the apex.There is no effusion.", ["Clear at the apex.", "There is no effusion."]),
        ("1. Small effusion. 2. No pneumothorax.", ["1. Small effusion.", "2. No pneumothorax."]),
        ("Small effusion\n\nNo pneumothorax", ["Small effusion", "No pneumothorax"]),
        ("Findings:\n- small effusion\n- no pneumothorax", ["Findings:", "- small effusion", "- no pneumothorax"]),
        ("e.g. pneumonia is possible.", ["e.g. pneumonia is possible."]),
    ],
)
def test_sentences_split(text, expected):
    assert sents(text) == expected


def test_sentences_offsets_are_inside_the_range():
    text = "HEADER: One. Two."
    spans = split_sentences(text, 8, len(text))
    assert [text[s:e] for s, e in spans] == ["One.", "Two."]
