"""Writes reports.csv: the project's own sample corpus (synthetic reports written for this project).

Run: python corpora/sample/make_sample.py  (the CSV is committed; this script documents it).
"""

import csv
from pathlib import Path

R = []


def add(text: str, kind: str = "cxr") -> None:
    R.append((f"1.2.826.0.1.3680043.10.543.{len(R) + 1:04d}", kind, text.strip()))


add("""EXAM: Chest PA and lateral.
INDICATION: Cough.
FINDINGS: The heart size is normal. The mediastinal contours are within normal limits. The lungs are clear. No pleural effusion or pneumothorax.
IMPRESSION: No acute cardiopulmonary process.""")
add("""INDICATION: Shortness of breath, evaluate for pneumonia.
FINDINGS: There is a patchy opacity in the right lower lobe. No pleural effusion. Heart size is normal.
IMPRESSION: Right lower lobe pneumonia.""")
add("""FINDINGS: Small left pleural effusion with adjacent atelectasis. No pneumothorax. Mild cardiomegaly.
IMPRESSION: 1. Small left pleural effusion. 2. Mild cardiomegaly.""")
add("""HISTORY: Chest tube placement.
FINDINGS: A right chest tube is in place. There is a small residual right apical pneumothorax. The left lung is clear.
IMPRESSION: Small right apical pneumothorax with chest tube in place.""")
add("""FINDINGS: Endotracheal tube tip 4 cm above the carina. Nasogastric tube courses below the diaphragm. Right internal jugular central venous catheter with tip in the SVC. Bilateral perihilar opacities and vascular congestion.
IMPRESSION: Lines and tubes as described. Findings consistent with pulmonary edema.""")
add("""IMPRESSION: No evidence of pneumothorax, pleural effusion or focal consolidation. Normal heart size.""")
add("""FINDINGS: Left basilar opacity which may represent atelectasis or pneumonia. Heart size upper limits of normal.
IMPRESSION: Left basilar opacity, atelectasis versus pneumonia.""")
add("""FINDINGS: Left subclavian dual chamber pacemaker with leads in the right atrium and right ventricle. The heart is mildly enlarged. No focal consolidation.
IMPRESSION: Stable cardiomegaly. Pacemaker in good position.""")
add("""FINDINGS: The previously seen right pleural effusion has resolved. The chest tube has been removed. No pneumothorax.
IMPRESSION: Resolved right pleural effusion.""")
add("""FINDINGS: Lungs are hyperexpanded, consistent with emphysema. No focal airspace disease. Calcified granuloma in the right upper lobe.
IMPRESSION: Emphysema without acute process.""")
add("""FINDINGS: A 1.5 cm nodule is seen in the left upper lobe. No pleural effusion.
IMPRESSION: Left upper lobe pulmonary nodule. Recommend CT for further evaluation.""")
add("""FINDINGS: Acute displaced fractures of the left 6th and 7th ribs. No pneumothorax. Small left pleural effusion, possibly hemothorax.
IMPRESSION: Left rib fractures with small effusion.""")
add("""FINDINGS: Old healed right clavicle fracture. Lungs clear. Heart normal in size.
IMPRESSION: No acute findings.""")
add("""FINDINGS: The mediastinum is widened. Heart size normal. No pleural effusion.
IMPRESSION: Mediastinal widening; correlation with CT is recommended to exclude vascular injury.""")
add("""FINDINGS: Biapical pleural thickening. No pneumothorax. Lungs otherwise clear.
IMPRESSION: Biapical pleural thickening, unchanged.""")
add("""FINDINGS: Diffuse bilateral interstitial opacities and Kerley B lines. Bilateral pleural effusions, right greater than left. Cardiomegaly.
IMPRESSION: Congestive heart failure with pulmonary edema and bilateral effusions.""")
add("""FINDINGS: There is dense consolidation in the left lower lobe with air bronchograms. No effusion.
IMPRESSION: Left lower lobe consolidation, likely pneumonia.""")
add("""IMPRESSION: Pneumonia cannot be excluded in the right middle lobe. No pneumothorax.""")
add("""FINDINGS: Cardiomediastinal silhouette is within normal limits. Lungs are free of focal airspace disease. No pleural effusion. No pneumothorax. No acute osseous abnormality.
IMPRESSION: Normal chest radiograph.""")
add("""FINDINGS: Interval removal of the endotracheal tube. Left PICC line tip in the mid SVC. Improved bibasilar atelectasis.
IMPRESSION: Improving bibasilar atelectasis.""")
add("""FINDINGS: No change in the moderate right pleural effusion. Stable left lower lobe collapse.
IMPRESSION: Unchanged moderate right effusion and left lower lobe collapse.""")
add("""FINDINGS: Heart size is borderline. There is no edema. Questionable small left pleural effusion.
IMPRESSION: Borderline cardiomegaly. Possible small left effusion.""")
add("""FINDINGS: Right upper lobe mass measuring 4 cm with hilar adenopathy. No effusion.
IMPRESSION: Right upper lobe mass, concerning for malignancy.""")
add("""FINDINGS: Port-A-Cath via the right chest wall with tip at the cavoatrial junction. Lungs clear.
IMPRESSION: No acute cardiopulmonary disease.""")
add("""FINDINGS: No pneumothorax. No pericardial effusion. Lungs are clear. Sternotomy wires are intact.
IMPRESSION: Postoperative chest without acute finding.""")
add("""FINDINGS: Low lung volumes with bibasilar platelike atelectasis. No focal consolidation to suggest pneumonia.
IMPRESSION: Bibasilar atelectasis. No pneumonia.""")
add("""FINDINGS: There is mild pulmonary vascular congestion without frank edema. Small bilateral effusions. Heart is enlarged.
IMPRESSION: Cardiomegaly with mild vascular congestion and small effusions.""")
add("""FINDINGS: Ground-glass opacities in both lower lobes. No pleural effusion. Heart size normal.
IMPRESSION: Bilateral lower lobe ground-glass opacities, may represent atypical infection.""")
add("""findings: no acute osseous abnormality. compression deformity of T8 vertebral body, unchanged.
impression: Chronic T8 compression fracture. No acute cardiopulmonary process.""")
add("""FINDINGS: Tracheostomy tube in place. Feeding tube tip in the stomach. Right lower lobe airspace disease.
IMPRESSION: Right lower lobe airspace disease, aspiration pneumonia is suspected.""")
add("""FINDINGS: The lungs are clear without consolidation, effusion, or pneumothorax. No signs of pulmonary edema.
IMPRESSION: No acute disease.""")
add("""FINDINGS: Large right pneumothorax with leftward mediastinal shift.
IMPRESSION: Large right tension pneumothorax. Findings were called to the clinical team.""")
add("""FINDINGS: Blunting of the left costophrenic angle may reflect a small effusion or pleural thickening.
IMPRESSION: Possible small left pleural effusion versus pleural thickening.""")
add("""FINDINGS: Heart size is within normal limits. There is streaky opacity at the left base, likely atelectasis. If symptoms persist, follow-up radiograph is recommended to exclude an underlying pneumonia.
IMPRESSION: Left basilar atelectasis.""")
add("""FINDINGS: Multiple bilateral pulmonary nodules, consistent with metastatic disease. No effusion.
IMPRESSION: Pulmonary metastases.""")
add("""FINDINGS: Interval resolution of the left lower lobe consolidation. No new opacity. No effusion.
IMPRESSION: Resolved left lower lobe pneumonia.""")
add("""FINDINGS: Lines: none. No pneumothorax, no pleural effusion, no consolidation, no edema.
IMPRESSION: Normal.""")
add("""COMPARISON: None.
FINDINGS: AP portable view. Left-sided AICD with single lead terminating in the right ventricle. Mild interstitial edema. Heart size is enlarged.
IMPRESSION: Cardiomegaly and mild interstitial edema.""")
add("""FINDINGS: Mild degenerative changes of the thoracic spine. Lungs are clear. Normal heart size.
IMPRESSION: No acute cardiopulmonary abnormality.""")
add("""FINDINGS: Right lower lobe opacity, no definite consolidation. Possible right hilar enlargement.
IMPRESSION: Right lower lobe opacity; pneumonia not excluded.""")
add("""EXAM: MRI LEFT KNEE WITHOUT CONTRAST.
FINDINGS: Complex tear of the posterior horn of the medial meniscus. Moderate joint effusion. The cruciate ligaments are intact.
IMPRESSION: Medial meniscal tear with moderate knee joint effusion.""", "knee_mri")
add("""EXAM: CT HEAD WITHOUT CONTRAST.
FINDINGS: No acute intracranial hemorrhage, mass effect or midline shift. Ventricles are normal in size.
IMPRESSION: No acute intracranial abnormality.""", "head_ct")
add("""EXAM: ULTRASOUND ABDOMEN.
FINDINGS: The liver is normal in echotexture. The gallbladder contains multiple stones without wall thickening. No ascites.
IMPRESSION: Cholelithiasis without cholecystitis.""", "abdomen_us")
add("""EXAM: LUMBAR SPINE 3 VIEWS.
FINDINGS: Mild compression fracture of L1, age indeterminate. Degenerative disc disease at L4-L5.
IMPRESSION: L1 compression fracture, age indeterminate.""", "spine_xr")
add("""EXAM: RIGHT HAND 3 VIEWS.
FINDINGS: Nondisplaced fracture of the base of the fifth metacarpal. Soft tissue swelling.
IMPRESSION: Fifth metacarpal base fracture.""", "hand_xr")
add("""EXAM: BILATERAL SCREENING MAMMOGRAM.
FINDINGS: Scattered fibroglandular densities. No suspicious mass or calcifications.
IMPRESSION: BI-RADS 1: negative.""", "mammogram")
add("""FINDINGS: Heart size normal. Lungs clear.
IMPRESSION: No acute process.
ADDENDUM: On review, a small left apical pneumothorax is present. Findings discussed with Dr. Smith.""")
add("""IMPRESSION: 1. Moderate cardiomegaly. 2. Small bilateral pleural effusions. 3. No pneumothorax. 4. Right IJ line tip in the SVC.""")
add("""The heart is normal in size. There is no pleural effusion or pneumothorax. Mild bibasilar atelectasis. Impression: Mild atelectasis.""")
add("""FINDINGS: Hazy opacity at the right base, which could represent early pneumonia versus aspiration. Small right effusion cannot be excluded.
IMPRESSION: Right basilar opacity, possibly pneumonia; recommend follow-up.""")
add("""FINDINGS: Scarring at the left apex. Calcified pleural plaques bilaterally, consistent with prior asbestos exposure. No effusion.
IMPRESSION: Calcified pleural plaques.""")

out = Path(__file__).with_name("reports.csv")
with out.open("w", encoding="utf-8", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["study_uid", "exam", "text"])
    for uid, kind, text in R:
        w.writerow([uid, kind, text])
print(f"wrote {len(R)} reports to {out}")
