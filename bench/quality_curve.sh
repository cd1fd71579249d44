#!/usr/bin/env bash
# What a budget buys (docs/quality.md): for each budget, AutoML (`tailor model train`) and the
# fixed default recipe trained for the same compute (`--defaults-only`), from scratch, on a COCO
# dataset with a train.json and a test.json; a table of the compute charged, the recipe chosen,
# validation and test accuracy (a detection dataset: validation mAP, test AP and AP50).
#
#   bench/quality_curve.sh ../shared/data/sign_digits 1m 2m 5m 10m
#   PARALLEL=8 bench/quality_curve.sh DATA 1m 2m 5m 10m   # 8 runs at a time, 2 cores each (taskset)
#   KINDS=automl bench/quality_curve.sh ../shared/data/raccoon 5m 10m 20m   # AutoML only
#   TRAIN_JSON=d/detection_train.json TEST_JSON=d/detection_test.json IMAGES=d bench/quality_curve.sh d 5m
#
#   KINDS="automl peer" SEED=1 bench/quality_curve.sh ../shared/data/hymenoptera 1m 2m 5m 10m
#
# TAILOR (default build/bin/tailor), WORKSPACE (default build/quality-workspace), SEED (0),
# KINDS ("automl default"; "peer" adds the PyTorch recipe, ../shared/tools/torch_baseline_cls.py,
# trained for the budget's seconds with its cosine schedule over them, at PEER_SIZE px, default 128,
# or PEER_MODEL), TRAIN_JSON / TEST_JSON / IMAGES (default DATA/train.json, DATA/test.json, DATA/images).
# The peer's seconds are its training seconds (its decoding is outside); tailor's charge counts its
# decoding. Pass --calibration-factor 1 in TAILOR_FLAGS to make a budget second a busy second here.
#
# The same compute: for each budget the kinds run one after the other, and every run after the
# first is given the first one's calibration factor (--calibration-factor), so that the pair is
# charged at one factor and differs only in what it does with the budget. SAME_FACTOR=0 lets
# each run measure the machine itself (two runs in a row measured factors up to 13% apart).
set -euo pipefail
data=$(cd "${1:?usage: bench/quality_curve.sh DATA_DIR BUDGET...}" && pwd); shift
budgets=("$@")
[[ ${#budgets[@]} -gt 0 ]] || budgets=(1m 2m 5m 10m)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tailor=$(realpath "${TAILOR:-$root/build/bin/tailor}")
export TAILOR_WORKSPACE=${WORKSPACE:-$root/build/quality-workspace}
parallel=${PARALLEL:-1}
rm -rf "$TAILOR_WORKSPACE"
"$tailor" dataset create train --coco "${TRAIN_JSON:-$data/train.json}" --images "${IMAGES:-$data/images}" >/dev/null
"$tailor" dataset create test --coco "${TEST_JSON:-$data/test.json}" --images "${IMAGES:-$data/images}" >/dev/null

# The peer reads DATA/train.json, DATA/test.json and DATA/images: a folder of links when those are elsewhere.
peer=${PEER:-$root/../shared/tools/torch_baseline_cls.py}
peer_data=$data peer_links=
if [[ -n ${TRAIN_JSON:-}${TEST_JSON:-}${IMAGES:-} ]]; then
  peer_data=$(mktemp -d) peer_links=$peer_data
  ln -s "$(realpath "${TRAIN_JSON:-$data/train.json}")" "$peer_data/train.json"
  ln -s "$(realpath "${TEST_JSON:-$data/test.json}")" "$peer_data/test.json"
  ln -s "$(realpath "${IMAGES:-$data/images}")" "$peer_data/images"
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs" $peer_links' EXIT
runs=()
for b in "${budgets[@]}"; do for kind in ${KINDS:-automl default}; do runs+=("$kind-$b"); done; done
# One budget's runs, in the order of KINDS; the first measures the machine.
train_budget() {
  local budget=$1 pin=() threads=() factor=()
  if (( parallel > 1 )); then pin=(taskset -c "$((2 * $2)),$((2 * $2 + 1))"); threads=(--threads 2); fi
  for kind in ${KINDS:-automl default}; do
    local name=$kind-$budget flags=() start
    [[ $kind == default ]] && flags=(--defaults-only)
    start=$(date +%s)
    if [[ $kind == peer ]]; then
      local minutes
      minutes=$(python3 -c 'import re, sys; n, u = re.fullmatch(r"([0-9.]+)([smh]?)", sys.argv[1]).groups(); print(float(n) * {"s": 1 / 60, "m": 1, "h": 60, "": 1 / 60}[u])' "$budget")
      "${pin[@]}" /usr/bin/python3 "$peer" --data "$peer_data" --size "${PEER_SIZE:-128}" --model "${PEER_MODEL:-mobilenet_v3_small}" \
        --budgets "$minutes" --schedule-min "$minutes" --seeds "${SEED:-0}" --threads "${threads[1]:-$(nproc)}" \
        --out "$logs/$name.jsonl" > "$logs/$name.log" 2>&1 || true
    else
      # shellcheck disable=SC2086
      "${pin[@]}" "$tailor" "${threads[@]}" model train "$name" --dataset train --eval-dataset test --budget "$budget" \
        --seed "${SEED:-0}" "${flags[@]}" "${factor[@]}" ${TAILOR_FLAGS:-} > "$logs/$name.log" 2>&1 || true
    fi
    echo $(( $(date +%s) - start )) > "$logs/$name.wall"
    [[ $kind == peer ]] && continue  # the peer has no calibration factor to hand on
    if [[ ${SAME_FACTOR:-1} == 1 && ${#factor[@]} == 0 ]]; then
      local measured
      measured=$("$tailor" --json model show "$name" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["calibration"]["factor"])' 2>/dev/null) || true
      [[ -n $measured ]] && factor=(--calibration-factor "$measured")
    fi
  done
}
slot=0
for b in "${budgets[@]}"; do
  train_budget "$b" "$slot" &
  slot=$(( (slot + 1) % parallel ))
  (( slot == 0 )) && wait
done
wait

cat > "$logs/row.py" <<'PY'
import json, sys
m = json.load(sys.stdin)
kind, budget = sys.argv[1].split("-", 1)
wall = sys.argv[2]
if m.get("status") != "succeeded":
    code = (m.get("failure") or {}).get("code", "")
    print(f"| {budget} | {kind} | - | {m.get('cost_seconds', 0):.0f}s | {wall}s | - | {m.get('status')} {code} | - | - |")
    sys.exit()
tests = {e["name"]: e["metrics"] for e in m.get("evaluations", [])}
metrics = tests.get("eval", {})
if m.get("task") == "detection":  # test AP (AP50)
    test_text = f"{metrics.get('AP', float('nan')):.4f} ({metrics.get('AP50', float('nan')):.4f})"
else:
    test_text = f"{metrics.get('accuracy_top1', float('nan')):.4f}"
done = sum(1 for t in m["trials"] if t["outcome"] == "completed")
a, v = m["architecture"], m["validation"]
chosen = a["configuration"] + (", retrained on all" if a["retrained_on_all"] else "")
c = m["calibration"]
factor = f"{c['factor']:.3f} ({c['rounds']} rounds)" if c.get("rounds", 0) > 0 else f"{c['factor']:.3f} (given)"
print(f"| {budget} | {kind} | {factor} | {m['cost_seconds']:.0f}s | {wall}s | {done} / {len(m['trials'])} | {chosen} | "
      f"{v['score']:.4f} | **{test_text}** |")
PY
printf '| budget | run | calibration factor | charged | wall | trials (completed / all) | chosen | validation | **test accuracy, or AP (AP50)** |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for name in "${runs[@]}"; do
  if [[ $name == peer-* ]]; then
    python3 - "$logs/$name.jsonl" "$name" "$(cat "$logs/$name.wall")" <<'PY'
import json, sys
budget, wall = sys.argv[2].split("-", 1)[1], sys.argv[3]
try:
    r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
except (OSError, IndexError, ValueError):
    print(f"| {budget} | peer | - | - | {wall}s | - | failed (see its log) | - | - |")
    sys.exit()
recipe = f"{r['model']} {r['size']}px adamw lr={r['lr']} wd={r['wd']} batch={r['batch']} {r['epochs']:.0f} epochs"
print(f"| {budget} | peer | - | {r['train_s']:.0f}s (training) | {wall}s | 1 / 1 | {recipe} | - | **{r['test_acc']:.4f}** |")
PY
    continue
  fi
  "$tailor" --json model show "$name" | python3 "$logs/row.py" "$name" "$(cat "$logs/$name.wall")"
done
