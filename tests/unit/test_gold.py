"""Gold loaders: CheXpert-style status tables, binary tables, IU MeSH codes, NegEx sentences;
bad files give DataError messages with counts (never a traceback)."""

import numpy as np
import pytest

from labeler.errors import ConfigError, DataError
from labeler.gold import (
    detect_gold_format,
    load_binary_gold,
    load_chexpert_gold,
    load_gold,
    load_iu_mesh_gold,
    load_negex_gold,
    normalize_name,
)
from labeler.vocab import AssertionStatus

P, A, U, B = AssertionStatus.PRESENT, AssertionStatus.ABSENT, AssertionStatus.UNCERTAIN, AssertionStatus.NOT_MENTIONED


def test_load_chexpert_gold_decodes_statuses(write_csv):
    path = write_csv([["study_uid", "Edema", "Pneumothorax"], ["r1", "1", "0"], ["r2", "-1.0", ""], ["r3", "", "1.0"]])
    gold = load_chexpert_gold(path)
    assert gold.kind == "status" and gold.format == "chexpert"
    assert gold.study_uids == ("r1", "r2", "r3")
    assert gold.observations == ("Edema", "Pneumothorax")
    assert gold.values.tolist() == [[P, A], [U, B], [B, P]]
    assert gold.texts is None


def test_load_chexpert_gold_renames_columns(write_csv):
    path = write_csv([["study_uid", "Airspace Opacity", "Edema"], ["r1", "1", "0"]])
    gold = load_chexpert_gold(path, rename={"Airspace Opacity": "Lung Opacity"})
    assert gold.observations == ("Lung Opacity", "Edema")
    assert gold.notes == ("gold columns read as: 'Airspace Opacity' as 'Lung Opacity'",)


def test_load_chexpert_gold_selects_observations_by_normalized_name(write_csv):
    path = write_csv([["study_uid", "subject_id", "Pleural Effusion"], ["r1", "123", "1"]])
    gold = load_chexpert_gold(path, observations=["pleural_effusion"])
    assert gold.observations == ("pleural_effusion",)
    assert gold.values.tolist() == [[P]]


def test_load_chexpert_gold_reads_text_columns(write_csv):
    path = write_csv([["study_uid", "findings", "impression", "Edema"], ["r1", "Clear.", "Normal.", ""]])
    gold = load_chexpert_gold(path, text_columns=["findings", "impression"])
    assert gold.observations == ("Edema",)
    assert gold.texts == ("FINDINGS: Clear.\n\nIMPRESSION: Normal.",)


def test_load_chexpert_gold_unknown_values_counted_per_column(write_csv):
    path = write_csv([["study_uid", "Edema", "Fracture"], ["r1", "2", "yes"], ["r2", "1", "yes"], ["r3", "2", "0"]])
    with pytest.raises(DataError) as exc:
        load_chexpert_gold(path)
    msg = str(exc.value)
    assert "'Edema': 2 cell(s) ('2' x2; rows [1, 3])" in msg
    assert "'Fracture': 2 cell(s) ('yes' x2; rows [1, 2])" in msg


def test_load_chexpert_gold_withholds_long_cell_values(write_csv):
    path = write_csv([["study_uid", "Edema"], ["r1", "There is a small effusion."]])
    with pytest.raises(DataError) as exc:
        load_chexpert_gold(path)
    assert "effusion" not in str(exc.value) and "<26 characters>" in str(exc.value)


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([["id", "Edema"], ["r1", "1"]], {}, "no id column 'study_uid'"),
        ([["study_uid", "Edema"], ["r1", "1"]], {"observations": ["Edema", "Fracture"]},
         "missing observation column(s) ['Fracture']"),
        ([["study_uid", "Edema"], ["r1", "1"], ["r1", "0"]], {}, "1 duplicated id(s) in 'study_uid'"),
        ([["study_uid", "Edema"], ["", "1"], ["r2", "0"]], {}, "1 row(s) with an empty 'study_uid'"),
        ([["study_uid"], ["r1"]], {}, "no observation columns"),
        ([["study_uid", "Edema"]], {}, "no rows"),
        ([["study_uid", "Edema"], ["r1", "1"]], {"rename": {"Oedema": "Edema"}}, "renamed column(s) ['Oedema']"),
        ([["study_uid", "Edema", "Lung Edema"], ["r1", "1", "0"]], {"rename": {"Lung Edema": "Edema"}},
         "observation(s) ['Edema'] given by more than one column"),
    ],
)
def test_load_chexpert_gold_bad_files_raise_data_error(write_csv, rows, kwargs, message):
    path = write_csv(rows)
    with pytest.raises(DataError) as exc:
        load_chexpert_gold(path, **kwargs)
    assert message in str(exc.value)


def test_load_chexpert_gold_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_chexpert_gold(tmp_path / "nope.csv")


def test_load_binary_gold_accepts_common_spellings(write_csv):
    path = write_csv([["study_uid", "Edema"], ["r1", "1"], ["r2", "0"], ["r3", "True"], ["r4", "no"], ["r5", "1.0"]])
    gold = load_binary_gold(path)
    assert gold.kind == "binary"
    assert gold.values[:, 0].tolist() == [1, 0, 1, 0, 1]


def test_load_binary_gold_blank_is_error_unless_negative(write_csv):
    path = write_csv([["study_uid", "Edema"], ["r1", "1"], ["r2", ""]])
    with pytest.raises(DataError, match=r"'Edema': 1 cell\(s\)"):
        load_binary_gold(path)
    assert load_binary_gold(path, blank="negative").values[:, 0].tolist() == [1, 0]


