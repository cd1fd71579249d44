#!/usr/bin/env python3
"""The Python peer of bench_coco_eval: pycocotools' COCOeval (bbox) on the same files, timed.

    bench_coco_eval --write-case=/tmp/coco_eval_case --benchmark_filter=none
    python3 bench/peers/pycocotools_eval.py /tmp/coco_eval_case/gt.json /tmp/coco_eval_case/results.json
    python3 bench/peers/pycocotools_eval.py GT RESULTS --repeat 3 --json   # one JSON line for scripts

Times what BM_evaluate_bbox times, evaluate() + accumulate() + summarize(), on COCO(GT) and
COCO.loadRes(RESULTS) made beforehand (their load time is printed apart). Prints the seconds
(best and median of the repetitions, wall and process CPU time) and the 12 stats as repr() of the
doubles, so that they can be compared bit for bit with tailor's.
"""
import argparse
import contextlib
import importlib.metadata
import io
import json
import statistics
import sys
import time

STAT_NAMES = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gt", help="COCO ground-truth file")
    parser.add_argument("results", help="COCO results file [{image_id, category_id, bbox, score}, ...]")
    parser.add_argument("--repeat", type=int, default=1, help="timed evaluations (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    import numpy
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    quiet = contextlib.redirect_stdout(io.StringIO())  # pycocotools prints progress and timings
    t0 = time.perf_counter()
    with quiet:
        gt = COCO(args.gt)
        dt = gt.loadRes(args.results)
    load_s = time.perf_counter() - t0

    walls, cpus, stats = [], [], None
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            e = COCOeval(gt, dt, "bbox")
            e.evaluate()
            e.accumulate()
            e.summarize()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        stats = [float(s) for s in e.stats]

    out = {
        "peer": "pycocotools COCOeval",
        "pycocotools": importlib.metadata.version("pycocotools"),
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "images": len(gt.imgs),
        "annotations": len(gt.anns),
        "detections": len(dt.anns),
        "load_s": load_s,
        "repeat": args.repeat,
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "cpu_best_s": min(cpus),
        "cpu_median_s": statistics.median(cpus),
        "stats": stats,
    }
    if args.json:
        print(json.dumps(out))  # json writes floats with repr(): exact
        return
    print(f"pycocotools COCOeval (Python {out['python']}, numpy {out['numpy']}): {out['images']} images, "
          f"{out['annotations']} gt boxes, {out['detections']} detections (loading took {load_s:.2f} s)")
    print(f"  evaluate+accumulate+summarize: wall best {out['best_s']:.2f} s, median {out['median_s']:.2f} s; "
          f"cpu best {out['cpu_best_s']:.2f} s  ({args.repeat} runs)")
    for name, value in zip(STAT_NAMES, stats):
        print(f"  {name:10} {value!r}")


if __name__ == "__main__":
    main()
