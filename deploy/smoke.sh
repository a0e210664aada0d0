#!/usr/bin/env bash
# The deployment smoke test: builds the image and brings up docker-compose.yml's stack here, then
#   - the migration runs once; the scheduler, both workers and the console become healthy (their
#     healthchecks); a console login signs in and reads the today page;
#   - `hotline demo` runs in the image as its non-root user;
#   - a job enqueued through Redis is run by a worker, and its messages reach the SMTP sink through
#     the outbox schedule;
#   - an edit of schedules.yaml saved by rename (as editors do) is picked up through the mounted folder;
#   - the scheduler container is killed and restarted: every slot of a minutely schedule is in the
#     ledger exactly once, before, during and after the outage; no slot of any schedule twice;
# and tears everything down.  Exit status 0 only if every check passed.
#
# It needs root on Debian: without a Docker engine it installs docker.io, docker-compose and
# debootstrap and runs a private dockerd (no bridge, vfs storage, its files under $HOTLINE_STACK_DIR);
# with no registry reachable, the service images compose names (postgres:15, redis:7,
# axllent/mailpit:latest) and our base python:3.11-slim-bookworm are stand-ins built from Debian's
# packages (deploy/standins/) on a debootstrapped bookworm.  With DOCKER_HOST set, that engine is used.
#   deploy/smoke.sh            KEEP=1 deploy/smoke.sh  (leave the stack up)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${HOTLINE_STACK_DIR:-/tmp/hotline-stack}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
started=$(date +%s)
step() { printf '== [%4ds] %s\n' $(( $(date +%s) - started )) "$*"; }
die() { echo "SMOKE FAILED: $*" >&2; exit 1; }
mkdir -p "$work"

# -- the engine -----------------------------------------------------------------------------------
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ -n "${DOCKER_HOST:-}" ] || command -v dockerd >/dev/null || missing+=(docker.io)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "needs ${missing[*]} (as root: apt-get install ${missing[*]})"
  step "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${DOCKER_HOST:-}" ]; then
  export DOCKER_HOST="unix://$work/docker.sock"
  if ! docker info >/dev/null 2>&1; then
    step "starting a private dockerd ($work)"
    mkdir -p "$work/data" "$work/exec"
    dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none --storage-driver=vfs \
      --data-root "$work/data" --exec-root "$work/exec" --host "$DOCKER_HOST" --pidfile "$work/docker.pid" \
      > "$work/dockerd.log" 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not start: $work/dockerd.log"
  fi
fi
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

# -- images ---------------------------------------------------------------------------------------
has_image() { docker image inspect "$1" >/dev/null 2>&1; }
if ! has_image hotline-base:bookworm; then
  if [ ! -x "$work/rootfs/usr/bin/apt-get" ]; then
    step "debootstrap bookworm (minbase) from $mirror"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
      || die "debootstrap failed: $work/debootstrap.log"
  fi
  # The CA bundle this machine's pip uses, where apt's ca-certificates will not rewrite it.
  ca="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
  [ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
  mkdir -p "$work/rootfs/etc/hotline-host-ca" && cp "$ca" "$work/rootfs/etc/hotline-host-ca/ca.pem"
  step "importing the base image"
  tar -C "$work/rootfs" -c . | docker import - hotline-base:bookworm >/dev/null
fi
for pair in python.Dockerfile=python:3.11-slim-bookworm postgres.Dockerfile=postgres:15 \
            redis.Dockerfile=redis:7 smtp-sink.Dockerfile=axllent/mailpit:latest; do
  file="${pair%%=*}" tag="${pair#*=}"
  if ! has_image "$tag"; then
    step "stand-in $tag ($file)"
    docker build -q --network host -t "$tag" -f "deploy/standins/$file" deploy/standins >/dev/null \
      || die "stand-in $tag did not build"
  fi
done
step "building hotline-worker:latest"
build_started=$(date +%s)
docker build -q --network host -t hotline-worker:latest . >/dev/null || die "the image did not build"
step "image built in $(( $(date +%s) - build_started )) s"

# -- the stack ------------------------------------------------------------------------------------
export HOTLINE_CONFIG_DIR="$work/etc" HOTLINE_ENV_FILE="$work/hotline.env"
rm -rf "$HOTLINE_CONFIG_DIR" && deploy/init-config.sh "$HOTLINE_CONFIG_DIR" >/dev/null
chmod -R a+rX "$HOTLINE_CONFIG_DIR"
password="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sed -e "s/change-me/$password/g" -e "s/@postgres:5432/@127.0.0.1:55432/" -e "s#redis://redis:6379#redis://127.0.0.1:56379#" \
    -e "s/^SMTP_HOST=mail/SMTP_HOST=127.0.0.1/" -e "s/^SMTP_PORT=1025/SMTP_PORT=51025/" \
    deploy/hotline.env.example > "$HOTLINE_ENV_FILE"
compose() { docker-compose -p hotline-smoke -f docker-compose.yml -f deploy/compose.sandbox.yml "$@"; }
container() { compose ps -q "$1"; }
psql_() { compose exec -T postgres psql -U hotline -d hotline -tAc "$1"; }
teardown() {
  local rc=$?
  if [ "${KEEP:-0}" = 1 ]; then echo "stack left up (KEEP=1): docker-compose -p hotline-smoke …"; return; fi
  compose logs --no-color > "$work/stack.log" 2>&1 || true
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  echo "== [$(( $(date +%s) - started ))s] torn down; logs in $work/stack.log; exit $rc"
}
trap teardown EXIT
step "docker-compose up -d"
up_started=$(date +%s)
compose up -d >/dev/null 2>"$work/up.log" || { cat "$work/up.log" >&2; die "compose up failed"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  local until=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$until" ] || die "$what: not within $limit s"
    sleep 2
  done
}
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$(container "$1")")" = healthy ]; }
for service in scheduler worker-1 worker-2 web; do
  wait_for 300 "$service healthy" healthy "$service"
