#!/usr/bin/env bash
# The README's two commands on a machine that has nothing: a fresh Debian 12 root made with
# debootstrap, Python 3.11 and git added, a clean clone of main, then `make up` (the platform
# must answer through the edge: storefront and the three readyz) and `make test`.
#
#   bench/fresh_machine.sh [REF]      REF defaults to main; output and timings in var/fresh-machine/
#   FRESH_PREPARE_ONLY=1 bench/fresh_machine.sh    only make the root and the clone (no ports used)
#
# Too slow for every CI run (docs/benchmarks.md, set-up section, has its last output).
#
# The root shares this machine's loopback, so this machine's own PostgreSQL, Redis and
# RabbitMQ would answer in place of the root's: they are stopped for the check and started
# again afterwards, whatever happens (trap). Package installs inside the root never start a
# daemon (policy-rc.d), so the root's services run only when its bin/bootstrap starts them.
# Run it on a quiet machine: nothing else may use the shared services meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
REF=${1:-main}
OUT=$REPO/var/fresh-machine
ROOT=$OUT/root
LOG=$OUT/check.log
mkdir -p "$OUT"
: >"$LOG"

say() { printf '[fresh-machine] %s\n' "$*" | tee -a "$LOG"; }
die() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and stopping the shared services need it)"
command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }

# The mirror this machine's apt already uses (nothing is named here).
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt"

in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb LANG=C.UTF-8 "$@"; }
mounted=()
mount_into_root() {
  for m in proc sys dev dev/pts dev/shm; do mkdir -p "$ROOT/$m"; done
  mount -t proc proc "$ROOT/proc" && mounted+=("$ROOT/proc")
  mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys" && mounted+=("$ROOT/sys")
  mount --rbind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev" && mounted+=("$ROOT/dev")
}

SHARED_STOPPED=0
restore_shared() {
  # Whatever the root started goes first (its daemons hold the standard ports)...
  if [ -d "$ROOT/proc" ] && mountpoint -q "$ROOT/proc"; then
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
      [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "$pid" 2>/dev/null || true
    done
    sleep 2
  fi
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -R -l "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
  # ...then this machine's own services come back, with this machine's commands.
  if [ "$SHARED_STOPPED" = 1 ]; then
    say "starting this machine's PostgreSQL, Redis and RabbitMQ again"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    rabbitmq-server -detached || true
    for port in 5432 6379 5672; do
      for _ in $(seq 120); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 1; done
    done
    SHARED_STOPPED=0
  fi
}
trap restore_shared EXIT

t0=$(date +%s)
# 1. The base system: debootstrap's minbase, plus Python 3.11 (Debian 12's python3) and git.
if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  rm -rf "$ROOT"
  say "debootstrap bookworm (minbase) from this machine's mirror ..."
  debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv,git,make,procps,iproute2 \
    bookworm "$ROOT" "$MIRROR" >>"$LOG" 2>&1 || die "debootstrap failed (see $LOG)"
fi
# What this machine needs to reach the registries (its CA bundle, its pip settings).
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp -r /etc/apt/sources.list.d/. "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true
rm -f "$ROOT/etc/apt/sources.list.d/"*.disabled-by-farm
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" && chmod +x "$ROOT/usr/sbin/policy-rc.d"
t_base=$(( $(date +%s) - t0 ))
say "base root ready in ${t_base}s: $(in_root python3 --version)"

# 2. A clean clone of REF.
rm -rf "$ROOT/work"
mkdir -p "$ROOT/work"
git clone -q --branch "$REF" "file://$REPO" "$ROOT/work/flashsale" 2>>"$LOG" \
  || git clone -q "file://$REPO" "$ROOT/work/flashsale"
say "cloned $(git -C "$ROOT/work/flashsale" log --oneline -1)"

if [ "${FRESH_PREPARE_ONLY:-}" = 1 ]; then say "prepared (FRESH_PREPARE_ONLY=1): stopping here"; exit 0; fi
mount_into_root
# 3. The shared services step aside (the root's own must answer on the standard ports).
say "stopping this machine's PostgreSQL, Redis and RabbitMQ for the check"
SHARED_STOPPED=1
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main stop -m fast || true
redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
rabbitmqctl -q stop >/dev/null 2>&1 || true
for port in 5432 6379 5672; do
  for _ in $(seq 60); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null || break; sleep 1; done
  (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && die "port $port still answers"
done

# 4. make up: until the platform is up, then the edge must answer for the storefront and readyz.
t1=$(date +%s)
say "make up ..."
in_root bash -c 'cd /work/flashsale && exec make up' >"$OUT/make-up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1800); do
  grep -q "The platform is up" "$OUT/make-up.log" 2>/dev/null && break
  kill -0 "$up_pid" 2>/dev/null || { tail -40 "$OUT/make-up.log"; die "make up exited (see $OUT/make-up.log)"; }
  sleep 1
done
grep -q "The platform is up" "$OUT/make-up.log" || die "make up did not come up in 30 min"
t_up=$(( $(date +%s) - t1 ))
answers=()
for path in / /health/catalog/readyz /health/order/readyz /health/fulfillment/readyz; do
  code=$(in_root python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:8080$path', timeout=10).status)" 2>/dev/null || echo fail)
  answers+=("$path=$code")
done
say "make up: up in ${t_up}s; through the edge: ${answers[*]}"
in_root bash -c 'cd /work/flashsale && make down' >>"$OUT/make-up.log" 2>&1 || true
wait "$up_pid" || true
for a in "${answers[@]}"; do [ "${a##*=}" = 200 ] || die "the edge did not answer 200: ${answers[*]}"; done

# 5. make test: the whole suite, as CI runs it.
t2=$(date +%s)
say "make test ..."
set +e
in_root bash -c 'cd /work/flashsale && CI=true make test' >"$OUT/make-test.log" 2>&1
rc=$?
set -e
t_test=$(( $(date +%s) - t2 ))
summary=$(grep -E "^(py|lint|  py|  lint|congratulations)|passed|failed" "$OUT/make-test.log" | tail -8)
say "make test: exit $rc in ${t_test}s"
printf '%s\n' "$summary" | tee -a "$LOG"
say "summary: base ${t_base}s, make up ${t_up}s, make test ${t_test}s (exit $rc); logs in $OUT"
exit "$rc"
