#!/usr/bin/env bash
# A throwaway 3-node Citus cluster on this machine (coordinator + 2 workers on loopback), for
# `npm run test:citus`. Needs PostgreSQL's server binaries with the citus extension installed
# (README, "Citus"). Runs the servers as the OS user `postgres` (initdb refuses root).
#
#   db/citus/local-cluster.sh start [DIR]   initdb (first time) and start; prints CITUS_URLS
#   db/citus/local-cluster.sh stop  [DIR]
#
# Ports: CITUS_PORT (default 9700) for the coordinator, the next two for the workers.
set -euo pipefail
action=${1:?start or stop}
dir=${2:-/tmp/citus-cluster}
base=${CITUS_PORT:-9700}
bin=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$dir" && [ "$(id -u)" = 0 ] && chown postgres "$dir"
for i in 0 1 2; do
  node="$dir/node$i" port=$((base + i))
  if [ "$action" = stop ]; then
    [ -f "$node/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$node" -m fast -w stop >/dev/null
    continue
  fi
  if [ ! -f "$node/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$node" -U postgres --auth=trust >/dev/null
    cat >>"$node/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
# Citus requires SSL between nodes unless told otherwise; loopback needs none.
citus.node_conninfo = 'sslmode=prefer'
# Citus commits a transaction that wrote several nodes in two phases.
max_prepared_transactions = 100
max_connections = 300
CONF
  fi
  [ -f "$node/postmaster.pid" ] || as_pg "$bin/pg_ctl" -D "$node" -l "$node/log" -w start >/dev/null
done
if [ "$action" = start ]; then
  echo "CITUS_URLS=postgres://postgres@127.0.0.1:$base/postgres,postgres://postgres@127.0.0.1:$((base + 1))/postgres,postgres://postgres@127.0.0.1:$((base + 2))/postgres"
fi
