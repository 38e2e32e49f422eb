#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of jitgate's HA store.
#
#   scripts/postgres.sh up DIR     initdb in DIR/pgdata (first time), start it on a free loopback
#                                  port, write its URL to DIR/url
#   scripts/postgres.sh down DIR   stop it (the data stays until DIR is removed)
#   scripts/postgres.sh run DIR -- CMD...
#                                  up, run CMD with JITGATE_TEST_POSTGRES_URL set, down
#
# Uses the Debian packages' binaries (/usr/lib/postgresql/*/bin); PostgreSQL refuses to run as
# root, so as root the server runs as the `postgres` user. Password authentication (SCRAM) on
# 127.0.0.1 only, superuser `jitgate` with a random password.
set -euo pipefail
cmd=${1:?usage: $0 up|down|run DIR [-- CMD...]}
dir=${2:?usage: $0 up|down|run DIR [-- CMD...]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "postgres.sh: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install the" \
    "Debian package postgresql" >&2
  exit 1
fi
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

up() {
  if [ -f "$dir/url" ] && as_pg "$bin/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
  fi
  if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
    local password
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    (umask 077 && printf '%s\n' "$password" >"$dir/password")
    [ "$(id -u)" = 0 ] && chown postgres "$dir/password"
    as_pg "$bin/initdb" -D "$dir/pgdata" -U jitgate --pwfile="$dir/password" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$bin/pg_ctl" -D "$dir/pgdata" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c fsync=on -c max_connections=200" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
  (umask 077 && printf 'postgres://jitgate:%s@127.0.0.1:%s/postgres\n' "$(cat "$dir/password")" "$port" >"$dir/url")
  echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $dir/pgdata)" >&2
}

down() {
  if [ -f "$dir/pgdata/PG_VERSION" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$dir/url"
}

case "$cmd" in
up) up ;;
down) down ;;
run)
  shift 2
  [ "${1:-}" = -- ] && shift
  trap down EXIT
  up
  JITGATE_TEST_POSTGRES_URL=$(cat "$dir/url") "$@"
  ;;
*)
  echo "usage: $0 up|down|run DIR [-- CMD...]" >&2
  exit 2
  ;;
esac
