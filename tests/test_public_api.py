import labeler


def test_public_api_all_resolves():
    for name in labeler.__all__:
        assert hasattr(labeler, name), name


def test_public_api_all_has_no_duplicates():
    assert len(labeler.__all__) == len(set(labeler.__all__))
