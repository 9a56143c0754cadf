#!/usr/bin/env bash
# Issue 23: the GPU path, checked in one call on a lent GPU machine (at most ~8 minutes).
# Everything lands under one folder (OUT, default results/gpu_check; on the device tool
# give OUT=$OUT) that is useful even when the time limit cuts a part:
#
#   1. tests.log     the GPU-marked tests (pytest -m gpu): every head and encoder kind
#                    trains and predicts on the device in fp32, bf16 and fp16 autocast;
#   2. dag_tiny/     the workflow on the tiny fixtures through
#                    `snakemake --cores 8 --resources gpu=1` (GPU jobs one at a time);
#   3. dag_cluener/  the same on CLUENER with a BERT-base-shaped random-init encoder for a
#                    few minutes of training (skipped with --tiny): peak GPU memory in its
#                    train_summary.json, the text check's mismatches;
#   4. gpu.json      bench/gpu.sh (fine-tuning against Trainer, inference against the
#                    pipeline and the forward pass);
#   summary.txt      what each part gave, and how long it took.
#
#   bash bench/gpu_check.sh                   # on the GPU machine
#   bash bench/gpu_check.sh --tiny --device cpu   # the same path on a CPU (the proof run)
#
# PART_S (default 150) bounds the tests and each DAG; LIMIT_S (default 170) bounds gpu.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

tiny=0
device=cuda
for arg in "$@"; do
    case "$arg" in
        --tiny) tiny=1 ;;
        --device) ;;
        cpu|cuda) device="$arg" ;;
        *) echo "gpu_check.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
out="$(mkdir -p "${OUT:-results/gpu_check}" && cd "${OUT:-results/gpu_check}" && pwd)"
part_s="${PART_S:-150}"
data="${NERFLOW_DATA:-../shared/data/cluener}"
if ! python -c "import nerflow" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
timed() {  # timed NAME LOG COMMAND...: run with the part's time limit into LOG, note its status
    local name="$1" log="$2" start=$SECONDS status
    shift 2
    timeout --signal=INT --kill-after=15 "$part_s" "$@" >"$log" 2>&1
    status=$?
    note "$name: exit $status after $((SECONDS - start)) s"
}

note "device: $device; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$summary"

# 1. the GPU-marked tests (on a CPU: their fp32 cases)
NERFLOW_TEST_DEVICE="$device" timed tests "$out/tests.log" \
    python -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
tail -n 1 "$out/tests.log" | tee -a "$summary"

# 2 and 3. the workflow through its GPU pool
run_dag() {  # run_dag NAME DATA_DIR EXPERIMENT_YAML
    local work="$out/$1"
    mkdir -p "$work"
    cat >"$work/config.yaml" <<EOF
data:
  train: $2/train.json
  dev: $2/dev.json
  test: $2/test.json
experiments:
$3
run_experiments: [gpu]
EOF
    # targets first: --configfile and --resources take several values
    timed "dag $1" "$work/snakemake.log" python -m snakemake \
        results/gpu/dev_scores.json results/gpu/textcheck/dev.json \
        --snakefile "$PWD/Snakefile" --directory "$work" \
        --configfile "$work/config.yaml" --cores 8 --resources gpu=1
    python - "$work" <<'EOF' | tee -a "$summary"
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
for name in ("results/gpu/train_summary.json", "results/gpu/dev_scores.json", "results/gpu/textcheck/dev.json"):
    path = work / name
    if not path.exists():
        print(f"  {name}: missing")
        continue
    data = json.loads(path.read_text())
    if "micro" in data:
        data["micro_f1"] = round(data["micro"]["f1"], 4)
    keys = ("device", "amp", "peak_gpu_mib", "steps", "sentences_per_s", "stop_reason",
            "micro_f1", "mismatched_lines")
    print(f"  {name}: " + ", ".join(f"{k}={data[k]}" for k in keys if k in data))
EOF
}
tiny_bert='  gpu: {encoder: scratch, scratch: {layers: 1, hidden: 32, heads: 2, intermediate: 64}, head: crf, max_len: 64, train: {epochs: 2, batch_size: 8, lr: 5.0e-3, head_lr: 5.0e-2}}'
run_dag dag_tiny "$PWD/tests/fixtures/tiny" "$tiny_bert"
if [[ $tiny == 0 ]]; then
    base='  gpu: {encoder: scratch, scratch: {layers: 12, hidden: 768, heads: 12, intermediate: 3072}, head: crf, max_len: 128, train: {epochs: 1, batch_size: 32, lr: 1.0e-4, head_lr: 1.0e-3, max_minutes: 2.5}}'
    run_dag dag_cluener "$(cd "$data" && pwd)" "$base"
fi

# 4. the speed table
if [[ $tiny == 1 ]]; then
    LIMIT_S="${LIMIT_S:-170}" bash bench/gpu.sh --tiny --device "$device" --threads 2 \
        --json-out "$out/gpu.json" --work "$out/gpu_work" >"$out/gpu.log" 2>&1
else
    LIMIT_S="${LIMIT_S:-170}" bash bench/gpu.sh --json-out "$out/gpu.json" \
        --work "$out/gpu_work" >"$out/gpu.log" 2>&1
fi
note "gpu.sh: exit $? ($(tail -n 1 "$out/gpu.log"))"
