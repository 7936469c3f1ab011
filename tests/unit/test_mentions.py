import pytest


@pytest.mark.parametrize(
    "text,observation,status",
    [
        ("Small left pleural effusion.", "pleural_effusion", "present"),
        ("Small pericardial effusion.", "pleural_effusion", "not_mentioned"),
        ("Please see the attached report.", "support_devices", "not_mentioned"),
        ("Right Port-A-Cath in place.", "support_devices", "present"),
        ("Right port in place.", "support_devices", "present"),
        ("Bilateral pleural effusions.", "pleural_effusion", "present"),
        ("Pleural\neffusion on the left.", "pleural_effusion", "present"),
        ("Small hydropneumothorax.", "pneumothorax", "present"),
        ("Small hydropneumothorax.", "pleural_effusion", "present"),
        ("Compression collapse of the T8 vertebral body.", "atelectasis", "not_mentioned"),
        ("Right lower lobe collapse.", "atelectasis", "present"),
        ("Lower extremity edema.", "edema", "not_mentioned"),
        ("Calcified granuloma.", "lung_lesion", "not_mentioned"),
    ],
)
def test_mentions_phrases_and_exclusions(label_text, text, observation, status):
    assert label_text(text)[observation] == status


def test_mentions_carry_rule_ids_and_offsets(rule_labeler):
    from labeler import Report

    text = "FINDINGS: Small left pleural effusion."
    res = rule_labeler.label_one(Report("x", text))
    (m,) = [m for m in res.mentions if m.observation == "pleural_effusion"]
    assert text[m.start:m.end] == "pleural effusion"
    assert m.rule_id == "pleural_effusion.mention.001"


def test_mentions_only_in_labeled_sections(label_text):
    got = label_text("INDICATION: rule out pneumonia, effusion.\nFINDINGS: Lungs are clear.")
    assert got["pneumonia"] == "not_mentioned"
    assert got["pleural_effusion"] == "not_mentioned"


def test_mentions_regex_pattern_rule(label_text):
    assert label_text("The heart is moderately enlarged.")["cardiomegaly"] == "present"
    assert label_text("The heart size is not enlarged.")["cardiomegaly"] == "absent"
