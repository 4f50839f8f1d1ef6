#!/bin/sh
# slurm-cluster.sh - a throw-away single-node Slurm cluster on 127.0.0.1 for
# the tests: munged, slurmctld and slurmd from Debian's packages, every file
# (configuration, keys, sockets, state, spool, logs) in one directory.
#
#   tests/slurm-cluster.sh start DIR   write the configuration in DIR (created),
#                                      start the daemons, wait for the node to
#                                      be idle; prints `export SLURM_CONF=...`
#   tests/slurm-cluster.sh stop DIR    stop the daemons started in DIR
#   tests/slurm-cluster.sh check       exit 0 when the packages are installed
#
# Exit status of start: 0 up; 77 the packages are missing; 1 a daemon did not
# start or the node never became idle (the reason and the logs' last lines go
# to stderr).  Needs root (slurmd runs jobs as their user).
set -u

need="munged slurmctld slurmd sbatch squeue sinfo scancel scontrol"

have_all() {
	for p in $need; do
		command -v "$p" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$p" \
			>/dev/null 2>&1 || { echo "$p"; return 1; }
	done
	return 0
}

# A TCP port nobody listens on (the kernel picks it).
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + $$ % 20000 + ${1:-0}))
}

fail() {
	echo "slurm-cluster: $*" >&2
	for f in "$DIR"/munged.log "$DIR"/slurmctld.log "$DIR"/slurmd.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
	done
	stop_daemons
	exit 1
}

stop_daemons() {
	for d in slurmd slurmctld munged; do
		f="$DIR/$d.pid"
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null
		rm -f "$f"
	done
}

cmd=${1:-}
case "$cmd" in
check)
	missing=$(have_all) || { echo "slurm-cluster: '$missing' is not installed" >&2; exit 77; }
	exit 0
	;;
start|stop) ;;
*)
	echo "usage: $0 start|stop DIR | check" >&2
	exit 2
	;;
esac
DIR=${2:?usage: $0 $cmd DIR}
PATH="$PATH:/usr/sbin:/sbin"
export PATH

if [ "$cmd" = stop ]; then
	stop_daemons
	exit 0
fi

missing=$(have_all) || { echo "slurm-cluster: '$missing' is not installed" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "slurm-cluster: slurmd needs root" >&2; exit 77; }

mkdir -p "$DIR" && chmod 700 "$DIR" || exit 1
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" && chmod 700 "$DIR/munge" || exit 1

# Munge: a fresh key, our own socket.
if command -v mungekey >/dev/null 2>&1; then
	mungekey --create --keyfile="$DIR/munge/munge.key" --force 2>/dev/null
fi
[ -s "$DIR/munge/munge.key" ] ||
	dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$DIR/munge/munge.key"
sock="$DIR/munge/munge.socket"
munged --force --key-file="$DIR/munge/munge.key" --socket="$sock" \
	--pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" \
	--seed-file="$DIR/munge/seed" 2>>"$DIR/munged.log" || fail "munged did not start"

mem=$(free -m | awk '/^Mem:/ { print int($2 * 0.5) }')
[ -n "$mem" ] && [ "$mem" -gt 0 ] || mem=1024
cport=$(free_port 0)
dport=$(free_port 1)
while [ "$dport" = "$cport" ]; do dport=$(free_port 2); done
cat >"$DIR/slurm.conf" <<EOF
ClusterName=mlopstest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_min_interval=0
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
: >"$DIR/cgroup.conf"
SLURM_CONF="$DIR/slurm.conf"
export SLURM_CONF

slurmctld -i -f "$SLURM_CONF" 2>>"$DIR/slurmctld.log" || fail "slurmctld did not start"
slurmd -N localhost -f "$SLURM_CONF" 2>>"$DIR/slurmd.log" || fail "slurmd did not start"

i=0
while :; do
	state=$(sinfo -h -n localhost -o %T 2>/dev/null)
	case "$state" in
	idle) break ;;
	esac
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the node did not become idle in 30 s (state: '${state:-none}')"
	sleep 0.1
done
echo "export SLURM_CONF='$SLURM_CONF'"
