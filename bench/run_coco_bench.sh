#!/usr/bin/env bash
# COCO benchmarks against their Python peers, on the same generated files, one after the other:
#
#   load: ours (tailor::data::read_coco) against the bare simdjson pass and the Python peer
#         (json.load + pycocotools' createIndex), on an 80 MB COCO-like file;
#   eval: tailor::eval::evaluate_bbox against pycocotools' COCOeval (evaluate + accumulate +
#         summarize) on a val2017-sized case (5,000 images, 36,000 boxes, 500,000 detections), and
#         a check that the 12 numbers are identical, bit for bit.
#
#   bench/run_coco_bench.sh                      # both; builds build-bench/bin/bench_coco* if needed
#   bench/run_coco_bench.sh eval                 # only the evaluation (pycocotools takes minutes)
#   BUILD_DIR=build REPS=6 PY_REPEAT=5 COCO_FILE=/tmp/coco_like.json bench/run_coco_bench.sh load
#   EVAL_CASE=/tmp/coco_eval_case PY_EVAL_REPEAT=1 bench/run_coco_bench.sh eval
#
# Goals (docs/performance.md): loading >= 0.60 x the bare pass and >= 10 x the Python peer;
# evaluate_bbox under 0.5 s (wall median) with the same 12 numbers as pycocotools. The exit status
# is 1 when a goal is missed or a number differs. pycocotools comes from $PYTHON when it has it,
# else from a venv made once in $VENV (default: BUILD_DIR/pycocotools-venv) with pip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
reps="${REPS:-6}"
py_repeat="${PY_REPEAT:-5}"
coco_file="${COCO_FILE:-${TMPDIR:-/tmp}/coco_like.json}"
python="${PYTHON:-python3}"
what="${1:-all}"
case "$what" in
  load | eval | all) ;;
  *) echo "usage: $0 [load|eval|all]" >&2; exit 2 ;;
esac
out_dir="$(mktemp -d)"
trap 'rm -rf "$out_dir"' EXIT
status=0

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  echo "== configuring $build (Release)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAILOR_BUILD_TESTS=OFF -DTAILOR_BUILD_EXAMPLES=OFF \
    -DTAILOR_BUILD_BENCHES=ON -DTAILOR_CUDA=OFF >/dev/null
fi

run_load() {
echo "== building bench_coco in $build"
cmake --build "$build" --target bench_coco >/dev/null

echo "== C++: bench_coco ($reps repetitions, randomly interleaved), writing $coco_file"
"$build/bin/bench_coco" --write-coco="$coco_file" \
  --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out_dir/cpp.json" --benchmark_out_format=json

echo "== Python: bench/peers/pycocotools_load.py ($py_repeat loads)"
"$python" "$root/bench/peers/pycocotools_load.py" "$coco_file" --repeat "$py_repeat" --json >"$out_dir/py.json"

"$python" - "$out_dir/cpp.json" "$out_dir/py.json" <<'PY'
import json, statistics, sys

cpp = json.load(open(sys.argv[1]))
py = json.loads(open(sys.argv[2]).read())
size = int(cpp["context"]["coco_like_bytes"])
scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}

# MB/s (10^6 bytes/s) of each repetition, from wall (real) and CPU time: median and best.
def rates(name, clock):
    runs = [size / (b[clock] / scale[b["time_unit"]]) / 1e6 for b in cpp["benchmarks"]
            if b["run_name"].split("/")[0] == name and b["run_type"] == "iteration"]
    if not runs:
        raise SystemExit(f"no runs of {name} in the benchmark output")
    return {"median": statistics.median(runs), "best": max(runs)}

table = {}
for key, name in [("ours", "BM_coco_load"), ("bare", "BM_simdjson_bare_pass"),
                  ("bare_reused", "BM_simdjson_bare_pass_reused_parser")]:
    table[key] = {"wall": rates(name, "real_time"), "cpu": rates(name, "cpu_time")}
table["python"] = {"wall": {"median": py["median_MBps"], "best": py["best_MBps"]},
                   "cpu": {"median": py["cpu_median_MBps"], "best": py["cpu_best_MBps"]}}

ctx = cpp["context"]
print()
print(f"file: {size} bytes ({size / 1e6:.1f} MB), {py['images']} images, {py['annotations']} annotations")
print(f"machine: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, load average {ctx.get('load_avg')}; "
      f"simdjson stage 1 {ctx.get('simdjson_stage1')}, On-Demand {ctx.get('simdjson_ondemand')}; Python {py['python']}")
print()
print(f"{'MB/s':30} {'wall median':>11} {'wall best':>10} {'cpu median':>11} {'cpu best':>9}")
for key, label in [("ours", "ours: read_coco"), ("bare", "bare simdjson pass"),
                   ("bare_reused", "bare pass, parser reused"), ("python", "python json.load+createIndex")]:
    t = table[key]
    print(f"{label:30} {t['wall']['median']:11.1f} {t['wall']['best']:10.1f} {t['cpu']['median']:11.1f} {t['cpu']['best']:9.1f}")
