#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests and for trying the cluster path (docs/cluster.md):
#
#   sudo bash scripts/slurm_cluster.sh start    # install slurm-wlm + munge if missing, configure, start
#   bash scripts/slurm_cluster.sh status        # sinfo
#   sudo bash scripts/slurm_cluster.sh stop     # stop the daemons (configuration and packages stay)
#
# Debian-like systems, as root. One node (this host, its CPUs and memory), one partition (SLURM_PARTITION,
# default debug), no accounting database (sacct is unavailable, as on many small clusters), no cgroups:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, JobAcctGatherType=jobacct_gather/none,
# AccountingStorageType=accounting_storage/none, SelectType=select/cons_tres. .ci/run starts it so that the
# tests marked `slurm` run a real sweep through `hydra/launcher=slurm`.
set -euo pipefail

ACTION=${1:-start}
PARTITION=${SLURM_PARTITION:-debug}
CONF_DIR=/etc/slurm
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
NODE=$(hostname -s)

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "slurm_cluster: $ACTION needs root (it installs packages and starts daemons)" >&2
        exit 2
    fi
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
            && command -v sbatch >/dev/null; then
        return
    fi
    if ! command -v apt-get >/dev/null; then
        echo "slurm_cluster: no slurmctld/slurmd/munged and no apt-get to install slurm-wlm and munge" >&2
        exit 2
    fi
    echo "slurm_cluster: installing slurm-wlm and munge (about a minute)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
}

configure() {
    local cpus mem_mb
    cpus=$(nproc)
    # what slurmd may hand out: the machine's memory less 1 GiB for the system
    mem_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
    mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS" /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    chown -R slurm:slurm "$STATE" "$LOGS" 2>/dev/null || true
    cat > "$CONF_DIR/slurm.conf" <<EOF
# written by scripts/slurm_cluster.sh: one node, one partition, no accounting
ClusterName=local
SlurmctldHost=$NODE
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
# requeued jobs (preemption, scontrol requeue, submitit's checkpoint) start again at once
JobRequeue=1
MinJobAge=300
KillWait=10
NodeName=$NODE CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    rm -f "$CONF_DIR/cgroup.conf"  # no cgroups: proctrack/linuxproc and task/none need none
}

fail() {
    echo "slurm_cluster: $1 did not start; its log:" >&2
    tail -n 20 "$LOGS/$1.log" >&2 || true
    exit 1
}

start() {
    need_root
    install
    configure
    pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld || fail slurmctld
    pgrep -x slurmd >/dev/null || /usr/sbin/slurmd || fail slurmd
    for _ in $(seq 60); do
        if sinfo -h -p "$PARTITION" -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
            echo "slurm_cluster: partition $PARTITION up on $NODE ($(nproc) CPUs)"
            return
        fi
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        sleep 1
    done
    echo "slurm_cluster: the node did not come up; logs in $LOGS" >&2
    tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
    exit 1
}

stop() {
    need_root
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
    echo "slurm_cluster: stopped"
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
