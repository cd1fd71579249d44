#!/usr/bin/env bash
# The engine against PyTorch, like for like (issue "CPU training engine", docs/performance.md):
# each case runs in its own process, tailor (build/bin/tailor_bench) then PyTorch
# (bench/peers/torch_step.py with Debian's python3-torch), alternating, and the table gives images
# per second, the ratio, and each process's peak resident memory.
#
#   bench/run_train_bench.sh                       # builds build-bench/bin/tailor_bench if needed
#   BUILD_DIR=build SECONDS_PER_CASE=5 THREADS=2 bench/run_train_bench.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
seconds="${SECONDS_PER_CASE:-5}"
threads="${THREADS:-2}"
python="${PYTHON:-/usr/bin/python3}"
cases=(train/resnet18/128/32 infer/resnet18/128/32 train/mobilenet_v3_small/224/32 infer/mobilenet_v3_small/224/32
       train/small_cnn/64/64 infer/small_cnn/64/64)

if [[ ! -x "$build/bin/tailor_bench" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAILOR_BUILD_TESTS=OFF -DTAILOR_BUILD_EXAMPLES=OFF \
    -DTAILOR_BUILD_BENCHES=ON -DTAILOR_CUDA=OFF >/dev/null
fi
cmake --build "$build" --target tailor_bench >/dev/null

peak_mb() { awk '/Maximum resident set size/ {printf "%.0f", $6 / 1024}' "$1"; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

printf '| case | tailor img/s | PyTorch img/s | ratio | tailor peak MB | PyTorch peak MB |\n|---|---|---|---|---|---|\n'
for c in "${cases[@]}"; do
  IFS=/ read -r mode model size batch <<<"$c"
  bm="BM_$([[ $mode == train ]] && echo train_step || echo infer)/$model/$size/$batch"
  TAILOR_BENCH_THREADS="$threads" /usr/bin/time -v "$build/bin/tailor_bench" --benchmark_filter="^$bm/" \
    --benchmark_min_time="$seconds" --benchmark_format=json >"$out/t.json" 2>"$out/t.time"
  ours=$("$python" -c "import json,sys; b=json.load(open('$out/t.json'))['benchmarks'][0]; print(f\"{b['items_per_second']:.2f}\")")
  /usr/bin/time -v "$python" "$root/bench/peers/torch_step.py" --case "$c" --threads "$threads" --seconds "$seconds" \
    >"$out/p.json" 2>"$out/p.time"
  theirs=$("$python" -c "import json; print(f\"{json.load(open('$out/p.json'))['images_per_second']:.2f}\")")
  ratio=$("$python" -c "print(f'{$ours / $theirs:.2f}')")
  printf '| %s | %s | %s | %sx | %s | %s |\n' "$c" "$ours" "$theirs" "$ratio" "$(peak_mb "$out/t.time")" "$(peak_mb "$out/p.time")"
done
