#!/usr/bin/env bash
# A LAVA lab on one machine: Debian 12's lava-server and lava-dispatcher run as plain processes (no systemd) with their
# own PostgreSQL, all state in one lab folder. Subcommands: install, up, down, status, worker-stop, worker-start.
# Usage: scripts/lava-lab.sh [--dir DIR] [--port P] [--pg-port P] [--listen ADDR] [--devices N] [--worker NAME] COMMAND
#   install       apt packages (lava-server lava-dispatcher postgresql qemu-system-x86 linux-image-amd64), no services
#   up            PostgreSQL, migrations, admin + API token, device type qemu, one worker and N qemu devices, then
#                 lava-server-gunicorn, lava-scheduler and lava-worker; writes DIR/state.env (URL, TOKEN, PIDs)
#   down          stops everything `up` started (and the jobs' lava-run/QEMU), removes the worker's dispatcher.d entry
#   status        what runs, from DIR/state.env; exit 1 when something `up` started is gone
#   worker-stop / worker-start   stop or restart only lava-worker (the server then sees the worker go offline)
#   manage ARGS…  `lava-server manage ARGS…` on the lab's database (e.g. workers add lab-2; devices add …)
# Default DIR: $LAVA_LAB_DIR, else ~/.cache/patchbay/lava-lab, or /var/cache/patchbay/lava-lab for root (PostgreSQL
# runs as the `postgres` user and must reach DIR; root's home is private). Ports: free ones unless given. --listen
# 0.0.0.0 lets workers on other machines reach the server (docs/lava.md); PostgreSQL always listens on 127.0.0.1.
set -euo pipefail

dir=${LAVA_LAB_DIR:-}
port=0
pg_port=0
devices=2
worker=
listen=127.0.0.1
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --pg-port) pg_port=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --worker) worker=$2; shift 2 ;;
    --listen) listen=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "lava-lab: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
cmd=${1:-}
[ -n "$cmd" ] || { echo "lava-lab: no command (install, up, down, status, worker-stop, worker-start)" >&2; exit 2; }
if [ -z "$dir" ]; then
  if [ "$(id -u)" = 0 ]; then dir=/var/cache/patchbay/lava-lab; else dir=$HOME/.cache/patchbay/lava-lab; fi
fi
case $devices in ''|*[!0-9]*) echo "lava-lab: --devices wants a number" >&2; exit 2 ;; esac
state=$dir/state.env

log() { echo "lava-lab: $*" >&2; }
die() { log "$*"; exit 1; }

# The packages. --no-install-recommends takes 193 packages instead of 342 (apache2, lxc, nfs, tftpd, ser2net,
# guestfs-tools, …: boards and a front proxy this lab does not have). From the recommends the qemu device keeps
# qemu-system-x86 (the device) and postgresql (lava-server only depends on the client); linux-image-amd64 is
# supermin's recommend: libguestfs builds its appliance from a kernel in /boot, and lava-dispatcher 2023.01 builds the
# test overlay disk (apply-overlay-guest) with libguestfs.
packages=(lava-server lava-dispatcher postgresql qemu-system-x86 linux-image-amd64)

install_packages() {
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} = 0 ]; then log "packages already installed"; return; fi
  export DEBIAN_FRONTEND=noninteractive
  # Maintainer scripts would start postgresql's 5432 cluster (and lava-server's postinst would then create its
  # database in it) where there is an init system: policy-rc.d 101 tells invoke-rc.d not to start services now.
  local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && made_policy=1
  fi
  apt-get update -qq || rc=$?
  [ $rc = 0 ] && { apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?; }
  if [ $made_policy = 1 ]; then rm -f $policy; fi
  [ $rc = 0 ] || die "apt-get failed ($rc)"
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "no PostgreSQL server (run: $0 install)"
  echo "$d"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand() { python3 -c 'import secrets; print(secrets.token_hex(int(__import__("sys").argv[1])))' "$1"; }

# Runs a command as the PostgreSQL owner: `postgres` when we are root (postgres refuses root), else ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }

