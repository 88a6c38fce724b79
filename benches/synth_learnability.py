"""Learnability check of the procedural faces: trains a 4-layer CNN (PyTorch, one thread, Adam,
soft-margin loss on the ±1 labels) on a `prepare` stage output at 64x64 and prints per-attribute
test accuracy next to the majority baseline, as a Markdown table.

    .bench-venv/bin/python benches/synth_learnability.py PREPARE_DIR ITERATIONS
"""
import csv, json, sys, time
import numpy as np, torch, torch.nn as nn
torch.manual_seed(0); torch.set_num_threads(1)
d = sys.argv[1]
info = json.load(open(f"{d}/prepared.json")); H, W = info["height"], info["width"]
def load(split):
    x = np.fromfile(f"{d}/{split}.u8", dtype=np.uint8).reshape(-1, H, W, 3)
    rows = list(csv.reader(open(f"{d}/{split}.csv")))
    names = rows[0][2:]; y = np.array([[int(v) for v in r[2:]] for r in rows[1:]], dtype=np.float32)
    x = torch.tensor(x).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(info["mean"]).view(1, 3, 1, 1); s = torch.tensor(info["std"]).view(1, 3, 1, 1)
    return (x - m) / s, torch.tensor(y), names
xtr, ytr, names = load("train"); xte, yte, _ = load("test")
net = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                    nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(), nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 40))
opt = torch.optim.Adam(net.parameters(), 2e-3)
iters = int(sys.argv[2]); t = time.time()
for it in range(iters):
    idx = torch.randint(0, len(xtr), (32,))
    loss = nn.functional.soft_margin_loss(net(xtr[idx]), ytr[idx])
    opt.zero_grad(); loss.backward(); opt.step()
with torch.no_grad():
    pred = torch.sign(net(xte))
acc = (pred == yte).float().mean(0).numpy(); maj = np.maximum((yte > 0).float().mean(0).numpy(), (yte < 0).float().mean(0).numpy())
print(f"{iters} iterations, batch 32, {time.time()-t:.0f}s; train {len(xtr)} test {len(xte)}")
print("| attribute | test accuracy | majority baseline | gain |")
print("|---|---:|---:|---:|")
for i in np.argsort(-(acc - maj)):
    print(f"| {names[i]} | {acc[i]*100:.1f} | {maj[i]*100:.1f} | {100*(acc[i]-maj[i]):+.1f} |")
print(f"| **mean** | {acc.mean()*100:.1f} | {maj.mean()*100:.1f} | {100*(acc.mean()-maj.mean()):+.1f} |")
