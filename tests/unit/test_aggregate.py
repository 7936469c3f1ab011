def test_aggregate_present_beats_uncertain_beats_absent(label_text):
    got = label_text("FINDINGS: No effusion on the left. Possible right effusion. IMPRESSION: Right pleural effusion.")
    assert got["pleural_effusion"] == "present"
    got = label_text("FINDINGS: No effusion on the left. Possible right effusion.")
    assert got["pleural_effusion"] == "uncertain"


def test_aggregate_no_finding_derived(label_text):
    assert label_text("IMPRESSION: No pneumothorax. Clear lungs.")["no_finding"] == "present"
    assert label_text("IMPRESSION: Small pneumothorax.")["no_finding"] == "not_mentioned"
    assert label_text("IMPRESSION: Possible small pneumothorax.")["no_finding"] == "not_mentioned"


def test_aggregate_support_devices_do_not_block_no_finding(label_text):
    got = label_text("IMPRESSION: Pacemaker in place. Lungs clear, no effusion.")
    assert got["support_devices"] == "present"
    assert got["no_finding"] == "present"


def test_aggregate_other_findings_block_no_finding(label_text):
    got = label_text("IMPRESSION: Calcified granuloma. Degenerative changes of the spine.")
    assert got["no_finding"] == "not_mentioned"


def test_aggregate_evidence_lists_deciding_mention_first(rule_labeler):
    from labeler import Report

    text = "FINDINGS: No effusion on the left. IMPRESSION: Small right effusion."
    lab = rule_labeler.label_one(Report("x", text)).label("pleural_effusion")
    assert [e.status.value for e in lab.evidence] == ["present", "absent"]
    assert lab.evidence[0].section == "impression"
    assert text[lab.evidence[0].sentence_start:lab.evidence[0].sentence_end] == "Small right effusion."


def test_aggregate_derived_label_names_its_rule(rule_labeler):
    from labeler import Report

    lab = rule_labeler.label_one(Report("x", "IMPRESSION: Normal.")).label("no_finding")
    assert lab.rule_id == "aggregate.no_finding.001"