def test_load_binary_gold_rejects_uncertain(write_csv):
    path = write_csv([["study_uid", "Edema"], ["r1", "-1"]])
    with pytest.raises(DataError, match="expected 1 or 0"):
        load_binary_gold(path)


def test_load_gold_reads_jsonl_and_parquet(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"study_uid": ["a", "b"], "Edema": [1.0, None], "Fracture": [-1.0, 0.0]})
    df.to_json(tmp_path / "g.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "g.parquet")
    for name in ("g.jsonl", "g.parquet"):
        gold = load_gold(tmp_path / name, "chexpert")
        assert gold.values.tolist() == [[P, U], [B, A]], name


MAPPING = "label\ttier\tmesh_head\tqualifier_regex\tnote\n" \
          "Cardiomegaly\tcore\tCardiomegaly\t\t\n" \
          "Lung Opacity\tcore\tPulmonary Atelectasis\t\t\n" \
          "Lung Opacity\text\tCicatrix\t\t\n" \
          "Pleural Effusion\tcore\tPleural Effusion\t\t\n"


@pytest.fixture()
def iu_files(write_csv, tmp_path):
    reports = write_csv([
        ["uid", "MeSH", "Problems", "findings", "impression"],
        ["1", "normal", "normal", "Clear lungs.", "Normal."],
        ["2", "Cardiomegaly/mild;Cicatrix/lung", "Cardiomegaly;Cicatrix", "Big heart.", "Cardiomegaly."],
        ["3", "No Indexing", "No Indexing", "", "Unreadable."],
        ["4", "Pleural Effusion/left", "Pleural Effusion", "Fluid.", "Effusion."],
    ], name="reports.csv")
    mapping = tmp_path / "mapping.tsv"
    mapping.write_text(MAPPING, encoding="utf-8")
    return reports, mapping


def test_load_iu_mesh_gold_core_tier(iu_files):
    gold = load_iu_mesh_gold(*iu_files)
    assert gold.study_uids == ("1", "2", "4")
    assert gold.observations == ("No Finding", "Cardiomegaly", "Lung Opacity", "Pleural Effusion")
    assert gold.values.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert gold.notes[0] == "1 of 4 reports coded 'No Indexing' left out"
    assert gold.texts[1] == "FINDINGS: Big heart.\n\nIMPRESSION: Cardiomegaly."


def test_load_iu_mesh_gold_ext_tier_adds_rows(iu_files):
    gold = load_iu_mesh_gold(*iu_files, tier="ext")
    assert gold.values[1].tolist() == [0, 1, 1, 0]


def test_load_gold_iu_needs_mapping(iu_files):
    with pytest.raises(ConfigError, match="--mapping"):
        load_gold(iu_files[0], "iu-mesh")


def test_load_gold_iu_observation_subset(iu_files):
    gold = load_gold(iu_files[0], "auto", mapping=iu_files[1], observations=["cardiomegaly", "Fracture"])
    assert gold.observations == ("Cardiomegaly",)
    assert gold.notes[-1] == "not in the mapping, not scored: ['Fracture']"


NEGEX = "line number\tCondition\tsentence\tnegation_status\ttemporality\texperiencer\n" \
        "1\tedema\tNo peripheral EDEMA.\tNegated\tRecent\tPatient\n" \
        "2\tcough\tCOUGH for two days.\tAffirmed\tRecent\tPatient\n" \
        "3\tmass\tPossible MASS.\tPossible\tRecent\tPatient\n"


def test_load_negex_gold_is_sentence_level_status_gold(tmp_path):
    path = tmp_path / "negex.txt"
    path.write_text(NEGEX, encoding="utf-8")
    assert detect_gold_format(path) == "negex"
    gold = load_gold(path)
    assert gold.kind == "status" and gold.format == "negex"
    assert gold.study_uids == ("1", "2", "3")
    assert gold.values[:, 0].tolist() == [A, P, U]
    assert gold.targets == ("edema", "cough", "mass")
    assert gold.texts[0] == "No peripheral EDEMA."


def test_load_negex_gold_rejects_unknown_status(tmp_path):
    path = tmp_path / "negex.txt"
    path.write_text(NEGEX.replace("Affirmed", "Maybe"), encoding="utf-8")
    with pytest.raises(DataError, match="line 3: unknown negation status"):
        load_negex_gold(path)


def test_detect_gold_format(iu_files, write_csv):
    assert detect_gold_format(iu_files[0]) == "iu-mesh"
    assert detect_gold_format(write_csv([["study_uid", "Edema"], ["r1", "1"]])) == "chexpert"


def test_load_gold_unknown_format(write_csv):
    with pytest.raises(ConfigError, match="unknown gold format 'xml'"):
        load_gold(write_csv([["study_uid", "Edema"]]), "xml")


@pytest.mark.parametrize(("a", "b"), [("Pleural Effusion", "pleural_effusion"), ("No-Finding", "no finding"),
                                      ("  Lung   Opacity ", "lung_opacity")])
def test_normalize_name_matches_ids_and_display_names(a, b):
    assert normalize_name(a) == normalize_name(b)


def test_goldset_rejects_targets_without_texts():
    from labeler.gold import GoldSet

    with pytest.raises(ValueError, match="targets need texts"):
        GoldSet(("a",), ("X",), np.array([[P]], dtype=object), "status", targets=("x",))
