#!/usr/bin/env bash
# Stops the test cluster's daemons by the PIDs in their pid files, in order: slurmd, slurmctld,
# then munged (unless --keep-munge). SIGTERM, up to 10 s, then SIGKILL. No pkill/killall.
set -u
stop() { # PID file
  [ -s "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    local st; st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    { [ -z "$st" ] || [ "${st:0:1}" = Z ]; } && return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
stop /run/slurm/slurmd.pid
stop /run/slurm/slurmctld.pid
if [ "${1:-}" != --keep-munge ]; then
  stop /run/munge/munged.pid
fi
exit 0
