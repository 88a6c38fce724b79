#!/usr/bin/env bash
# The paper-scale rehearsal (issue 15): pipelines/celeba_full.yaml, unchanged, on a full-size
# procedural CelebA, with `--set` overrides only for what a CPU cannot do.
#
#   benches/celeba_scale.sh                     202,599 faces (the real release's size); ~2 h on 2 cores
#   SCALE_IMAGES=4000 benches/celeba_scale.sh   a small end-to-end check (minutes)
#
# Knobs: SCALE_IMAGES (default 202599), SCALE_ITERS (iterations per training, default 2),
# SCALE_PRETRAIN_ITERS (default 20), SCALE_WORK (keep everything there instead of a temporary
# folder), AWMT (a built front end; else `make build`), SCALE_UNTIL (stop after this phase:
# render, split or prepared, to re-time the data path alone in minutes; default: everything).
#
# 1. Renders SCALE_IMAGES faces with the `synth` stage in the official aligned-and-cropped layout
#    (img_align_celeba/000001.jpg …, 178×218, list_attr_celeba.txt in the official format,
#    list_eval_partition.txt, identity_CelebA.txt); at the full size, the real
#    list_eval_partition.txt and identity_CelebA.txt from ../shared/data/real/celeba replace the
#    rendered ones when present (162,770 / 19,867 / 19,962 images).
# 2. Makes the pretrained file: a `strided_cnn` (small_cnn behind a stride-4 stem, ~0.1 GFLOP at
#    224×224) trained briefly with BN learning its statistics, by a pipeline whose split and
#    prepare stages are celeba_full's own (same keys: they run once, here, and are timed here).
# 3. Runs celeba_full.yaml stage group by stage group with
#      --set vars.weights=<that model>  --set stages.basic.with.model=strided_cnn
#      --set +stages.basic.with.iterations=$SCALE_ITERS
#    (awmt and the 40 separate models extend basic), evaluation of all 42 models on the whole test
#    split, Table 1, figures and report; then a no-op rerun of the whole pipeline.
# Prints each phase's wall time as it goes, and at the end a table per phase (wall, CPU, peak RSS
# of the largest process, bytes added to the cache) and per stage (wall, from `run --json`).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
N=${SCALE_IMAGES:-202599}
ITERS=${SCALE_ITERS:-2}
PRE_ITERS=${SCALE_PRETRAIN_ITERS:-20}
UNTIL=${SCALE_UNTIL:-}
case "$UNTIL" in
    "" | render | split | prepared) ;;
    *) echo "SCALE_UNTIL=$UNTIL: expected render, split or prepared (unset: the whole rehearsal)" >&2; exit 2 ;;
esac
if [ -z "${AWMT:-}" ]; then
    make -s build >&2
    AWMT=$REPO/target/release/awmt
fi
if [ -n "${SCALE_WORK:-}" ]; then
    WORK=$SCALE_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
cd "$WORK"
export AWMT_DATA=$WORK/data AWMT_CACHE=$WORK/cache
REAL=$REPO/../shared/data/real/celeba
PHASES=$WORK/phases.tsv
STAGES=$WORK/stages.tsv
: >"$PHASES"
: >"$STAGES"

