#!/usr/bin/env python3
"""Draws a stratified few-shot subset of a COCO classification dataset (docs/quality.md).

    bench/few_shot_subset.py ../shared/data/hymenoptera 5 0 /tmp/hym5s0

writes OUT/train.json (PER_TAG images of each tag drawn from DATA/train.json with the seed),
OUT/test.json (DATA/test.json as it is) and OUT/images (a link to DATA/images), the layout that
bench/quality_curve.sh and ../shared/tools/torch_baseline_cls.py read.
"""
import json
import os
import random
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    data, per_tag, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(os.path.join(data, "train.json")) as f:
        train = json.load(f)
    tag_of = {a["image_id"]: a["category_id"] for a in train["annotations"]}
    rng = random.Random(seed)
    chosen = set()
    for c in sorted(c["id"] for c in train["categories"]):
        ids = sorted(i for i, t in tag_of.items() if t == c)
        if len(ids) < per_tag:
            sys.exit(f"tag {c} has {len(ids)} images, fewer than {per_tag}")
        chosen.update(rng.sample(ids, per_tag))
    subset = dict(train)
    subset["images"] = [im for im in train["images"] if im["id"] in chosen]
    subset["annotations"] = [a for a in train["annotations"] if a["image_id"] in chosen]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train.json"), "w") as f:
        json.dump(subset, f)
    with open(os.path.join(data, "test.json")) as src, open(os.path.join(out, "test.json"), "w") as dst:
        dst.write(src.read())
    link = os.path.join(out, "images")
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(os.path.join(data, "images")), link)
    print(f"{out}: {len(subset['images'])} training images ({per_tag} per tag, seed {seed})")


if __name__ == "__main__":
    main()
