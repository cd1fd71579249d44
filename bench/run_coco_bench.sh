#!/usr/bin/env bash
# COCO loading: ours (tailor::data::read_coco) against the bare simdjson pass and the Python peer
# (json.load + pycocotools' createIndex), on the same generated 80 MB file, one after the other.
#
#   bench/run_coco_bench.sh                      # builds build-bench/bin/bench_coco if needed
#   BUILD_DIR=build REPS=6 PY_REPEAT=5 COCO_FILE=/tmp/coco_like.json bench/run_coco_bench.sh
#
# Goals (docs/performance.md): ours >= 0.60 x the bare pass, and >= 10 x the Python peer; the
# exit status is 1 when the wall-time medians miss one. The ratios are also printed from the best
# run and from CPU time, which are steadier when other work shares the machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
reps="${REPS:-6}"
py_repeat="${PY_REPEAT:-5}"
coco_file="${COCO_FILE:-${TMPDIR:-/tmp}/coco_like.json}"
python="${PYTHON:-python3}"
out_dir="$(mktemp -d)"
trap 'rm -rf "$out_dir"' EXIT

if [[ ! -x "$build/bin/bench_coco" ]]; then
  echo "== configuring $build (Release)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAILOR_BUILD_TESTS=OFF -DTAILOR_BUILD_EXAMPLES=OFF \
    -DTAILOR_BUILD_BENCHES=ON -DTAILOR_CUDA=OFF >/dev/null
fi
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
