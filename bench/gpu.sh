#!/usr/bin/env bash
# GPU measurements of issue 10, item 6: fine-tuning (nerflow bf16/fp32, softmax and CRF
# heads; Trainer bf16) and inference of a 12 x 768 random-init BERT on the real
# bert-base-chinese vocabulary. Under 8 minutes on one H200 with the defaults; results
# in results/bench/gpu.json (partial results survive the time limit).
#
#   bash bench/gpu.sh                       # on the GPU machine, from anywhere
#   bash bench/gpu.sh --tiny --device cpu   # the same path on a CPU, in seconds
#
# Extra arguments go to bench/gpu_bench.py (see its --help). The data and vocabulary
# default to ../shared; set NERFLOW_DATA (folder with train.json, dev.json) and
# NERFLOW_VOCAB (folder with vocab.txt) where they lie elsewhere. LIMIT_S (default 470)
# bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${NERFLOW_DATA:-../shared/data/cluener}"
vocab="${NERFLOW_VOCAB:-../shared/models/bert-base-chinese-vocab}"
for needed in "$data/train.json" "$data/dev.json" "$vocab/vocab.txt"; do
    if [[ ! -f "$needed" ]]; then
        echo "gpu.sh: $needed not found (set NERFLOW_DATA / NERFLOW_VOCAB)" >&2
        exit 2
    fi
done

# nerflow from this checkout when it is not installed
if ! python -c "import nerflow" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python - <<'EOF'
import importlib.util

import torch
import transformers

print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
for name, needed_by in (("torchcrf", "the CRF cases"), ("accelerate", "the Trainer case"),
                        ("nerflow", "every case")):
    if importlib.util.find_spec(name) is None:
        print(f"warning: {name} is not installed: {needed_by} will be skipped")
EOF

exec timeout --signal=INT --kill-after=20 "${LIMIT_S:-470}" \
    python bench/gpu_bench.py --data "$data/train.json" --dev "$data/dev.json" \
    --vocab "$vocab" "$@"