# measure LABEL CMD…: runs CMD, prints and records wall, CPU (user+sys of it and its children),
# the peak RSS of the largest process, and the bytes the cache grew by.
measure() {
    local label=$1
    shift
    python3 - "$label" "$PHASES" "$WORK/cache" "$@" <<'PY'
import json, os, resource, subprocess, sys, time
label, phases, cache, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def size(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total
before = size(cache)
t0 = time.monotonic()
proc = subprocess.run(cmd, stdout=subprocess.PIPE)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
written = size(cache) - before
cpu = ru.ru_utime + ru.ru_stime
rss = ru.ru_maxrss / 1024
print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MiB, {written / 1e6:.1f} MB written", file=sys.stderr, flush=True)
with open(phases, "a") as f:
    f.write(f"{label}\t{wall:.2f}\t{cpu:.2f}\t{rss:.0f}\t{written}\n")
if proc.stdout.strip().startswith(b"{"):
    with open(phases + ".json", "a") as f:
        f.write(proc.stdout.decode().strip() + "\n")
sys.exit(proc.returncode)
PY
}

# summary: the table per phase and per stage that ran.
summary() {
    echo "== summary" >&2
    python3 - "$PHASES" "$N" <<'PY'
import json, os, sys
phases, n = sys.argv[1], int(sys.argv[2])
print(f"\n{n} images; per phase (`awmt run --stage X`: the stage or group and the no-op check of what it needs)\n")
print("| phase | wall s | CPU s | peak RSS MiB | MB written |")
print("|---|---:|---:|---:|---:|")
for line in open(phases):
    label, wall, cpu, rss, written = line.rstrip("\n").split("\t")
    print(f"| {label} | {float(wall):.1f} | {float(cpu):.1f} | {rss} | {int(written) / 1e6:.1f} |")
ran = {}
for line in (open(phases + ".json") if os.path.exists(phases + ".json") else []):
    for s in json.loads(line)["stages"]:
        if s["status"] == "ran":
            ran[s["name"]] = s["seconds"]
groups = {}
for name, secs in ran.items():
    g = name.split("[")[0]
    groups.setdefault(g, []).append(secs)
print("\nper stage that ran (wall s; groups: count, mean, max)\n")
print("| stage | n | mean s | max s |")
print("|---|---:|---:|---:|")
for g, v in groups.items():
    print(f"| {g} | {len(v)} | {sum(v) / len(v):.2f} | {max(v):.2f} |")
PY
}

echo "== rehearsal: $N faces, $ITERS iterations per training, $(nproc) cores; work in $WORK" >&2

echo "== 1. render $N faces in CelebA's aligned-and-cropped layout" >&2
cat >faces.yaml <<YAML
name: faces
stages:
  faces:
    kind: synth
    with: {style: faces, images: $N, images_per_identity: 20, seed: 1, examples: 4}
    resources: {cpus: all}
YAML
measure render "$AWMT" run faces.yaml -q
RELEASE=$(find cache/stages -maxdepth 4 -type d -name release -path '*/out/release' | head -1)
rm -rf data/celeba
mkdir -p data
# Hard links: no second copy of the images (the cache's files are never written in place).
cp -al "$RELEASE" data/celeba 2>/dev/null || cp -r "$RELEASE" data/celeba
chmod -R u+w data/celeba
if [ "$N" -eq 202599 ] && [ -f "$REAL/list_eval_partition.txt" ]; then
    rm -f data/celeba/list_eval_partition.txt data/celeba/identity_CelebA.txt
    cp "$REAL/list_eval_partition.txt" data/celeba/
    if [ -f "$REAL/identity_CelebA.txt" ]; then
        cp "$REAL/identity_CelebA.txt" data/celeba/
    fi
    echo "  the real list_eval_partition.txt (and identity_CelebA.txt where present) replace the rendered ones" >&2
elif [ "$N" -eq 202599 ]; then
    echo "  no ../shared/data/real/celeba: the rendered partition and identities stay" >&2
fi
echo "  $(ls data/celeba/img_align_celeba | wc -l) images, $(du -sm data/celeba | cut -f1) MB" >&2
if [ "$UNTIL" = render ]; then summary; exit 0; fi

echo "== 2. split, prepare at 224×224, and the pretrained strided_cnn" >&2
cat >pretrain.yaml <<YAML
# celeba_full's split and prepared stages, verbatim, so that their keys are celeba_full's.
name: pretrain
vars:
  data: \${env:AWMT_DATA:-data}
stages:
  split:
    kind: split
    inputs: {root: "\${data}/celeba"}
    with: {format: celeba}
  prepared:
    kind: prepare
    inputs: {split: split, root: "\${data}/celeba"}
    with: {size: [224, 224]}
    resources: {cpus: all}
  pretrain:
    kind: train
    inputs: {data: prepared}
    with: {model: strided_cnn, freeze_bn: false, iterations: $PRE_ITERS, seed: 1}
    resources: {cpus: all}
YAML
cp "$REPO/pipelines/celeba_full.yaml" celeba_full.yaml
for stage in split prepared pretrain; do
    measure "$stage" "$AWMT" run pretrain.yaml --stage "$stage" -q --json
    if [ "$UNTIL" = "$stage" ]; then summary; exit 0; fi
done
WEIGHTS=$WORK/reports/pretrain/pretrain

echo "== 3. pipelines/celeba_full.yaml, unchanged, with --set overrides" >&2
SETS=(--set "vars.weights=$WEIGHTS" --set stages.basic.with.model=strided_cnn --set "+stages.basic.with.iterations=$ITERS")
"$AWMT" run celeba_full.yaml "${SETS[@]}" --dry-run -q --json >dry.json
python3 - dry.json <<'PY' >&2
import json, sys
stages = json.load(open(sys.argv[1]))["stages"]
counts = {}
for s in stages:
    counts[s["status"]] = counts.get(s["status"], 0) + 1
print("  dry run:", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
PY
for stage in basic awmt separate eval table1 figures report; do
    measure "$stage" "$AWMT" run celeba_full.yaml "${SETS[@]}" --stage "$stage" -q --json
done
measure no-op-rerun "$AWMT" run celeba_full.yaml "${SETS[@]}" -q --json
summary
