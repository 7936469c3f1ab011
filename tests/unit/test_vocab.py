import math

import pytest

from labeler.vocab import AssertionStatus, chexpert_to_status, status_to_chexpert


@pytest.mark.parametrize(
    "status,value",
    [(AssertionStatus.PRESENT, 1), (AssertionStatus.ABSENT, 0), (AssertionStatus.UNCERTAIN, -1),
     (AssertionStatus.NOT_MENTIONED, None)],
)
def test_vocab_round_trip(status, value):
    assert status_to_chexpert(status) == value
    assert chexpert_to_status(value) is status


@pytest.mark.parametrize("cell,status", [("1.0", "present"), ("0", "absent"), ("-1.0", "uncertain"),
                                         ("", "not_mentioned"), (math.nan, "not_mentioned"), ("  ", "not_mentioned")])
def test_vocab_decodes_cells(cell, status):
    assert chexpert_to_status(cell).value == status


@pytest.mark.parametrize("cell", ["2", "yes", "0.5"])
def test_vocab_rejects_unknown_cells(cell):
    with pytest.raises(ValueError):
        chexpert_to_status(cell)
