#!/usr/bin/env bash
# A one-node Slurm cluster on this host, for the Slurm tests and the shard benchmark:
#
#   scripts/slurm-local.sh start   # munged, slurmctld, slurmd; prints `export SLURM_CONF=…`
#   scripts/slurm-local.sh stop
#
# Everything lives under $IMGSEAL_SLURM_DIR (default target/slurm): its own slurm.conf (the
# host's /etc/slurm is not touched; commands find it through SLURM_CONF), state, spool and
# logs. Needs Debian's slurm-wlm and munge (scripts/install-deps.sh installs them) and root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${IMGSEAL_SLURM_DIR:-$here/target/slurm}
conf=$dir/slurm.conf
export SLURM_CONF=$conf

stop() {
  for p in slurmd slurmctld; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  sleep 1
}

case "${1:-}" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

for t in munged slurmctld slurmd sbatch; do
  command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "slurm-local.sh: $t missing; run scripts/install-deps.sh" >&2; exit 1; }
done
stop
mkdir -p "$dir/state" "$dir/spool"
host=$(hostname -s)
node=$(/usr/sbin/slurmd -C | head -1)   # NodeName=HOST CPUs=… RealMemory=…
cat >"$conf" <<CONF
# written by scripts/slurm-local.sh: a one-node cluster for imgseal's tests
ClusterName=imgseal-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# munge: the package made /etc/munge/munge.key; its daemon runs as the munge user.
if ! pgrep -x munged >/dev/null; then
  [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged
fi
/usr/sbin/slurmctld -f "$conf"
/usr/sbin/slurmd -f "$conf"
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 1
done
echo "slurm-local.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo >&2 || true
exit 1
