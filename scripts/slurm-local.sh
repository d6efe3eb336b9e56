#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, from Debian's packages: to try workflow/profiles/slurm on
# a laptop and to test it in CI (tests/test_slurm.py).
#
#   sudo scripts/slurm-local.sh start [--accounting] [--oversubscribe N]   # start (installs the packages if missing)
#   sudo scripts/slurm-local.sh status                 # daemons and node state; exit 0 when usable
#   sudo scripts/slurm-local.sh stop                   # stop what start started, by pid
#
# The cluster: partition "local" (the default) with this machine as its only node, all its CPUs and
# 85% of its memory; munge authentication; no cgroups (proctrack/linuxproc, task/none), so it also
# runs in containers without systemd. Finished jobs stay visible to `squeue --states=all` for an hour
# (MinJobAge), which is what the profile's status polling needs without an accounting database.
#
# --oversubscribe N lets N jobs share each core (partition OverSubscribe=FORCE:N): on a small machine
# Slurm jobs of seconds spend much of their life starting (sbatch, srun, two Snakemake starts) with
# the CPU partly idle, and more of them side by side keep it busy. Jobs still get the threads they ask
# for; only the count of jobs at once changes. Default 1 (no sharing).
#
# --accounting also starts MariaDB (its own data folder and port) and slurmdbd, so that sacct works,
# with account "deltaspace" holding root and the sudo user. Needs the packages slurmdbd and
# mariadb-server (installed if missing); takes about 30 s more. Without it no database is involved.
#
# State (configuration, spool, logs, pid files) lives in $DELTASPACE_SLURM_DIR
# (default /var/tmp/deltaspace-slurm). Slurm's configuration must be at /etc/slurm/slurm.conf (the
# jobstep plugin drops SLURM_CONF before its inner srun), so that path becomes a link to the file
# written there; an /etc/slurm/slurm.conf that this script did not write is never touched.
#
# Exit status: 0 done, 1 failed, 3 this machine cannot run it (not Linux/Debian, not root, or the
# packages are missing and cannot be installed): the test suite skips on 3 and fails on 1.
set -euo pipefail

DIR=${DELTASPACE_SLURM_DIR:-/var/tmp/deltaspace-slurm}
PARTITION=local
ACCOUNT=deltaspace
CLUSTER=deltaspace
DB_PORT=${DELTASPACE_SLURM_DB_PORT:-3307}   # MariaDB of --accounting; not 3306, to leave a local MySQL alone
CONF_LINK=/etc/slurm/slurm.conf
DBD_CONF_LINK=/etc/slurm/slurmdbd.conf
MARKER="# Written by deltaspace scripts/slurm-local.sh"
UNSUPPORTED=3
BASE_PACKAGES=(slurmctld slurmd slurm-client munge)
ACCOUNTING_PACKAGES=(slurmdbd mariadb-server)

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }
unsupported() { echo "slurm-local: cannot run here: $*" >&2; exit "$UNSUPPORTED"; }

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# ---- checks and packages -------------------------------------------------------------------

check_machine() {
    [[ $(uname -s) == Linux ]] || unsupported "needs Linux (this is $(uname -s))"
    [[ -f /etc/debian_version ]] || unsupported "needs Debian or a derivative (Debian's slurm-wlm packages); no /etc/debian_version"
    [[ $EUID -eq 0 ]] || unsupported "needs root: slurmd starts jobs as their users and munged needs /run/munge (try: sudo $0 ${ARGS[*]})"
}

# Install the packages whose programs are missing (apt-get; a first failure retries after apt-get update).
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || unsupported "packages ${missing[*]} are missing and there is no apt-get"
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$DIR/log/apt.log" 2>&1; then
        apt-get update >>"$DIR/log/apt.log" 2>&1 || true
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$DIR/log/apt.log" 2>&1 ||
            unsupported "apt-get install ${missing[*]} failed (see $DIR/log/apt.log)"
    fi
}

# ---- processes -----------------------------------------------------------------------------

# The pid in a pid file, if that process is alive and runs the named program.
live_pid() {
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid && -r /proc/$pid/comm ]] || return 1
    [[ $(cat "/proc/$pid/comm") == "$name"* ]] || return 1
    echo "$pid"
}