done
step "scheduler, worker-1, worker-2, web healthy $(( $(date +%s) - up_started )) s after up"

[ "$(docker inspect -f '{{.State.ExitCode}}' "$(container migrate)")" = 0 ] || die "the migration failed"
[ "$(compose logs --no-color migrate | grep -c 'database ready')" = 1 ] || die "the migration did not run exactly once"
[ "$(psql_ 'select count(*) from units')" -gt 0 ] || die "the directory was not loaded"
step "migration ran once; directory loaded ($(psql_ 'select count(*) from units') units)"

# (exec, not run: on the host network compose v1 refuses the links `run` adds.)
compose exec -T scheduler hotline demo --weeks 1 --per-day 8 > "$work/demo.log" 2>&1 \
  || { tail -20 "$work/demo.log" >&2; die "hotline demo failed in the image"; }
step "hotline demo in the image as $(compose exec -T scheduler id -un), into \$HOTLINE_VAR/demo: $(grep -o '[0-9]* documents' "$work/demo.log" | head -1)"

# A job through Redis: tickets imported, a daily sheet enqueued (not --inline), run by a worker.
compose exec -T scheduler hotline demo-data --out /var/lib/hotline/smoke.csv --from 2026-10-19 --to 2026-11-13 \
  --per-day 12 >/dev/null
compose exec -T scheduler hotline import /var/lib/hotline/smoke.csv >/dev/null
compose exec -T scheduler hotline run daily_sheet --at "2026-11-16 08:30" | grep -q queued || die "not queued"
sheet_done() { [ "$(psql_ "select state from runs where job = 'daily_sheet' and period_key = '2026-11-16'")" = succeeded ]; }
wait_for 240 "the daily sheet run by a worker" sheet_done
step "daily sheet run through Redis by a worker; $(psql_ "select count(*) from outbox") messages in the outbox"
received() { compose logs --no-color mail | grep -q 'subject=【日调度】'; }
wait_for 300 "the daily sheet's message at the SMTP sink (outbox schedule, every 2 minutes)" received
step "at the SMTP sink: $(compose logs --no-color mail | grep -m1 -o 'subject=【日调度】.*')"

# The console: a login added in the web container, signed in over HTTP, the today page read.
echo "smoke console password" | compose exec -T web hotline console-user add center@example.gov.cn --password-stdin >/dev/null
jar="$work/cookies.txt"; rm -f "$jar"
token="$(curl -fsS -c "$jar" http://127.0.0.1:58080/login | grep -o 'name="csrf" value="[^"]*"' | cut -d'"' -f4)"
curl -fsS -b "$jar" -c "$jar" -o /dev/null -d "csrf=$token" --data-urlencode "email=center@example.gov.cn" \
  --data-urlencode "password=smoke console password" http://127.0.0.1:58080/login || die "console login failed"
today="$(curl -fsS -b "$jar" http://127.0.0.1:58080/today)" || die "the console's today page failed"
grep -q '今日工单情况' <<<"$today" || die "the today page has no heading"
step "console: signed in as the centre, today page with $(grep -c 'href="/units/' <<<"$today") units listed"

# An edit saved by rename, as editors do: the scheduler sees it through the mounted folder.
{ cat "$HOTLINE_CONFIG_DIR/schedules.yaml"
  printf '  - name: smoke-minutely\n    actor: send_outbox\n    cron: "* * * * *"\n    misfire: catch_up\n    grace_minutes: 30\n'
} > "$HOTLINE_CONFIG_DIR/.schedules.yaml.new"
chmod a+r "$HOTLINE_CONFIG_DIR/.schedules.yaml.new" && mv "$HOTLINE_CONFIG_DIR/.schedules.yaml.new" "$HOTLINE_CONFIG_DIR/schedules.yaml"
minutely() { psql_ "select count(*) from runs where schedule = 'smoke-minutely'"; }
has_minutely() { [ "$(minutely)" -ge "$1" ]; }
wait_for 150 "the renamed schedules.yaml reloaded" has_minutely 2
step "schedules.yaml edited by rename: reloaded, smoke-minutely fired $(minutely) times"

# The scheduler killed (SIGKILL) for two minutes and started again.
docker kill "$(container scheduler)" >/dev/null
killed_at=$(date +%s)
sleep 125
docker start "$(container scheduler)" >/dev/null
wait_for 120 "the scheduler healthy after its restart" healthy scheduler
before=$(minutely)
wait_for 120 "a slot fired after the restart" has_minutely $(( before + 1 ))
step "scheduler killed for $(( $(date +%s) - killed_at - 0 )) s and restarted"
gaps="$(psql_ "with r as (select nominal_at from runs where schedule = 'smoke-minutely'),
  span as (select generate_series(min(nominal_at), max(nominal_at), interval '1 minute') as at from r)
  select count(*) from span left join r on r.nominal_at = span.at where r.nominal_at is null")"
doubled="$(psql_ "select count(*) from (select schedule, nominal_at from runs where schedule is not null
  group by 1, 2 having count(*) > 1) d")"
states="$(psql_ "select string_agg(state || ' ' || n, ', ') from (select state, count(*) n from runs
  where schedule = 'smoke-minutely' group by 1 order by 1) s")"
[ "$gaps" = 0 ] || die "$gaps minutely slots missing from the ledger"
[ "$doubled" = 0 ] || die "$doubled slots in the ledger twice"
step "ledger exact: $(minutely) minutely slots, none missing, none twice ($states)"
echo "SMOKE PASSED in $(( $(date +%s) - started )) s"