# lava-server reads its settings from files in /etc/lava-server and then from the environment: LAVA_YAML_SETTINGS_X
# overrides setting X after the files, so the lab points the database, the logs, the job outputs and the device
# dictionaries into DIR without touching /etc/lava-server.
lava_env() {
  export LAVA_LAB_ID SECRET_KEY
  export LAVA_YAML_SETTINGS_DATABASES="{default: {ENGINE: django.db.backends.postgresql, NAME: lavaserver, USER: lavaserver, PASSWORD: '$PG_PASSWORD', HOST: 127.0.0.1, PORT: $PG_PORT}}"
  export LAVA_YAML_SETTINGS_MEDIA_ROOT="'$dir/media/'"
  export LAVA_YAML_SETTINGS_DJANGO_LOGFILE="'$dir/log/django.log'"
  export LAVA_YAML_SETTINGS_DEVICES_PATH="'$dir/etc/devices'"
  export LAVA_YAML_SETTINGS_DEVICE_TYPES_PATHS="['$dir/etc/device-types', /usr/share/lava-server/device-types]"
  export LAVA_YAML_SETTINGS_HEALTH_CHECKS_PATH="'$dir/etc/health-checks'"
  # Workers on other machines reach the server by its name or address, not only as localhost.
  export LAVA_YAML_SETTINGS_ALLOWED_HOSTS="['*']"
  export LAVA_YAML_SETTINGS_INSTANCE_NAME="'lava-lab'"
}

manage() { lava-server manage "$@"; }

# Starts a daemon in its own session, output to DIR/log/NAME.out; prints its pid.
spawn() {
  local name=$1; shift
  (cd "$dir" && exec setsid "$@" </dev/null >"$dir/log/$name.out" 2>&1) &
  echo $!
}

wait_http() {
  local url=$1 i
  for i in $(seq 1 240); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}

load_state() {
  [ -f "$state" ] || die "no lab in $dir (run: $0 --dir $dir up)"
  # shellcheck disable=SC1090
  . "$state"
}

dispatcher_d() { echo "/etc/lava-server/dispatcher.d/$WORKER"; }

