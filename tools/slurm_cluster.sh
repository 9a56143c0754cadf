#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for trying and testing profiles/slurm.
#
#   tools/slurm_cluster.sh start    # install what is missing (apt-get), configure, start
#   tools/slurm_cluster.sh status   # daemons, partitions, node state
#   tools/slurm_cluster.sh stop     # stop the daemons this script started
#
# Debian 12 packages (SLURM 22.05): munge, slurmctld, slurmd, slurm-client, and slurmdbd
# with MariaDB. snakemake-executor-plugin-slurm reads job states with `sacct` by default
# (profiles/slurm switches it to `squeue`, which lists finished jobs for MinJobAge, here
# 10 minutes) and asks `sacct` why a job failed; `sacct` lists jobs from the accounting
# database of slurmdbd. Runs as root, without systemd or cgroups (proctrack/linuxproc,
# task/none): the daemons are started directly.
#
# Partitions: `cpu` (default) and `gpu`, both on this one node, sized from its cores and
# memory. The node declares one GRES `gpu` of type `fake` (its "device" is /dev/null), so
# that `sbatch --gpus=fake:1 -p gpu` is accepted and scheduled on a machine without a GPU
# (the job sees no GPU: torch falls back to the CPU).
#
# Everything lives under $SLURM_CLUSTER_DIR (default /var/lib/nerflow-slurm): configs in
# etc/, logs in log/, state in spool/, pids in run/. The configs go to /etc/slurm, where
# the SLURM commands look for them. `stop` leaves the installed packages and the database.
set -euo pipefail

BASE=${SLURM_CLUSTER_DIR:-/var/lib/nerflow-slurm}
CLUSTER=nerflow
HOST=$(hostname -s)
ETC=/etc/slurm
LOG=$BASE/log
RUN=$BASE/run
SPOOL=$BASE/spool
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DAEMONS=(mariadbd munged slurmdbd slurmctld slurmd)

say() { echo "slurm_cluster: $*"; }

die_with_log() { # name, log file
  say "ERROR: $1 did not come up. Last lines of $2:" >&2
  tail -n 30 "$2" >&2 2>/dev/null || echo "(no log at $2)" >&2
  exit 1
}

