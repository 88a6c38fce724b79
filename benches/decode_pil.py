"""PIL + torchvision reference for benches/decode.rs: what a PyTorch DataLoader worker does per
image (open, convert to RGB, Resize((S, S)), ToTensor, Normalize), on one core."""
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

torch.set_num_threads(1)


def rate(files, size, reps=3):
    tf = transforms.Compose([
        transforms.Resize((size, size)),  # squash, like awmt and the paper's cv2 resize
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        s = 0.0
        for f in files:
            with Image.open(f) as im:
                x = tf(im.convert("RGB"))
            s += float(x[0, 0, 0])
        best = max(best, len(files) / (time.perf_counter() - t))
    return best


def main():
    folder, out = Path(sys.argv[1]), sys.argv[2]
    files = sorted(folder.glob("*.jpg"))
    rate(files[:200], 64, 1)  # warm-up
    res = {f"pil_{s}_t1": rate(files, s) for s in (224, 64)}
    res["torch"] = torch.__version__
    import PIL, torchvision
    res["pillow"] = PIL.__version__
    res["torchvision"] = torchvision.__version__
    Path(out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
