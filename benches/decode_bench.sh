#!/usr/bin/env bash
# Decode benchmark: awmt (zune-jpeg + awmt's resampler + normalise) vs PIL + torchvision on the
# same 178x218 JPEGs (rendered by awmt's synth), at 224x224 and 64x64, 1 and 2 threads, plus synth
# throughput. Prints a Markdown table with ratios.
#   benches/decode_bench.sh [IMAGES]     (default 2000)
# Needs LIBTORCH set as for any cargo command; creates its reference venv
# (bench-only venv .bench-venv-torch: pillow, torch, torchvision) with pip on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Shared with benches/train_bench.sh (torch + torchvision + Pillow); .bench-venv holds DVC/Snakemake.
VENV=.bench-venv-torch
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import PIL, torch, torchvision' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pillow "torch==2.11.0" torchvision==0.26.0
fi

cargo bench --bench decode -- --images "$N" --dir "$WORK" --json "$WORK/awmt.json" >/dev/null
"$VENV/bin/python" benches/decode_pil.py "$WORK/faces" "$WORK/pil.json" >/dev/null

python3 - "$WORK/awmt.json" "$WORK/pil.json" "$(nproc)" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
print(f"{a['jpeg_files']} JPEGs, 178x218, mean {a['jpeg_mean_bytes']} bytes; machine: {sys.argv[3]} cores; "
      f"reference: Pillow {p['pillow']}, torch {p['torch']}, torchvision {p['torchvision']}\n")
print("| pipeline (decode + resize + normalise) | images/s (wall) | ratio vs PIL+torchvision (1 core) | images per CPU-second |")
print("|---|---:|---:|---:|")
for s in (224, 64):
    ref = p[f"pil_{s}_t1"]
    print(f"| PIL + torchvision, {s}x{s}, 1 core | {ref:,.0f} | 1.00 | |")
    for key, label in (("awmt", "awmt, decoder: zune (default)"), ("awmt_turbo", "awmt, decoder: libjpeg-turbo")):
        if f"{key}_{s}_t1" not in a:
            continue
        for t in (1, 2):
            v = a[f"{key}_{s}_t{t}"]
            c = a[f"{key}_{s}_t{t}_per_cpu_second"]
            print(f"| {label}, {s}x{s}, {t} thread{'s' if t > 1 else ''} | {v:,.0f} | {v / ref:.2f} | {c:,.0f} |")
        print(f"| {label}, {s}x{s}: scaling 1 -> 2 threads | {a[f'{key}_{s}_t2'] / a[f'{key}_{s}_t1']:.2f}x | | |")
    v = a[f"awmt_prepared_{s}_t1"]
    print(f"| awmt, {s}x{s}, later epochs: prepared uint8 -> normalised floats, 1 thread | {v:,.0f} | {v / ref:.1f} | |")
print(f"| awmt read + JPEG decode only (zune, no resize), 1 thread | {a['awmt_decode_only_t1']:,.0f} | | |")
print(f"\nlibjpeg-turbo: {a['libjpeg_turbo']}")
print(f"\nload average during the run (other processes share these cores): {open('/proc/loadavg').read().split()[:3]}")
print("\n| synth (render + JPEG encode + write) | images/s, 1 thread | 2 threads |")
print("|---|---:|---:|")
for k, label in (("synth_faces_178x218", "faces 178x218"), ("synth_pedestrians_64x128", "pedestrians 64x128")):
    print(f"| {label} | {a[k + '_t1']:,.0f} | {a[k + '_t2']:,.0f} |")
PY