print()
ok = True
for label, num, den, goal in [("ours / bare pass", "ours", "bare", 0.60), ("ours / python", "ours", "python", 10.0)]:
    r = [table[num][c][s] / table[den][c][s] for c in ("wall", "cpu") for s in ("median", "best")]
    met = r[0] >= goal
    ok &= met
    print(f"{label:30} {r[0]:10.2f}x {r[1]:9.2f}x {r[2]:10.2f}x {r[3]:8.2f}x   goal >= {goal:g}x: "
          f"{'met' if met else 'NOT met'} (wall median)")
sys.exit(0 if ok else 1)
PY
}

# pycocotools for the evaluation peer: $python's own, else a venv made once with pip.
ensure_pycocotools() {
  if "$python" -c "import pycocotools, numpy" 2>/dev/null; then return; fi
  local venv="${VENV:-$build/pycocotools-venv}"
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import pycocotools, numpy" 2>/dev/null; then
    echo "== making a venv with pycocotools in $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet pycocotools numpy
  fi
  python="$venv/bin/python"
}

run_eval() {
  local case_dir="${EVAL_CASE:-${TMPDIR:-/tmp}/coco_eval_case}"
  echo "== building bench_coco_eval in $build"
  cmake --build "$build" --target bench_coco_eval >/dev/null
  ensure_pycocotools

  echo "== C++: bench_coco_eval ($reps repetitions), writing $case_dir"
  "$build/bin/bench_coco_eval" --write-case="$case_dir" --benchmark_filter='BM_evaluate_bbox|BM_detection_report' \
    --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_out="$out_dir/eval_cpp.json" --benchmark_out_format=json

  echo "== Python: bench/peers/pycocotools_eval.py (${PY_EVAL_REPEAT:-1} run(s); minutes each)"
  "$python" "$root/bench/peers/pycocotools_eval.py" "$case_dir/gt.json" "$case_dir/results.json" \
    --repeat "${PY_EVAL_REPEAT:-1}" --json >"$out_dir/eval_py.json"

  python3 - "$out_dir/eval_cpp.json" "$out_dir/eval_py.json" "$case_dir/tailor_stats.json" <<'PY'
import json, statistics, sys

cpp = json.load(open(sys.argv[1]))
py = json.load(open(sys.argv[2]))
ours = json.load(open(sys.argv[3]))
scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}

def seconds(name, clock):
    runs = [b[clock] / scale[b["time_unit"]] for b in cpp["benchmarks"]
            if b["run_name"].split("/")[0] == name and b["run_type"] == "iteration"]
    if not runs:
        raise SystemExit(f"no runs of {name} in the benchmark output")
    return statistics.median(runs), min(runs)

ctx = cpp["context"]
print()
print(f"case: {ours['images']} images, {ours['annotations']} gt boxes ({ours['crowd']} crowd), {ours['detections']} detections")
print(f"machine: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, load average {ctx.get('load_avg')}; "
      f"Python {py['python']}, pycocotools {py['pycocotools']}, numpy {py['numpy']}")
print()
print(f"{'seconds':44} {'wall median':>11} {'wall best':>10} {'cpu median':>11} {'cpu best':>9}")
rows = [("ours: evaluate_bbox", *seconds("BM_evaluate_bbox", "real_time"), *seconds("BM_evaluate_bbox", "cpu_time")),
        ("ours: make_detection_report (3 evaluations)", *seconds("BM_detection_report", "real_time"),
         *seconds("BM_detection_report", "cpu_time")),
        ("pycocotools: evaluate+accumulate+summarize", py["median_s"], py["best_s"], py["cpu_median_s"], py["cpu_best_s"])]
for label, wm, wb, cm, cb in rows:
    print(f"{label:44} {wm:11.3f} {wb:10.3f} {cm:11.3f} {cb:9.3f}")
ours_wall, _ = seconds("BM_evaluate_bbox", "real_time")
ours_cpu, _ = seconds("BM_evaluate_bbox", "cpu_time")
print(f"{'pycocotools / ours':44} {py['median_s'] / ours_wall:10.0f}x {'':10} {py['cpu_median_s'] / ours_cpu:10.0f}x")
print()
names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]
same = True
print(f"{'stat':10} {'tailor':>22} {'pycocotools':>22}")
for name, a, b in zip(names, ours["stats"], py["stats"]):
    same &= a == b  # both parsed from round-trip text: equal doubles
    print(f"{name:10} {a!r:>22} {b!r:>22}{'' if a == b else '   DIFFERENT'}")
print()
met = ours_wall < 0.5
print(f"12 stats identical: {'yes' if same else 'NO'}")
print(f"evaluate_bbox wall median {ours_wall:.3f} s, goal < 0.5 s: {'met' if met else 'NOT met'}")
sys.exit(0 if same and met else 1)
PY
}

if [[ "$what" == load || "$what" == all ]]; then run_load || status=1; fi
if [[ "$what" == eval || "$what" == all ]]; then run_eval || status=1; fi
exit "$status"
