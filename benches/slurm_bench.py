"""awmt --executor slurm vs local on N independent trivial stages (see slurm_bench.sh)."""
import argparse, os, shutil, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--awmt", required=True)
p.add_argument("--stages", type=int, default=100)
a = p.parse_args()

def write(d, n):
    os.makedirs(d)
    with open(f"{d}/p.yaml", "w") as f:
        f.write("name: slurmbench\nstages:\n  s:\n    kind: command\n    foreach: {i: [" + ", ".join(str(i) for i in range(n)) + "]}\n")
        f.write('    cmd: echo ${i} > o${i}.txt\n    outs: ["o${i}.txt"]\n')

def run(d, extra):
    t = time.perf_counter()
    r = subprocess.run([a.awmt, "run", "p.yaml", "-q", "--cache", f"{d}/cache"] + extra, cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stderr)
    return time.perf_counter() - t

root = tempfile.mkdtemp(prefix="awmt-slurm-bench-")
write(f"{root}/local", a.stages); write(f"{root}/slurm", a.stages)
local = run(f"{root}/local", ["-j", "2"])
slurm = run(f"{root}/slurm", ["--executor", "slurm"])
slurm_noop = run(f"{root}/slurm", ["--executor", "slurm"])
n = a.stages
print(f"\n### Slurm executor: {n} trivial command stages (one foreach → one job array)\n")
print(f"Command: `bash benches/slurm_bench.sh {n}` — {time.strftime('%Y-%m-%d')}, one-node cluster on {os.cpu_count()} cores\n")
print("| executor | wall s | per stage ms |\n|---|---|---|")
print(f"| local (`-j 2`) | {local:.2f} | {local / n * 1000:.1f} |")
print(f"| slurm (first run: submit → all published) | {slurm:.2f} | {slurm / n * 1000:.1f} |")
print(f"| slurm (second run: nothing submitted) | {slurm_noop:.3f} | {slurm_noop / n * 1000:.2f} |")
print(f"\nratio slurm / local: {slurm / local:.1f}")
shutil.rmtree(root, ignore_errors=True)
