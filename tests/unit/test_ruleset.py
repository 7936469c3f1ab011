import shutil

import pytest

from labeler import RuleLabeler, Report
from labeler.errors import RuleError
from labeler.ruleset import default_rules_path, lint_ruleset, load_ruleset, ruleset_json_schema

CHEXPERT_NAMES = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)


def test_ruleset_default_is_chexpert14_in_order():
    rs = load_ruleset()
    assert rs.display_names == CHEXPERT_NAMES
    assert rs.name == "chexpert14"
    assert len(rs.sha256) == 64


def test_ruleset_default_lints_clean():
    assert lint_ruleset(load_ruleset()) == []


def test_ruleset_json_schema_covers_every_file_kind():
    schema = ruleset_json_schema()
    assert set(schema) == {"manifest.yaml", "sections.yaml", "aggregation.yaml", "findings/<observation>.yaml",
                           "assertion/<category>.yaml"}
    assert "additionalProperties" in str(schema["findings/<observation>.yaml"])


@pytest.fixture()
def rules_copy(tmp_path):
    dst = tmp_path / "rules"
    shutil.copytree(default_rules_path(), dst)
    return dst


def test_ruleset_unknown_key_is_rejected_with_file_name(rules_copy):
    path = rules_copy / "findings" / "edema.yaml"
    path.write_text(path.read_text() + "\nsynonyms: [x]\n")
    with pytest.raises(RuleError, match=r"synonyms.*findings/edema.yaml"):
        load_ruleset(rules_copy)


def test_ruleset_bad_regex_is_rejected(rules_copy):
    path = rules_copy / "findings" / "edema.yaml"
    path.write_text(path.read_text().replace("patterns:\n", "patterns:\n      - '(unclosed'\n", 1))
    with pytest.raises(RuleError, match="does not compile"):
        load_ruleset(rules_copy)


def test_ruleset_duplicate_rule_id_is_rejected(rules_copy):
    path = rules_copy / "findings" / "edema.yaml"
    path.write_text(path.read_text().replace("edema.mention.002", "edema.mention.001"))
    with pytest.raises(RuleError, match="used twice"):
        load_ruleset(rules_copy)


def test_ruleset_no_is_a_phrase_not_a_boolean(rules_copy):
    rs = load_ruleset(rules_copy)
    assert "no" in rs.modifiers["negation"].rules[0].phrases


def test_ruleset_custom_label_set_without_code(tmp_path):
    """A user points --rules at their own label set: one finding, no derived labels."""
    root = tmp_path / "mine"
    (root / "findings").mkdir(parents=True)
    shutil.copytree(default_rules_path() / "assertion", root / "assertion")
    shutil.copy(default_rules_path() / "sections.yaml", root / "sections.yaml")
    (root / "manifest.yaml").write_text(
        "schema_version: 1\nname: granuloma\nversion: 0.1.0\nobservations: [granuloma]\n")
    (root / "aggregation.yaml").write_text(
        "modifier_effects: {negated: absent, uncertain: uncertain, hypothetical: ignore, historical: present}\n"
        "modifier_priority: [negated, hypothetical, uncertain, historical]\n")
    (root / "findings" / "granuloma.yaml").write_text(
        "observation: granuloma\nname: Granuloma\nmentions:\n  - id: granuloma.mention.001\n"
        "    phrases: [granuloma, calcified granuloma]\n"
        "examples:\n  - {text: 'Calcified granuloma.', expect: present}\n")
    lab = RuleLabeler(root)
    assert lab.observations == ("granuloma",)
    res = lab.label_one(Report("x", "FINDINGS: No granuloma. IMPRESSION: Normal."))
    assert res.label("granuloma").status.value == "absent"