# Every process the lab starts runs in DIR (its cwd; lava-run and QEMU inherit it) and carries LAVA_LAB_ID in its
# environment (lava-worker passes it on to lava-run through the worker's env.yaml). gunicorn, lava-worker and lava-run
# overwrite their environment and command line with setproctitle, so the cwd is what finds them, the id what finds
# a child that changed folder: `down` stops them all whatever session they made.
lab_pids() {
  local f pid cwd
  for f in /proc/[0-9]*; do
    pid=${f#/proc/}
    [ "$pid" = $$ ] && continue
    cwd=$(readlink "$f/cwd" 2>/dev/null) || continue
    if [ "$cwd" = "$dir" ] || [[ $cwd == "$dir"/* ]]; then echo "$pid"; continue; fi
    { tr '\0' '\n' < "$f/environ" | grep -qx "LAVA_LAB_ID=$LAVA_LAB_ID" && echo "$pid"; } 2>/dev/null
  done
  return 0
}

stop_pids() {
  local pids=("$@") i alive
  [ ${#pids[@]} = 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 1 40); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.25
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

start_worker() {
  WORKER_PID=$(LAVA_LAB_ID=$LAVA_LAB_ID spawn lava-worker lava-worker --name "$WORKER" --url "$LOCAL_URL" \
    --token "$WORKER_TOKEN" --worker-dir "$dir/worker" --ping-interval 5 --level DEBUG --log-file "$dir/log/lava-worker.log")
}

write_state() {
  cat > "$state.tmp" <<EOF
# lava-lab state (scripts/lava-lab.sh); sourced by down and status
LAVA_LAB_ID=$LAVA_LAB_ID
URL=$URL
LOCAL_URL=$LOCAL_URL
TOKEN=$TOKEN
ADMIN=admin
ADMIN_PASSWORD=$ADMIN_PASSWORD
WORKER=$WORKER
WORKER_TOKEN=$WORKER_TOKEN
DEVICES="$DEVICES"
PORT=$PORT
PG_PORT=$PG_PORT
PG_PASSWORD=$PG_PASSWORD
SECRET_KEY=$SECRET_KEY
PG_PID=$PG_PID
SERVER_PID=$SERVER_PID
SCHEDULER_PID=$SCHEDULER_PID
WORKER_PID=$WORKER_PID
EOF
  chmod 600 "$state.tmp"
  mv "$state.tmp" "$state"
}

up() {
  [ "$(id -u)" = 0 ] || die "up needs root: lava-run keeps its downloads in /var/lib/lava/dispatcher/tmp"
  command -v lava-server >/dev/null && command -v lava-worker >/dev/null || die "lava-server or lava-dispatcher is not installed (run: $0 install)"
  if [ -f "$state" ]; then
    . "$state"
    kill -0 "$SERVER_PID" 2>/dev/null && die "a lab already runs in $dir ($URL); run: $0 --dir $dir down"
  fi
  local bin t0 i
  t0=$(date +%s)
  bin=$(pg_bin)
  mkdir -p "$dir"/{log,media,worker,etc/devices,etc/device-types,etc/health-checks}
  dir=$(cd "$dir" && pwd)
  state=$dir/state.env
  # The lab folder itself may be private (mktemp -d): PostgreSQL only needs to pass through it; the secrets are in
  # state.env (mode 600).
  [ "$(id -u)" = 0 ] && chmod go+x "$dir"
  as_pg test -x "$dir" || die "PostgreSQL runs as 'postgres' and cannot reach $dir: choose --dir under a path it can enter (e.g. /var/cache or /tmp)"

  LAVA_LAB_ID=$(rand 8)
  [ "$port" = 0 ] && port=$(free_port)
  [ "$pg_port" = 0 ] && pg_port=$(free_port)
  PORT=$port PG_PORT=$pg_port
  # The URL patchbay and remote workers use; the local worker uses 127.0.0.1 when the server listens everywhere.
  if [ "$listen" = 0.0.0.0 ]; then URL=http://$(hostname -f 2>/dev/null || hostname):$PORT/; else URL=http://$listen:$PORT/; fi
  if [ "$listen" = 0.0.0.0 ]; then LOCAL_URL=http://127.0.0.1:$PORT/; else LOCAL_URL=$URL; fi
  WORKER=${worker:-lab-$(hostname -s)-$LAVA_LAB_ID}
  PG_PASSWORD=$(rand 16) SECRET_KEY=$(rand 32) ADMIN_PASSWORD=$(rand 12) TOKEN=$(rand 20)
  PG_PID= SERVER_PID= SCHEDULER_PID= WORKER_PID= WORKER_TOKEN= DEVICES=

  # PostgreSQL: its own cluster in DIR/pg, listening on 127.0.0.1:PG_PORT only, its socket in DIR/pg-run.
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    rm -rf "$dir/pg"; mkdir -p "$dir/pg"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg"
    as_pg "$bin/initdb" -D "$dir/pg" -U postgres -A peer --auth-host=scram-sha-256 -E UTF-8 --locale=C.UTF-8 >"$dir/log/initdb.out"
  fi
  mkdir -p "$dir/pg-run"; touch "$dir/log/postgresql.log"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg-run" "$dir/log/postgresql.log"
  as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/log/postgresql.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $dir/pg-run" start >/dev/null || die "PostgreSQL did not start (see $dir/log/postgresql.log)"
  PG_PID=$(head -1 "$dir/pg/postmaster.pid")
  # From here on `down` can stop what runs, even when a later step fails.
  write_state
  as_pg "$bin/psql" -h "$dir/pg-run" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 -d postgres <<EOF
DO \$\$ BEGIN
  CREATE ROLE lavaserver LOGIN;
  EXCEPTION WHEN duplicate_object THEN NULL;
END \$\$;
ALTER ROLE lavaserver PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE lavaserver OWNER lavaserver TEMPLATE template0 ENCODING ''UTF-8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'''
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'lavaserver')\gexec
EOF
  lava_env
  log "PostgreSQL on 127.0.0.1:$PG_PORT ($(( $(date +%s) - t0 )) s); migrating"
  manage migrate --noinput >"$dir/log/migrate.out" 2>&1 || die "migrations failed (see $dir/log/migrate.out)"
  log "migrated ($(( $(date +%s) - t0 )) s)"

  # The devices' dictionaries. No /dev/kvm in a container: no_kvm drops -enable-kvm (QEMU emulates, TCG).
  local kvm=False name
  [ -w /dev/kvm ] || kvm=True
  DEVICES=
  for i in $(seq 1 "$devices"); do
    name=$(printf 'qemu-%02d' "$i")
    cat > "$dir/etc/devices/$name.jinja2" <<EOF
{% extends 'qemu.jinja2' %}
{% set mac_addr = '52:54:00:12:34:$(printf '%02x' "$i")' %}
{% set memory = 512 %}
{% set no_kvm = $kvm %}
EOF
    DEVICES="$DEVICES $name"
  done
  DEVICES=${DEVICES# }

  # The admin, its API token (the one patchbay sends as `Authorization: Token …`), the device type, the worker and
  # its devices: the same management commands as `lava-server manage users add …`, in one Django process (each
  # `lava-server manage` start costs seconds).
  WORKER_TOKEN=$(LAB_ADMIN_PASSWORD=$ADMIN_PASSWORD LAB_TOKEN=$TOKEN LAB_WORKER=$WORKER LAB_DEVICES=$DEVICES \
    LAB_HOST=$(hostname) manage shell 2>"$dir/log/setup.out" <<'PY'
import os
from django.contrib.auth.models import User
from django.core.management import call_command
from lava_scheduler_app.models import Device, DeviceType, Worker
from linaro_django_xmlrpc.models import AuthToken
e = os.environ
quiet = {"stdout": open(os.devnull, "w")}
if not User.objects.filter(username="admin").exists():
    call_command("users", "add", "admin", "--superuser", "--staff", "--email", "admin@localhost", "--passwd", e["LAB_ADMIN_PASSWORD"], **quiet)
if not AuthToken.objects.filter(secret=e["LAB_TOKEN"]).exists():
    call_command("tokens", "add", "--user", "admin", "--secret", e["LAB_TOKEN"], "--description", "lava-lab", **quiet)
if not DeviceType.objects.filter(name="qemu").exists():
    call_command("device-types", "add", "qemu", **quiet)
if not Worker.objects.filter(hostname=e["LAB_WORKER"]).exists():
    call_command("workers", "add", e["LAB_WORKER"], "--description", "lava-lab on " + e["LAB_HOST"], **quiet)
for name in e["LAB_DEVICES"].split():
    if Device.objects.filter(hostname=name).exists():
        call_command("devices", "update", name, "--worker", e["LAB_WORKER"], "--health", "UNKNOWN", **quiet)
    else:
        call_command("devices", "add", name, "--device-type", "qemu", "--worker", e["LAB_WORKER"], **quiet)
print(Worker.objects.get(hostname=e["LAB_WORKER"]).token)
PY
  ) || die "setting up the admin, worker and devices failed (see $dir/log/setup.out)"
  WORKER_TOKEN=$(echo "$WORKER_TOKEN" | tail -1)
  [ -n "$WORKER_TOKEN" ] || die "no token for worker $WORKER (see $dir/log/setup.out)"

  # The worker's dispatcher configuration and environment: lava-server reads them only from
  # /etc/lava-server/dispatcher.d/<worker>/ (not a setting). The prefix keeps this lab's job folders in
  # /var/lib/lava/dispatcher/tmp apart from another lab's; the environment carries LAVA_LAB_ID to lava-run.
  mkdir -p "$(dispatcher_d)"
  printf 'prefix: "%s-"\n' "$LAVA_LAB_ID" > "$(dispatcher_d)/dispatcher.yaml"
  cat > "$(dispatcher_d)/env.yaml" <<EOF
# written by patchbay's scripts/lava-lab.sh for the lab in $dir; removed by its down
purge: true
overrides:
  LC_ALL: C.UTF-8
  LANG: C
  PATH: /usr/local/bin:/usr/local/sbin:/bin:/usr/bin:/usr/sbin:/sbin
  LAVA_LAB_ID: "$LAVA_LAB_ID"
EOF

  log "lab configured ($(( $(date +%s) - t0 )) s); starting the daemons"

  # The daemons, as Debian's units run them (lava-server-gunicorn.service, lava-scheduler.service,
  # lava-worker.service), in the foreground of their own session. No lava-publisher: EVENT_NOTIFICATION is off, and
  # the worker polls the server every --ping-interval seconds instead of waiting for its websocket.
  # gunicorn's workers and the scheduler run as lavaserver (Debian's user for them); lava-worker runs as root, as its
  # unit does (lava-run needs /var/lib/lava and QEMU).
  touch "$dir"/log/{django,gunicorn,lava-scheduler}.log
  chown -R lavaserver:lavaserver "$dir/media" "$dir/etc" "$dir"/log/{django,gunicorn,lava-scheduler}.log
  SERVER_PID=$(spawn gunicorn gunicorn3 lava_server.wsgi --bind "$listen:$PORT" -u lavaserver -g lavaserver \
    --worker-class eventlet --workers 2 --timeout 120 --log-level info --log-file "$dir/log/gunicorn.log")
  SCHEDULER_PID=$(spawn lava-scheduler lava-server manage lava-scheduler --level DEBUG --log-file "$dir/log/lava-scheduler.log")
  wait_http "${LOCAL_URL}api/v0.2/system/version/" || { write_state; die "lava-server did not answer on $URL (see $dir/log/gunicorn.log)"; }
  start_worker
  write_state
  # The devices go Idle once the worker's first ping reached the server.
  for i in $(seq 1 120); do
    curl -fsS -H "Authorization: Token $TOKEN" "${LOCAL_URL}api/v0.2/workers/$WORKER/" 2>/dev/null | grep -q '"state":"Online"' && break
    sleep 0.5
  done
  log "up in $(( $(date +%s) - t0 )) s"
  status
}

down() {
  [ -f "$state" ] || { log "no lab in $dir"; return 0; }
  load_state
  lava_env
  local pids
  # The worker first (no new job starts), PostgreSQL (its own way), then everything else of the lab.
  stop_pids "$WORKER_PID"
  if [ -f "$dir/pg/postmaster.pid" ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$dir/pg" -m fast -w -t 60 stop >/dev/null || stop_pids "$PG_PID"
  fi
  mapfile -t pids < <(lab_pids)
  stop_pids "${pids[@]}"
  rm -rf "/etc/lava-server/dispatcher.d/$WORKER"
  rm -rf /var/lib/lava/dispatcher/tmp/"$LAVA_LAB_ID"-*
  mapfile -t pids < <(lab_pids)
  [ ${#pids[@]} = 0 ] || die "still running after down: ${pids[*]}"
  rm -f "$state"
  log "down"
}

status() {
  load_state
  local rc=0 name pid
  echo "url: $URL"
  echo "token: $TOKEN"
  echo "worker: $WORKER"
  echo "devices: $DEVICES"
  echo "state: $state"
  for name in PG SERVER SCHEDULER WORKER; do
    eval "pid=\$${name}_PID"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: $pid running"; else echo "$name: $pid stopped"; rc=1; fi
  done
  return $rc
}

case $cmd in
  install) install_packages ;;
  up) up ;;
  down) down ;;
  status) status ;;
  worker-stop)
    load_state
    stop_pids "$WORKER_PID"
    log "worker $WORKER stopped" ;;
  worker-start)
    load_state
    kill -0 "$WORKER_PID" 2>/dev/null && die "worker already runs ($WORKER_PID)"
    lava_env
    start_worker
    write_state
    log "worker $WORKER started ($WORKER_PID)" ;;
  manage)
    load_state
    lava_env
    shift
    exec lava-server manage "$@" ;;
  *) die "unknown command $cmd" ;;
esac
