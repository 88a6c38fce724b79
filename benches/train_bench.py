"""PyTorch eager reference for benches/train_step.rs: the same per-iteration work with torchvision's
ResNet (frozen BN, single FC to 40 outputs, no dropout), 10 validation images forward without
gradient, 10 training images forward + backward with the per-task square loss, SGD momentum 0.9,
weight decay 5e-4. Prints one JSON line like the Rust bench.

usage: train_bench.py <resnet18|resnet50> <size> <steps> <threads>
"""
import json
import sys
import time

import torch
import torchvision

TASKS, BATCH, WARMUP = 40, 10, 3


def main():
    model_name, size, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = getattr(torchvision.models, model_name)(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, TASKS)
    # Frozen BN: stored statistics, affine parameters not trained.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            m.weight.requires_grad_(False)
            m.bias.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=5e-4)
    x_train = torch.randn(BATCH, 3, size, size)
    x_val = torch.randn(BATCH, 3, size, size)
    y = torch.tensor([[1.0 if (i + j) % 3 == 0 else -1.0 for j in range(TASKS)] for i in range(2 * BATCH)])
    y_train, y_val = y[:BATCH], y[BATCH:]
    lam = torch.ones(TASKS)

    def step():
        with torch.no_grad():
            v = ((net(x_val) - y_val) ** 2).sum(0)
            v.tolist()
        out = net(x_train)
        losses = 0.5 * ((out - y_train) ** 2).sum(0) / BATCH
        losses.tolist()
        (losses * lam).sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=False)

    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": model_name, "size": size, "threads": threads, "steps": steps,
                      "seconds": round(secs, 3), "images_per_second": round(steps * 2 * BATCH / secs, 3)}))


if __name__ == "__main__":
    main()
