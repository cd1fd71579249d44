#!/usr/bin/env python3
"""The PyTorch side of bench/tailor_bench.cpp: the same models, sizes and batches, one SGD step
(momentum 0.9, weight decay 1e-4, cross-entropy) per iteration on random inputs, or inference
under torch.no_grad(), reported in images per second, with the process's peak memory.

  /usr/bin/python3 bench/peers/torch_step.py --case train/resnet18/128/32 [--threads 2] [--seconds 3]
  (Debian's python3-torch 1.13 and python3-torchvision 0.14; --device cuda and --channels-last
  with --amp for the GPU comparison)
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torchvision


def small_cnn(classes=10):
    layers, cin = [], 3
    for cout, stride in [(32, 1), (64, 2), (128, 2), (256, 2)]:
        layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def build(name):
    if name == "resnet18":
        return torchvision.models.resnet18(num_classes=1000), 1000
    if name == "mobilenet_v3_small":
        return torchvision.models.mobilenet_v3_small(num_classes=1000), 1000
    if name == "small_cnn":
        return small_cnn(10), 10
    raise SystemExit(f"unknown model {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, help="train|infer/<model>/<size>/<batch>")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--amp", action="store_true")
    a = ap.parse_args()
    mode, name, size, batch = a.case.split("/")
    size, batch = int(size), int(batch)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, classes = build(name)
    model = model.to(a.device)
    x = torch.randn(batch, 3, size, size, device=a.device)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    y = (torch.arange(batch) % classes).to(a.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(a.device, enabled=a.amp):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        model.eval()
        with torch.no_grad(), torch.autocast(a.device, enabled=a.amp):
            model(x)

    step = train_step if mode == "train" else infer_step
    step()  # warm-up
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    sync()
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= a.seconds and n >= 2:
            break
    print(json.dumps({"case": a.case, "images_per_second": n * batch / elapsed, "iterations": n,
                      "seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
