#!/usr/bin/env bash
# The main job: generate the example dataset, create Datasets from it, and show them.
# (Training and analyze join here as they land.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
tailor=build/bin/tailor
data=build/example-data
export TAILOR_WORKSPACE=build/demo-workspace
rm -rf "$TAILOR_WORKSPACE"
$tailor example-data "$data"
echo
$tailor coco check "$data/detection_train.json"
echo
$tailor dataset create shapes-classification --coco "$data/classification_train.json" --images "$data"
echo
$tailor dataset create shapes-detection --coco "$data/detection_train.json" --images "$data" --verify-images
echo
$tailor dataset list
