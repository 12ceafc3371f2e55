#!/usr/bin/env bash
# Proves the Slurm path of docs/cluster.md on a real one-node Slurm cluster: installs Debian's
# slurm-wlm and munge, starts munged, slurmctld and slurmd (foreground daemons in the
# background; proctrack/linuxproc, no cgroups), submits examples/cluster/sweep.sbatch as an
# array job over 3 shards with `sbatch --wait`, merges the parts and compares them byte for
# byte with the unsharded sweep. Runs as root; everything it writes is under one temporary
# folder (removed after a success), and it stops the daemons it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SHARDS=${SHARDS:-3}
SPEC=${SPEC:-examples/studies/corruption/sweep.json}

apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
cargo build --release --locked --quiet
TWSIM=$(pwd)/target/release/twsim

D=$(mktemp -d /tmp/twsim-slurm.XXXXXX)
chmod 755 "$D"
mkdir -p "$D/state" "$D/spool" "$D/log" "$D/parts" "$D/munge"
pids=()
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAIL (status $status); the daemons' logs:"
    tail -n 40 "$D"/log/* || true
  fi
  # munged by its pid file (runuser is only its parent), then the Slurm daemons.
  [ -s "$D/munge/munged.pid" ] && kill "$(cat "$D/munge/munged.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Kept for inspection after a failure.
  if [ "$status" -eq 0 ]; then rm -rf "$D"; else echo "left in $D"; fi
}
trap cleanup EXIT

# munge: a key of our own, a socket in our folder.
chown munge: "$D/munge"
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || create-munge-key -f
  chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
MUNGE_SOCKET="$D/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --foreground --socket="$MUNGE_SOCKET" \
  --pid-file="$D/munge/munged.pid" --seed-file="$D/munge/seed" --log-file="$D/log/munged.log" \
  >"$D/log/munged.console" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET" >/dev/null

HOST=$(hostname -s)
export SLURM_CONF="$D/slurm.conf"
# The node's CPUs and sockets as slurmd sees them.
NODE=$(slurmd -C | head -n 1 | sed 's/ UpTime=.*//; s/RealMemory=[0-9]*//')
cat > "$SLURM_CONF" <<CONF
ClusterName=twsimci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
$NODE State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
cat "$SLURM_CONF"
slurmctld -D -i >"$D/log/slurmctld.console" 2>&1 &
pids+=($!)
slurmd -D >"$D/log/slurmd.console" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle' && break
  sleep 0.2
done
sinfo

echo "== the array job: $SHARDS shards of $SPEC"
SPEC=$(realpath "$SPEC") PARTS="$D/parts" TWSIM="$TWSIM" \
  sbatch --wait --array="1-$SHARDS" --chdir="$D" --output="$D/log/task-%a.out" \
  examples/cluster/sweep.sbatch
ls -l "$D/parts"
"$TWSIM" merge "$D"/parts/part-*.jsonl -o "$D/merged.jsonl" --summary "$D/merged.csv"

echo "== the same sweep, unsharded"
"$TWSIM" sweep "$SPEC" -o "$D/whole.jsonl" --summary "$D/whole.csv"
cmp "$D/merged.jsonl" "$D/whole.jsonl"
cmp "$D/merged.csv" "$D/whole.csv"
echo "ok: $SHARDS Slurm array tasks merged equal the unsharded sweep ($(wc -l < "$D/whole.jsonl") runs)"
