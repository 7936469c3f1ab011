import pytest


@pytest.mark.parametrize(
    "text,observation,status",
    [
        ("No pneumothorax.", "pneumothorax", "absent"),
        ("FINDINGS: No pneumothorax.", "pneumothorax", "absent"),
        ("Lungs are without focal consolidation.", "consolidation", "absent"),
        ("The effusion has resolved.", "pleural_effusion", "absent"),
        ("The chest tube has been removed.", "support_devices", "absent"),
        ("Lungs are free of focal airspace disease.", "lung_opacity", "absent"),
        ("No evidence of pneumothorax, effusion or consolidation.", "consolidation", "absent"),
        ("No evidence of pneumothorax, effusion or consolidation.", "pleural_effusion", "absent"),
        ("Possible small left effusion.", "pleural_effusion", "uncertain"),
        ("Pneumonia cannot be excluded.", "pneumonia", "uncertain"),
        ("Opacity may represent atelectasis.", "atelectasis", "uncertain"),
        ("Atelectasis versus pneumonia.", "pneumonia", "uncertain"),
        ("Borderline cardiomegaly.", "cardiomegaly", "uncertain"),
        ("Evaluate for pneumonia.", "pneumonia", "not_mentioned"),
        ("If symptoms persist, repeat to rule out pneumonia.", "pneumonia", "not_mentioned"),
        ("No focal opacity to suggest pneumonia.", "pneumonia", "absent"),
        ("No change in the right pleural effusion.", "pleural_effusion", "present"),
        ("Stable small right effusion.", "pleural_effusion", "present"),
        ("No pneumothorax, but there is a small effusion.", "pleural_effusion", "present"),
        ("No pneumothorax; small effusion.", "pleural_effusion", "present"),
        ("No pneumothorax. Small effusion.", "pleural_effusion", "present"),
        ("No pneumothorax, possible small effusion.", "pleural_effusion", "uncertain"),
        ("Possible small effusion, no pneumothorax.", "pneumothorax", "absent"),
    ],
)
def test_assertion_modifiers(label_text, text, observation, status):
    assert label_text(text)[observation] == status


def test_assertion_records_the_deciding_modifier(rule_labeler):
    from labeler import Report

    text = "IMPRESSION: No pneumothorax."
    res = rule_labeler.label_one(Report("x", text))
    ev = res.label("pneumothorax").evidence[0]
    assert ev.modifier is not None
    assert ev.modifier.category == "negated"
    assert text[ev.modifier.start:ev.modifier.end] == "No"
    assert ev.modifier.rule_id == "neg.fwd.001"


def test_assertion_engine_on_a_bare_sentence(rule_labeler):
    engine = rule_labeler.stages[3]
    (a, b) = engine.assert_targets("Denies fever but reports cough.", [(7, 12, "x"), (25, 30, "y")])
    assert a.status.value == "absent"
    assert b.status.value == "present"
