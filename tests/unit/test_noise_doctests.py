"""The examples in the noise-estimation docstrings run and hold."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["labeler.noise", "labeler.vocab", "labeler.signals",
                                    "labeler.labelers.baselines", "labeler.noise_audit"])
def test_noise_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
