#!/usr/bin/env bash
# Regenerate the committed evaluation results of the rules labeler (see evaluation/README.md):
#
#     bash evaluation/regenerate.sh
#
# Needs the shared corpora at ../shared/corpora (or $LABELER_SHARED/corpora) and the package
# installed (or PYTHONPATH=.). Writes evaluation/iu_core/ and evaluation/negex/: evaluation.json,
# evaluation.html, evaluation.md, errors.csv — ids, offsets, rule ids and numbers only (no report
# text: --with-text is deliberately not used here).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
CORPORA=${LABELER_SHARED:-../shared}/corpora
if [ ! -d "$CORPORA" ]; then
  echo "shared corpora not found at $CORPORA (set LABELER_SHARED)" >&2
  exit 2
fi

# IU/Open-i: binary MeSH gold, core tier, findings + impression, positive or uncertain = coded
"$PYTHON" -m labeler evaluate "$CORPORA/iu/reports.csv" --gold-format iu-mesh \
  --mapping "$CORPORA/iu/mesh_to_chexpert.tsv" --tier core \
  --labeler rules --n-bootstrap 1000 --seed 0 -o evaluation/iu_core --overwrite "$@"

# NegEx: sentence-level negation gold, the rules' assertion stage on each condition phrase
"$PYTHON" -m labeler evaluate "$CORPORA/negex/rsAnnotations-1-120-random.txt" --gold-format negex \
  --labeler rules --n-bootstrap 1000 --seed 0 -o evaluation/negex --overwrite "$@"
