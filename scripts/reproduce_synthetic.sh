#!/usr/bin/env bash
# Reproduce the offline pipeline on a larger synthetic set, on the CPU (not run in CI):
#   synth (8 sequences x 40 frames, 320x256, seed 0) -> train (tiny model, ATO,
#   config/train/synthetic.yaml) -> evaluate on held-out sequences -> prune (GADP,
#   config/prune/synthetic.yaml) -> evaluate the pruned model -> ONNX export of both
#   (onnxruntime parity checked) -> reports/synthetic/REPORT.md + report.json + fig9.png.
# Sequences 7 and 8 are held out: never seen by training or pruning. With seed 0 every
# instrument type they contain also occurs in the six training sequences (sequences 1 and 3
# hold the only "Other" instruments), so type Dice measures recognition, not a class never
# seen. About 10-15 minutes on 2 CPU cores.
#
# Work files (data, checkpoints, ONNX, logs) go to runs/synthetic/ (git-ignored). A stage
# whose output exists is skipped, so an interrupted run continues where it stopped (training
# with --resume); `FRESH=1` starts over. Environment overrides: RUN_DIR, REPORT_DIR,
# MODEL_CONFIG, TRAIN_CONFIG, PRUNE_CONFIG, SEED, DEVICE, THREADS (torch CPU threads,
# default 1: on cores shared with other jobs, several threads per process spin-wait on each
# other and training ran ~30x slower than with one; 1 also keeps the latencies comparable).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
RUN=${RUN_DIR:-runs/synthetic}
REPORT=${REPORT_DIR:-reports/synthetic}
MODEL_CONFIG=${MODEL_CONFIG:-config/models/tiny.yaml}
TRAIN_CONFIG=${TRAIN_CONFIG:-config/train/synthetic.yaml}
PRUNE_CONFIG=${PRUNE_CONFIG:-config/prune/synthetic.yaml}
SEED=${SEED:-0}
DEVICE=${DEVICE:-cpu}
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1}
HELD_OUT=(7 8)
TRAIN_SEQUENCES=(1 2 3 4 5 6)

log() { printf '[reproduce %(%H:%M:%S)T] %s\n' -1 "$*"; }
cli() { "$PY" -m surg_perception.cli "$@"; }
# stage NAME DONE_FILE COMMAND...: run COMMAND unless DONE_FILE exists; record its wall time
stage() {
  local name=$1 done_file=$2
  shift 2
  if [ -e "$done_file" ]; then
    log "$name: $done_file exists, skipped"
    return
  fi
  log "$name: $*"
  local start=$SECONDS
  "$@"
  echo "$name $((SECONDS - start))" >> "$RUN/stage_seconds.txt"
  log "$name: done in $((SECONDS - start)) s"
}

[ -x "$PY" ] || { echo "no $PY: run 'make env' (bash scripts/setup_env.sh) first" >&2; exit 1; }
if [ "${FRESH:-0}" = 1 ]; then
  rm -rf "$RUN"
fi
mkdir -p "$RUN" "$REPORT"

# --- data: one synthetic set, split into training and held-out roots by symlinks ------------
split_data() {
  rm -rf "$RUN/train_data" "$RUN/test_data"  # symlinks only
  mkdir -p "$RUN/train_data" "$RUN/test_data"
  for k in "${TRAIN_SEQUENCES[@]}"; do
    ln -sfn "../data/instrument_dataset_$k" "$RUN/train_data/instrument_dataset_$k"
  done
  for k in "${HELD_OUT[@]}"; do
    ln -sfn "../data/instrument_dataset_$k" "$RUN/test_data/instrument_dataset_$k"
  done
}
stage synth "$RUN/data/manifest.json" \
  cli synth "$RUN/data" --sequences 8 --frames 40 --size 320 256 --seed "$SEED"
split_data

# --- train (resumes from the last checkpoint of an interrupted run) -------------------------
train() {
  if [ -f "$RUN/train/checkpoints/last.pt" ]; then
    cli train --data "$RUN/train_data" --out "$RUN/train" --device "$DEVICE" --resume
  else
    cli train --model-config "$MODEL_CONFIG" --train-config "$TRAIN_CONFIG" \
      --data "$RUN/train_data" --out "$RUN/train" --device "$DEVICE"
  fi
}
stage train "$RUN/train/model.pt" train
stage evaluate_unpruned "$RUN/eval_unpruned/report.json" \
  cli evaluate "$RUN/train/model.pt" --data "$RUN/test_data" --out "$RUN/eval_unpruned" \
  --device "$DEVICE"

# --- prune (GADP on the training sequences), then score the smaller model -------------------
stage prune "$RUN/prune/prune_report.json" \
  cli prune "$RUN/train/model.pt" --data "$RUN/train_data" --config "$PRUNE_CONFIG" \
  --out "$RUN/prune" --device "$DEVICE"
stage evaluate_pruned "$RUN/eval_pruned/report.json" \
  cli evaluate "$RUN/prune/pruned.pt" --data "$RUN/test_data" --out "$RUN/eval_pruned" \
  --device "$DEVICE"

# --- ONNX export of both, each checked against eager PyTorch with onnxruntime ---------------
mkdir -p "$RUN/export"
export_model() {  # export_model CHECKPOINT NAME: the log keeps the parity line for the report
  cli export "$1" --out "$RUN/export/$2.onnx" --verify-frames 5 | tee "$RUN/export/$2.log.tmp"
  mv "$RUN/export/$2.log.tmp" "$RUN/export/$2.log"  # only a passed check marks the stage done
}
stage export_unpruned "$RUN/export/unpruned.log" export_model "$RUN/train/model.pt" unpruned
stage export_pruned "$RUN/export/pruned.log" export_model "$RUN/prune/pruned.pt" pruned

# --- report ------------------------------------------------------------------------------------
# PYTHONPATH: this checkout's package, as `python -m` from here gives the stages above
PYTHONPATH=$PWD "$PY" scripts/synthetic_report.py --run "$RUN" --out "$REPORT" \
  --configs "$MODEL_CONFIG" "$TRAIN_CONFIG" "$PRUNE_CONFIG"
log "report: $REPORT/REPORT.md"
