#!/usr/bin/env bash
# Re-checking an unchanged tree of 200,000 JPEGs (issue 3): the CelebA layout at full size,
# img_align_celeba/000001.jpg … (178×218, the synth stage's JPEGs, ~10 KB each, ~2 GB; copies of
# 2,000 rendered faces), as the `root` of a `command` stage. Times awmt's first run (hashes every
# image), a no-op run (stat calls against the cache's index, nothing read), and a run after one
# image changed (only that file is hashed again).
#   benches/image_tree_bench.sh [IMAGES=200000]      needs ~2.2 GB free under $TMPDIR
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
# The front end as `make build` builds it (the awmt crate, which links no libtorch).
make -s build >&2
AWMT=$PWD/target/release/awmt
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
cat >faces.yaml <<'YAML'
name: faces
stages:
  faces:
    kind: synth
    with: {style: faces, images: 2000, seed: 1, examples: 2}
YAML
"$AWMT" run faces.yaml -q
SRC=$(find cache/stages -type d -path '*/release/img_align_celeba' | head -1)
python3 - "$N" "$SRC" <<'PY'
import os, shutil, sys
n, src = int(sys.argv[1]), sys.argv[2]
names = sorted(os.listdir(src))
os.makedirs("celeba/img_align_celeba")
for i in range(n):
    shutil.copyfile(os.path.join(src, names[i % len(names)]), f"celeba/img_align_celeba/{i + 1:06d}.jpg")
PY
cat >tree.yaml <<'YAML'
name: tree
stages:
  count:
    kind: command
    cmd: ls celeba/img_align_celeba | wc -l > n.txt
    deps: [celeba]
    outs: [n.txt]
YAML
sync
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); python3 -c "print(f'{$e - $s:.2f}')"; }
BYTES=$(du -sb celeba | cut -f1)
FIRST=$(t "$AWMT" run tree.yaml -q)
NOOP1=$(t "$AWMT" run tree.yaml -q)
NOOP2=$(t "$AWMT" run tree.yaml -q)
cp celeba/img_align_celeba/000002.jpg celeba/img_align_celeba/000001.jpg
CHANGED=$(t "$AWMT" run tree.yaml -q)
echo "$N JPEGs, $((BYTES / 1000000)) MB; machine: $(nproc) cores"
echo
echo "| awmt run over the tree | seconds |"
echo "|---|---:|"
echo "| first run (hashes every image) | $FIRST |"
echo "| no-op run, unchanged tree (stat index) | $NOOP1 / $NOOP2 |"
echo "| one image replaced (that file hashed again, the stage reruns) | $CHANGED |"
