#!/usr/bin/env bash
# The main job: generate the example dataset, create Datasets from it, train a classifier on it
# under a short compute budget (AutoML picks the backbone and the hyper-parameters), evaluate it
# on the held-out images, and analyze an image it has never seen.
# BUDGET=5m scripts/demo.sh trains longer (default 2m of calibrated compute).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
tailor=build/bin/tailor
data=build/example-data
export TAILOR_WORKSPACE=build/demo-workspace
rm -rf "$TAILOR_WORKSPACE" "$data"
$tailor example-data "$data" --images-per-class 250
echo
$tailor coco check "$data/detection_train.json"
echo
$tailor dataset create shapes --coco "$data/classification_train.json" --images "$data"
echo
$tailor dataset create shapes-test --coco "$data/classification_test.json" --images "$data"
echo
$tailor dataset create shapes-detection --coco "$data/detection_train.json" --images "$data" --verify-images
echo
$tailor dataset list
echo
$tailor model train shapes-model --dataset shapes --eval-dataset shapes-test --budget "${BUDGET:-2m}"
echo
# A test image (never seen in training): the first one of the test file.
image=$(grep -o '"file_name": *"[^"]*"' "$data/classification_test.json" | sed -n '1s/.*: *"\(.*\)"/\1/p')
$tailor analyze --model shapes-model "$data/$image"
echo
$tailor analyze --model shapes-model "$data/$image" --json
