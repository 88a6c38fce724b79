"""Times awmt, DVC and Snakemake on the same layered DAG of command stages (see the .sh)."""
import argparse, os, shutil, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--awmt", required=True)
p.add_argument("--stages", type=int, default=100)
p.add_argument("--tree-files", type=int, default=200000)
p.add_argument("--width", type=int, default=10)
args = p.parse_args()

def timed(cmd, cwd, env=None):
    """Wall seconds, user+sys CPU seconds and peak RSS (MiB) of one command (the process itself)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {cmd}\n{err[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024

def layered(n, width):
    """Stage i reads the outputs of up to two stages of the previous layer; layer 0 reads src files."""
    stages = []
    for i in range(n):
        layer = i // width
        if layer == 0:
            deps = [f"src/s{i}.txt"]
        else:
            prev = list(range((layer - 1) * width, layer * width))
            deps = [f"out/o{prev[i % width]}.txt", f"out/o{prev[(i + 1) % width]}.txt"]
        stages.append((f"s{i}", deps, f"out/o{i}.txt"))
    return stages

def write_sources(d, n, width):
    os.makedirs(f"{d}/src", exist_ok=True)
    os.makedirs(f"{d}/out", exist_ok=True)
    for i in range(min(n, width)):
        open(f"{d}/src/s{i}.txt", "w").write(f"source {i}\n")

def cmd_of(name, deps, out):
    return f"cat {' '.join(deps)} > {out} && echo {name} >> {out}"

stages = layered(args.stages, args.width)
root = tempfile.mkdtemp(prefix="awmt-bench-")
results = {}

# Plain shell: the commands alone, one after another (what any orchestrator must at least spend).
d = f"{root}/shell"; write_sources(d, args.stages, args.width)
open(f"{d}/all.sh", "w").write("set -e\n" + "\n".join(f"sh -c '{cmd_of(*s)}'" for s in stages) + "\n")
results["shell"] = {"first": timed(["bash", "all.sh"], d)}

# awmt
d = f"{root}/awmt"; write_sources(d, args.stages, args.width)
with open(f"{d}/p.yaml", "w") as f:
    f.write("name: bench\nstages:\n")
    for name, deps, out in stages:
        f.write(f"  {name}:\n    kind: command\n    cmd: {cmd_of(name, deps, out)}\n    deps: [{', '.join(deps)}]\n    outs: [{out}]\n")
aw = [args.awmt, "run", "p.yaml", "-q", "-j", "1"]
r = {"first": timed(aw, d), "noop": timed(aw, d)}
open(f"{d}/src/s0.txt", "a").write("changed\n")
r["leaf"] = timed(aw, d)
results["awmt"] = r

# DVC
d = f"{root}/dvc"; write_sources(d, args.stages, args.width)
subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=d, check=True)
with open(f"{d}/dvc.yaml", "w") as f:
    f.write("stages:\n")
    for name, deps, out in stages:
        f.write(f"  {name}:\n    cmd: {cmd_of(name, deps, out)}\n    deps: [{', '.join(deps)}]\n    outs: [{out}]\n")
env = dict(os.environ, DVC_NO_ANALYTICS="1")
r = {"first": timed(["dvc", "repro", "-q"], d, env), "noop": timed(["dvc", "repro", "-q"], d, env)}
open(f"{d}/src/s0.txt", "a").write("changed\n")
r["leaf"] = timed(["dvc", "repro", "-q"], d, env)
results["dvc"] = r

# Snakemake
d = f"{root}/smk"; write_sources(d, args.stages, args.width)
with open(f"{d}/Snakefile", "w") as f:
    f.write("rule all:\n    input: " + ", ".join(f'"{s[2]}"' for s in stages) + "\n\n")
    for name, deps, out in stages:
        f.write(f"rule {name}:\n    input: {', '.join(repr(x) for x in deps)}\n    output: {out!r}\n    shell: {cmd_of(name, deps, out)!r}\n\n")
smk = ["snakemake", "-c1", "-q", "--rerun-triggers", "mtime", "input", "params", "code"]
r = {"first": timed(smk, d), "noop": timed(smk, d)}
open(f"{d}/src/s0.txt", "a").write("changed\n")
r["leaf"] = timed(smk, d)
results["snakemake"] = r

# Re-checking an unchanged tree of small files: awmt (status of a stage that depends on it) vs dvc status.
n_files = args.tree_files
tree = f"{root}/tree"
os.makedirs(tree)
for i in range(n_files):
    sub = f"{tree}/data/d{i // 1000:03d}"
    if i % 1000 == 0:
        os.makedirs(sub, exist_ok=True)
    with open(f"{sub}/f{i:06d}.txt", "w") as fh:
        fh.write(f"file {i}\n")
open(f"{tree}/p.yaml", "w").write("name: tree\nstages:\n  count:\n    kind: command\n    cmd: find data -type f | wc -l > n.txt\n    deps: [data]\n    outs: [n.txt]\n")
time.sleep(2.5)  # let the files age past the stat index's racy window
tree_first = timed([args.awmt, "run", "p.yaml", "-q"], tree)
# A no-op `run` re-checks the tree: stat calls against the index, no hashing.
tree_awmt = timed([args.awmt, "run", "p.yaml", "-q"], tree)
subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tree, check=True)
subprocess.run(["dvc", "add", "-q", "data"], cwd=tree, check=True, env=env)
t = time.perf_counter(); proc = subprocess.run(["dvc", "status"], cwd=tree, env=env, capture_output=True); tree_dvc_wall = time.perf_counter() - t

n = args.stages
shell_first = results["shell"]["first"][0]
print(f"\n### Orchestrator overhead: {n} command stages ({args.width} per layer), one job at a time\n")
print(f"Command: `bash benches/orchestrator_bench.sh {n} {n_files}` — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores\n")
print("| tool | (a) first run s | (b) no-op rerun s | (c) after one leaf input changed s | peak RSS MiB (no-op) |")
print("|---|---|---|---|---|")
print(f"| plain shell (the {n} commands alone) | {shell_first:.2f} | – | – | – |")
for tool in ["awmt", "dvc", "snakemake"]:
    r = results[tool]
    print(f"| {tool} | {r['first'][0]:.2f} | {r['noop'][0]:.3f} | {r['leaf'][0]:.2f} | {r['noop'][2]:.0f} |")
a, dv, sm = results["awmt"], results["dvc"], results["snakemake"]
print("\n| ratio | (a) first | (b) no-op | (c) leaf change |\n|---|---|---|---|")
for label, other in [("awmt / DVC", dv), ("awmt / Snakemake", sm)]:
    print(f"| {label} | {a['first'][0] / other['first'][0]:.3f} | {a['noop'][0] / other['noop'][0]:.4f} | {a['leaf'][0] / other['leaf'][0]:.3f} |")
print(f"\nawmt overhead on the first run beyond the commands themselves: "
      f"{(a['first'][0] - shell_first) / n * 1000:.1f} ms per stage")
print(f"\n### Re-checking an unchanged tree of {n_files} small files\n")
print("| tool | seconds |\n|---|---|")
print(f"| awmt first run (hash everything) | {tree_first[0]:.2f} |")
print(f"| awmt no-op run (stat index) | {tree_awmt[0]:.2f} (peak RSS {tree_awmt[2]:.0f} MiB) |")
print(f"| dvc status | {tree_dvc_wall:.2f} |")
print(f"\nratio awmt / dvc status: {tree_awmt[0] / tree_dvc_wall:.3f}")
shutil.rmtree(root, ignore_errors=True)
