"""PyTorch eager reference for crates/awmt-torch/benches/train_step.rs: the same per-iteration work with torchvision's
ResNet (frozen BN, single FC to 40 outputs, no dropout), 10 validation images forward without
gradient, 10 training images forward + backward with the per-task square loss, SGD momentum 0.9,
weight decay 5e-4. Prints one JSON line like the Rust bench.

usage: train_bench.py <resnet18|resnet50|small_cnn> <size> <steps> <threads> [--device=cuda] [--precision=bf16]
                     [--channels-last]
bf16 is autocast (bf16 convolutions and matrix products, fp32 master weights), like awmt's
`precision: bf16`.
"""
import json
import sys
import time

import torch

TASKS, BATCH, WARMUP = 40, 10, 3


def small_cnn():
    """awmt's `small_cnn` (crates/awmt-torch/src/model/small_cnn.rs): four 3x3 conv-BN-ReLU stages of 16, 32, 64, 128
    channels, 2x2 max pooling after the first three, global average pooling, one FC."""
    layers, c_in = [], 3
    for i, w in enumerate([16, 32, 64, 128]):
        layers += [torch.nn.Conv2d(c_in, w, 3, 1, 1, bias=False), torch.nn.BatchNorm2d(w), torch.nn.ReLU(inplace=True)]
        if i < 3:
            layers.append(torch.nn.MaxPool2d(2))
        c_in = w
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(c_in, TASKS)]
    return torch.nn.Sequential(*layers)


def build_net(model_name):
    """small_cnn or torchvision's ResNet with a single FC to TASKS outputs, frozen BN (stored
    statistics, affine parameters not trained): the release configuration."""
    if model_name == "small_cnn":
        net = small_cnn()
    else:
        import torchvision  # only the ResNets need it

        net = getattr(torchvision.models, model_name)(weights=None)
        net.fc = torch.nn.Linear(net.fc.in_features, TASKS)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            m.weight.requires_grad_(False)
            m.bias.requires_grad_(False)
    return net


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = {a.split("=")[0]: (a.split("=") + [""])[1] for a in sys.argv[1:] if a.startswith("--")}
    model_name, size, steps, threads = args[0], int(args[1]), int(args[2]), int(args[3])
    device = torch.device(flags.get("--device", "cpu") or "cpu")
    bf16 = flags.get("--precision") == "bf16"
    channels_last = "--channels-last" in flags
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build_net(model_name).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=5e-4)
    x_train = torch.randn(BATCH, 3, size, size, device=device)
    x_val = torch.randn(BATCH, 3, size, size, device=device)
    if channels_last:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
        x_val = x_val.contiguous(memory_format=torch.channels_last)
    y = torch.tensor([[1.0 if (i + j) % 3 == 0 else -1.0 for j in range(TASKS)] for i in range(2 * BATCH)], device=device)
    y_train, y_val = y[:BATCH], y[BATCH:]
    lam = torch.ones(TASKS, device=device)

    def forward(x):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return net(x).float()

    def step():
        with torch.no_grad():
            v = ((forward(x_val) - y_val) ** 2).sum(0)
            v.tolist()
        out = forward(x_train)
        losses = 0.5 * ((out - y_train) ** 2).sum(0) / BATCH
        losses.tolist()
        (losses * lam).sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=False)

    for _ in range(WARMUP):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": model_name, "size": size, "threads": threads, "steps": steps,
                      "device": device.type, "precision": "bf16" if bf16 else "fp32", "channels_last": channels_last,
                      "seconds": round(secs, 3), "images_per_second": round(steps * 2 * BATCH / secs, 3)}))


if __name__ == "__main__":
    main()
