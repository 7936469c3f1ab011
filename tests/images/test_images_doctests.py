"""The examples in the image-pipeline docstrings run and hold."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["labeler.deid", "labeler.label_table", "labeler.link", "labeler.manifest",
                                    "labeler.splits"])
def test_images_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