wait_for() { # seconds, description, log, command...
  local seconds=$1 name=$2 log=$3
  shift 3
  for _ in $(seq $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die_with_log "$name" "$log"
}

# mariadbd runs as user mysql: its pid file and socket are in its own /run/mysqld.
pidfile() { if [[ $1 == mariadbd ]]; then echo /run/mysqld/$1.pid; else echo "$RUN/$1.pid"; fi; }

pid_alive() { [[ -f $(pidfile "$1") ]] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

install_missing() {
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
      missing+=("$package")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

write_configs() {
  local cpus memory_mb
  cpus=$(nproc)
  # Leave a quarter of the memory (at least 1 GiB) to the system and the daemons.
  memory_mb=$(awk '/MemTotal/ {m = int($2 / 1024); r = int(m / 4); if (r < 1024) r = 1024;
    print m - r}' /proc/meminfo)
  mkdir -p "$ETC" "$LOG" "$RUN" "$SPOOL/ctld" "$SPOOL/d"
  cat >"$ETC/slurm.conf" <<EOF
# Written by tools/slurm_cluster.sh: one node, no cgroups, accounting in slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
AccountingStoreFlags=job_comment
KillWait=5
InactiveLimit=0
# A job over its time limit is ended without grace minutes (slurmctld checks every 30 s).
OverTimeLimit=0
MpiDefault=none
NodeName=$HOST CPUs=$cpus RealMemory=$memory_mb Gres=gpu:fake:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
  # A fake GPU: gres/gpu needs a device file (without File= slurmd reports 0 GPUs and
  # the node is drained); /dev/null stands in for it. Jobs get CUDA_VISIBLE_DEVICES=0
  # and find no GPU there.
  echo "NodeName=$HOST Name=gpu Type=fake File=/dev/null Count=1" >"$ETC/gres.conf"
  cat >"$ETC/slurmdbd.conf" <<EOF
# Written by tools/slurm_cluster.sh.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurm
StoragePort=3306
EOF
  chmod 600 "$ETC/slurmdbd.conf"
}

start_mariadb() {
  pid_alive mariadbd && return 0
  touch "$LOG/mariadbd.log"
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld "$LOG/mariadbd.log"
  mariadbd --user=mysql --socket=/run/mysqld/mysqld.sock --port=3306 \
    --bind-address=127.0.0.1 --pid-file="$(pidfile mariadbd)" \
    --log-error="$LOG/mariadbd.log" >/dev/null 2>&1 &
  wait_for 60 mariadbd "$LOG/mariadbd.log" \
    mariadb-admin --socket=/run/mysqld/mysqld.sock ping
  mariadb --socket=/run/mysqld/mysqld.sock <<'EOF'
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start_munge() {
  pid_alive munged && return 0
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid \
    --log-file="/var/log/munge/munged.log"
  cp /run/munge/munged.pid "$RUN/munged.pid"
  wait_for 20 munged /var/log/munge/munged.log sh -c 'munge -n | unmunge'
}

start_slurmdbd() {
  pid_alive slurmdbd && return 0
  slurmdbd
  wait_for 60 slurmdbd "$LOG/slurmdbd.log" sacctmgr -i show cluster
}

register_cluster() { # the cluster and an account for root, once
  if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
  if ! sacctmgr -n -P show account format=account | grep -qx nerflow; then
    sacctmgr -i add account nerflow cluster="$CLUSTER" description=nerflow >/dev/null
    sacctmgr -i add user root account=nerflow defaultaccount=nerflow >/dev/null
  fi
}

start_slurm() {
  if ! pid_alive slurmctld; then
    slurmctld
    wait_for 60 slurmctld "$LOG/slurmctld.log" scontrol ping
  fi
  if ! pid_alive slurmd; then
    slurmd
  fi
  # The node is up when it takes jobs (idle, mixed or allocated). A drain left in the
  # saved state by an earlier start (a bad config since fixed) is lifted once.
  node_ready || { sleep 2 && node_ready; } || scontrol update nodename="$HOST" state=resume ||
    true
  for _ in $(seq 150); do node_ready && return 0; sleep 0.2; done
  say "node $HOST: $(sinfo -h -n "$HOST" -o '%T, reason: %E')" >&2
  die_with_log slurmd "$LOG/slurmd.log"
}

node_ready() { sinfo -h -n "$HOST" -o %t | grep -Eq '^(idle|mix|alloc)$'; }

start() {
  [[ $(id -u) == 0 ]] || {
    say "ERROR: run as root (daemons and /etc/slurm)" >&2
    exit 1
  }
  install_missing
  write_configs
  start_mariadb
  start_munge
  start_slurmdbd
  register_cluster
  start_slurm
  say "cluster $CLUSTER is up on $HOST: $(nproc) CPUs, partitions cpu (default) and gpu"
}

stop() {
  local index name
  for ((index = ${#DAEMONS[@]} - 1; index >= 0; index--)); do
    name=${DAEMONS[index]}
    if pid_alive "$name"; then
      kill "$(cat "$(pidfile "$name")")"
      for _ in $(seq 100); do pid_alive "$name" || break; sleep 0.1; done
      say "stopped $name"
    fi
    rm -f "$(pidfile "$name")"
  done
}

status() {
  local name down=0
  for name in "${DAEMONS[@]}"; do
    if pid_alive "$name"; then
      echo "$name: running (pid $(cat "$(pidfile "$name")"))"
    else
      echo "$name: not running"
      down=1
    fi
  done
  ((down)) && return 1
  sinfo -o "%P %a %D %c %m %G %t"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