stop_pid() {
    local file=$1 name=$2 pid i
    if pid=$(live_pid "$file" "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            [[ -d /proc/$pid ]] || break
            sleep 0.1
        done
        if [[ -d /proc/$pid ]]; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2 i
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

munge_works() { munge -n | unmunge; }
node_state() { sinfo -h -p "$PARTITION" -o %T 2>/dev/null; }
node_idle() { [[ $(node_state) == idle ]]; }
node_up() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }  # usable, possibly busy
dbd_answers() { sacctmgr -n list cluster; }
no_jobs_left() { [[ -z $(squeue -h -t pending,running,completing -o %i 2>/dev/null) ]]; }

# ---- configuration -------------------------------------------------------------------------

# Link /etc/slurm/<name> to our file, refusing to replace a file this script did not write.
link_conf() {
    local target=$1 link=$2
    mkdir -p "$(dirname "$link")"
    if [[ -e $link || -L $link ]]; then
        if [[ -L $link && $(readlink "$link") == "$target" ]]; then
            return 0
        fi
        if [[ -L $link && ! -e $link ]]; then  # dangling: nobody's configuration
            rm -f "$link"
        elif [[ $(head -n 1 "$link" 2>/dev/null || true) != "$MARKER"* ]]; then
            die "$link exists and was not written by this script; a Slurm is already configured here (move it away to use this script)"
        fi
        rm -f "$link"
    fi
    ln -s "$target" "$link"
}

unlink_conf() {
    local link=$1
    if [[ -L $link && $(readlink "$link") == "$DIR"/* ]]; then
        rm -f "$link"
    fi
}

# The partition's OverSubscribe value for N jobs per core, as scontrol shows it.
oversubscribe_setting() { if (($1 > 1)); then echo "FORCE:$1"; else echo NO; fi; }

write_slurm_conf() {
    local accounting=$1 oversubscribe=$2 host node cpus mem
    host=$(hostname -s)
    # slurmd -C describes this machine (CPUs, sockets, cores, memory) in slurm.conf syntax.
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "slurmd -C printed no node line: $node"
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    node=$(sed -e "s/NodeName=[^ ]*/NodeName=$host/" -e "s/RealMemory=[0-9]*/RealMemory=$((mem * 85 / 100))/" <<<"$node")
    cat >"$DIR/etc/slurm.conf" <<EOF
$MARKER: a one-node cluster on this machine.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups: works in containers and on machines without systemd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Finished jobs stay in squeue --states=all for an hour: status polling without a database.
MinJobAge=3600
KillWait=10
InactiveLimit=0
SlurmdTimeout=300
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
EOF
    if [[ $accounting == yes ]]; then
        cat >>"$DIR/etc/slurm.conf" <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
EOF
    else
        echo "AccountingStorageType=accounting_storage/none" >>"$DIR/etc/slurm.conf"
    fi
    cat >>"$DIR/etc/slurm.conf" <<EOF
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=$(oversubscribe_setting "$oversubscribe")
EOF
    link_conf "$DIR/etc/slurm.conf" "$CONF_LINK"
}

# ---- daemons -------------------------------------------------------------------------------

start_munge() {
    if munge_works >/dev/null 2>&1; then
        say "munged already running (not started by this script, will not be stopped by it)"
        return 0
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
        mungekey --create --keyfile /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0600 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    wait_for 10 munged munge_works || die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$DIR/run/munged.pid"  # ours: stop will stop it
}

start_mariadb() {
    local data=$DIR/mysql run=$DIR/mysql-run
    install -d -o mysql -g mysql -m 0750 "$data" "$run"
    if [[ ! -d $data/mysql ]]; then
        mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
            >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $DIR/log/mariadb-install.log)"
    fi
    # mariadbd does not daemonize: setsid detaches it from this shell; it writes its own pid file.
    setsid /usr/sbin/mariadbd --user=mysql --datadir="$data" --socket="$run/mysqld.sock" \
        --pid-file="$run/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$DIR/log/mariadb.log" </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadb mariadb --socket="$run/mysqld.sock" -e "SELECT 1" ||
        die "MariaDB did not start (see $DIR/log/mariadb.log)"
}

write_slurmdbd_conf() {
    local password
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mariadb --socket="$DIR/mysql-run/mysqld.sock" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
    (
        umask 077
        cat >"$DIR/etc/slurmdbd.conf" <<EOF
$MARKER: accounting database of the one-node cluster.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
    )
    link_conf "$DIR/etc/slurmdbd.conf" "$DBD_CONF_LINK"
}

start_slurmdbd() {
    start_mariadb
    write_slurmdbd_conf
    /usr/sbin/slurmdbd
    wait_for 60 slurmdbd dbd_answers || die "slurmdbd does not answer (see $DIR/log/slurmdbd.log)"
    # The cluster, an account and its users must exist before slurmctld registers and jobs use -A.
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="deltaspace tests" Organization=deltaspace >/dev/null 2>&1 || true
    local user
    for user in root ${SUDO_USER:-}; do
        sacctmgr -i add user "$user" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" >/dev/null 2>&1 || true
    done
    [[ $'\n'$(sacctmgr -n -P list assoc user=root format=account 2>/dev/null || true)$'\n' == *$'\n'"$ACCOUNT"$'\n'* ]] ||
        die "could not register account $ACCOUNT in slurmdbd (see $DIR/log/slurmdbd.log)"
}

running() { live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null && live_pid "$DIR/run/slurmd.pid" slurmd >/dev/null; }

start() {
    local accounting=no oversubscribe=1 t0=$SECONDS
    while (($#)); do
        case $1 in
            --accounting) accounting=yes ;;
            --oversubscribe)
                [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--oversubscribe needs a whole number of jobs per core, got '${2:-}'"
                oversubscribe=$2
                shift ;;
            *) usage ;;
        esac
        shift
    done
    check_machine
    mkdir -p "$DIR"/{etc,state,spool,run,log}
    chmod 0755 "$DIR"
    if running && node_up; then
        local mode=no-accounting
        live_pid "$DIR/run/slurmdbd.pid" slurmdbd >/dev/null && mode=accounting
        if [[ $mode == accounting && $accounting == no || $mode == no-accounting && $accounting == yes ]]; then
            die "already running in $mode mode; run '$0 stop' first"
        fi
        local shared
        shared=$(scontrol show partition "$PARTITION" | sed -n 's/.*OverSubscribe=\([^ ]*\).*/\1/p')
        [[ $shared == "$(oversubscribe_setting "$oversubscribe")" ]] ||
            die "already running with OverSubscribe=$shared; run '$0 stop' first"
        say "already running ($mode; partition $PARTITION, OverSubscribe=$shared)"
        return 0
    fi
    stop_daemons quiet  # leftovers of a start that failed half way
    ensure_packages "${BASE_PACKAGES[@]}"
    [[ $accounting == no ]] || ensure_packages "${ACCOUNTING_PACKAGES[@]}"
    start_munge
    write_slurm_conf "$accounting" "$oversubscribe"  # before slurmdbd: sacctmgr finds the database through it
    [[ $accounting == no ]] || start_slurmdbd
    # -c: start from a clean state (no jobs of an earlier run); both daemons fork into the background.
    /usr/sbin/slurmctld -c || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
    /usr/sbin/slurmd || die "slurmd did not start (see $DIR/log/slurmd.log)"
    if ! wait_for 60 "idle node" node_idle; then
        sinfo -N -l >&2 || true
        tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
        die "the node did not become idle within 60 s"
    fi
    say "started in $((SECONDS - t0)) s (partition $PARTITION$([[ $accounting == yes ]] && echo ", account $ACCOUNT, sacct works"))"
}

stop_daemons() {
    if live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
        # Cancel leftover jobs and let their steps end, so that no job outlives the cluster.
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
        wait_for 15 "jobs to end" no_jobs_left || say "some jobs are still ending"
    fi
    stop_pid "$DIR/run/slurmctld.pid" slurmctld
    stop_pid "$DIR/run/slurmd.pid" slurmd
    stop_pid "$DIR/run/slurmdbd.pid" slurmdbd
    stop_pid "$DIR/mysql-run/mariadbd.pid" mariadbd
    stop_pid "$DIR/run/munged.pid" munged
    unlink_conf "$CONF_LINK"
    unlink_conf "$DBD_CONF_LINK"
    [[ ${1:-} == quiet ]] || say "stopped"
}

stop() {
    check_machine
    [[ -d $DIR ]] || { say "not running"; return 0; }
    stop_daemons
}

status() {
    local ok=0 entry file name pid
    for entry in munged:"$DIR/run/munged.pid" slurmdbd:"$DIR/run/slurmdbd.pid" \
        mariadbd:"$DIR/mysql-run/mariadbd.pid" slurmctld:"$DIR/run/slurmctld.pid" slurmd:"$DIR/run/slurmd.pid"; do
        name=${entry%%:*} file=${entry#*:}
        if pid=$(live_pid "$file" "$name"); then
            say "$name running (pid $pid)"
        elif [[ $name == slurmctld || $name == slurmd ]]; then
            say "$name not running"
            ok=1
        fi
    done
    if ((ok == 0)) && node_up; then
        sinfo
    else
        say "node state: $(node_state || true)"
        ok=1
    fi
    return $ok
}

ARGS=("$@")
case ${1:-} in
    start) shift; start "$@" ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
