"""PyTorch eager reference for awmt's `evaluate` stage (benches/eval_bench.sh): the same prepared
split (the N×H×W×3 uint8 file `prepare` wrote, memory-mapped), normalised with the same per-channel
mean/std, scored in batches of 64 by torchvision's ResNet with one FC to 40 outputs in eval mode
without gradients, fp32, on `threads` CPU threads. Reading the scores back to the host as float64
is counted, as awmt does; writing predictions is not (so the comparison favours PyTorch slightly).
Prints one JSON line.

usage: eval_bench.py <prepared_dir> <split> <threads> [model=resnet50]
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_bench import build_net  # noqa: E402  (same network as the training reference)

BATCH = 64  # src/train/predict.rs


def main():
    prepared, split, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model_name = sys.argv[4] if len(sys.argv) > 4 else "resnet50"
    torch.set_num_threads(threads)
    info = json.load(open(os.path.join(prepared, "prepared.json")))
    h, w, c, n = info["height"], info["width"], info["channels"], info["splits"][split]
    pixels = np.memmap(os.path.join(prepared, f"{split}.u8"), dtype=np.uint8, mode="r", shape=(n, h, w, c))
    mean = torch.tensor(info["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(info["std"], dtype=torch.float32).view(1, 3, 1, 1)
    torch.manual_seed(0)
    net = build_net(model_name).eval()
    start = time.perf_counter()
    scores = []
    with torch.no_grad():
        for lo in range(0, n, BATCH):
            x = torch.from_numpy(np.array(pixels[lo:lo + BATCH])).permute(0, 3, 1, 2).float()
            x = (x / 255.0 - mean) / std
            scores.append(net(x).double().reshape(-1).tolist())
    secs = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": model_name, "size": h, "threads": threads, "images": n,
                      "seconds": round(secs, 3), "images_per_second": round(n / secs, 3)}))


if __name__ == "__main__":
    main()
