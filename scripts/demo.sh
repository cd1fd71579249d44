#!/usr/bin/env bash
# The main job: generate the example dataset, create Datasets from it, train a classifier and a
# detector on it under short compute budgets (AutoML picks the backbone and the hyper-parameters),
# evaluate both on the held-out images, and analyze an image neither has seen.
# BUDGET=5m DETECTION_BUDGET=10m scripts/demo.sh trains longer (defaults: 1m and 90s of calibrated
# compute, so that the whole job stays within 3 minutes).
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
$tailor dataset create shapes-detection-test --coco "$data/detection_test.json" --images "$data"
echo
$tailor dataset list
echo
$tailor model train shapes-model --dataset shapes --eval-dataset shapes-test --budget "${BUDGET:-1m}"
echo
# A test image (never seen in training): the first one of the test file.
image=$(grep -o '"file_name": *"[^"]*"' "$data/classification_test.json" | sed -n '1s/.*: *"\(.*\)"/\1/p')
$tailor analyze --model shapes-model "$data/$image"
echo
$tailor analyze --model shapes-model "$data/$image" --json
echo
# The detector: trained on the boxes, evaluated with COCO's numbers, then the objects of a test
# image it never saw, printed and drawn onto a copy of it.
$tailor model train shapes-detector --dataset shapes-detection --eval-dataset shapes-detection-test \
        --budget "${DETECTION_BUDGET:-90s}"
echo
image=$(grep -o '"file_name": *"[^"]*"' "$data/detection_test.json" | sed -n '1s/.*: *"\(.*\)"/\1/p')
$tailor analyze --model shapes-detector "$data/$image" --draw build/demo-objects.jpg
