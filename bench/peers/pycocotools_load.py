#!/usr/bin/env python3
"""The Python peer of bench_coco: what pycocotools' COCO(annotation_file) does, timed.

COCO.__init__ is json.load of the file followed by createIndex(): the anns / imgs / cats dicts
and the imgToAnns / catToImgs defaultdicts. That logic is written out here (same order, same
containers) so that pycocotools itself is not needed; --pycocotools times the real
pycocotools.coco.COCO instead, when it is installed, as a cross-check.

    python3 bench/peers/pycocotools_load.py /tmp/coco_like.json --repeat 5
    python3 bench/peers/pycocotools_load.py /tmp/coco_like.json --json   # one line for scripts

Prints MB/s (10^6 bytes per second of wall time, like bench_coco's bytes/s) for the best and the
median of the repetitions, plus the process CPU time of the same loads (steadier on a shared
machine).
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import defaultdict


def coco_load(path):
    """json.load + createIndex, as pycocotools.coco.COCO(path) does it (without its prints)."""
    with open(path, "r") as f:
        dataset = json.load(f)
    assert type(dataset) == dict, "annotation file format {} not supported".format(type(dataset))

    anns, cats, imgs = {}, {}, {}
    img_to_anns, cat_to_imgs = defaultdict(list), defaultdict(list)
    if "annotations" in dataset:
        for ann in dataset["annotations"]:
            img_to_anns[ann["image_id"]].append(ann)
            anns[ann["id"]] = ann
    if "images" in dataset:
        for img in dataset["images"]:
            imgs[img["id"]] = img
    if "categories" in dataset:
        for cat in dataset["categories"]:
            cats[cat["id"]] = cat
    if "annotations" in dataset and "categories" in dataset:
        for ann in dataset["annotations"]:
            cat_to_imgs[ann["category_id"]].append(ann["image_id"])
    return dataset, anns, cats, imgs, img_to_anns, cat_to_imgs


def pycocotools_load(path):
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints timings
        return COCO(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="COCO JSON file (e.g. from bench_coco --write-coco=PATH)")
    parser.add_argument("--repeat", type=int, default=5, help="timed loads (default 5)")
    parser.add_argument("--pycocotools", action="store_true", help="time pycocotools.coco.COCO itself")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    load = pycocotools_load if args.pycocotools else coco_load
    size = os.path.getsize(args.file)
    walls, cpus = [], []
    counts = None
    for _ in range(args.repeat):
        gc.collect()  # start each load from the same heap state; the load itself runs with gc on, as in pycocotools
        w0, c0 = time.perf_counter(), time.process_time()
        result = load(args.file)
        w1, c1 = time.perf_counter(), time.process_time()
        walls.append(w1 - w0)
        cpus.append(c1 - c0)
        if counts is None:
            if args.pycocotools:
                counts = (len(result.imgs), len(result.anns), len(result.cats))
            else:
                counts = (len(result[3]), len(result[1]), len(result[2]))
        del result

    mb = size / 1e6
    out = {
        "peer": "pycocotools.coco.COCO" if args.pycocotools else "json.load+createIndex",
        "python": sys.version.split()[0],
        "file_bytes": size,
        "images": counts[0],
        "annotations": counts[1],
        "categories": counts[2],
        "repeat": args.repeat,
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "best_MBps": mb / min(walls),
        "median_MBps": mb / statistics.median(walls),
        "cpu_best_MBps": mb / min(cpus),
        "cpu_median_MBps": mb / statistics.median(cpus),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['peer']} (Python {out['python']}) on {args.file}: {size} bytes, {counts[0]} images, "
          f"{counts[1]} annotations, {counts[2]} categories")
    print(f"  wall: best {out['best_s']:.3f} s = {out['best_MBps']:.1f} MB/s, "
          f"median {out['median_s']:.3f} s = {out['median_MBps']:.1f} MB/s  ({args.repeat} loads)")
    print(f"  cpu:  best {out['cpu_best_MBps']:.1f} MB/s, median {out['cpu_median_MBps']:.1f} MB/s")


if __name__ == "__main__":
    main()
