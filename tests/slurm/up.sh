#!/usr/bin/env bash
# Starts a real one-node Slurm cluster on 127.0.0.1 for the tests: munged, slurmctld and slurmd as
# plain background daemons (no systemd), with this machine's real CPU count and memory. Installs
# Debian's slurmctld, slurmd, slurm-client and munge when missing. Needs root. Idempotent.
# Each step says why beside it; README.md ("Slurm") says how the tests use the cluster.
set -euo pipefail

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

alive() { # PID file -> 0 if that process runs and is not a zombie
  [ -s "$1" ] || return 1
  local st; st=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null || true)
  [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# munge: its socket directory does not survive, and it must run as the munge user.
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null

install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm /run/slurm
install -d /var/spool/slurmd /etc/slurm

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
grep -q "^127.0.0.1.*\b$HOST\b" /etc/hosts || echo "127.0.0.1 $HOST" >> /etc/hosts
CONF=$(cat <<CONF
ClusterName=awmt-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=30
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
DefMemPerCPU=$((MEM / CPUS))
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$CONF" ]; then
  # A changed configuration needs fresh daemons.
  bash "$(dirname "$0")/down.sh" --keep-munge || true
  printf '%s\n' "$CONF" > /etc/slurm/slurm.conf
fi
alive /run/slurm/slurmctld.pid || /usr/sbin/slurmctld
alive /run/slurm/slurmd.pid || /usr/sbin/slurmd
for _ in $(seq 200); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  case "$state" in idle|mix|alloc) exit 0 ;; esac
  sleep 0.1
done
echo "slurm did not come up (node state: ${state:-none}); see /var/log/slurm/" >&2
exit 1
