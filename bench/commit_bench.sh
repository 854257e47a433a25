#!/bin/bash
# Durable commits per second against the disk's fsync rate (issue 5).
#
#	bash bench/commit_bench.sh [--duration=S] [--runs=N] [--clients-list=1,4,16]
#
# Starts a throw-away instance on disk (not tmpfs: $BENCH_DIR, default
# /var/tmp/lsm_commit_bench), with fsync on and both synchronous_commit
# settings on, measures the disk with pg_test_fsync (fdatasync of one 8 kB
# write, the call both logs use), then runs pgbench: single-row upserts of a
# random key of 1M with a 100-byte value, into an lsm_fdw table
# (on_duplicate 'overwrite') and into a logged heap table with a primary key
# (INSERT ... ON CONFLICT DO UPDATE), alternating, --runs times each, and
# prints the median commits/s, lsm commits per log fsync (from
# lsm_fdw_server_stats), and the ratio to the fsync rate.  Group commit is
# working when commits/s beat the fsync rate.  Never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

DURATION=10
RUNS=3
CLIENTS_LIST=1,4,16
for arg in "$@"; do
	case $arg in
		--duration=*) DURATION=${arg#*=} ;;
		--runs=*) RUNS=${arg#*=} ;;
		--clients-list=*) CLIENTS_LIST=${arg#*=} ;;
		*) echo "usage: $0 [--duration=S] [--runs=N] [--clients-list=L]" >&2; exit 2 ;;
	esac
done

lsm_install_deps >/dev/null
lsm_build_install >/dev/null
PGBIN=$($PG_CONFIG --bindir)
DIR=${BENCH_DIR:-/var/tmp/lsm_commit_bench}
PORT=54329
as_pg() { lsm_as_postgres "$@"; }
rm -rf "$DIR"
mkdir -p "$DIR"
chown postgres: "$DIR"
# The machine's default locale, as a user's initdb; BENCH_LOCALE=C for a
# C-locale run as an extra.
as_pg "$PGBIN/initdb" -D "$DIR/data" -E UTF8 ${BENCH_LOCALE:+--locale="$BENCH_LOCALE"} >/dev/null
cat >>"$DIR/data/postgresql.conf" <<EOF
shared_preload_libraries = 'lsm_fdw'
port = $PORT
unix_socket_directories = '$DIR'
listen_addresses = ''
max_connections = 40
shared_buffers = 256MB
fsync = on
synchronous_commit = on
lsm_fdw.synchronous_commit = on
EOF
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true' EXIT
PSQL() { as_pg "$PGBIN/psql" -h "$DIR" -p $PORT -d postgres -X -q -t -A "$@"; }

echo "== pg_test_fsync on $DIR"
FSYNC=$(as_pg "$PGBIN/pg_test_fsync" -f "$DIR/fsync_test" -s 3 2>&1 |
	awk '/one 8kB write/ {sect=1} sect && $1 == "fdatasync" {print $2; exit}')
echo "fdatasync, one 8kB write: $FSYNC ops/s"

PSQL <<'EOF'
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE kv_lsm (k int8 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (on_duplicate 'overwrite');
CREATE TABLE kv_heap (k int8 PRIMARY KEY, v text);
EOF
cat >"$DIR/lsm.sql" <<'EOF'
\set k random(1, 1000000)
INSERT INTO kv_lsm VALUES (:k, repeat('v', 100));
EOF
cat >"$DIR/heap.sql" <<'EOF'
\set k random(1, 1000000)
INSERT INTO kv_heap VALUES (:k, repeat('v', 100)) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
EOF
chown postgres: "$DIR"/*.sql

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() {		# script clients -> tps
	as_pg "$PGBIN/pgbench" -h "$DIR" -p $PORT -n -c "$2" -j $(( $2 < 2 ? $2 : 2 )) -T "$DURATION" \
		-f "$DIR/$1.sql" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
syncs() { PSQL -c "SELECT (s->>'log_syncs')::int8 || ' ' || (s->>'log_records')::int8 FROM lsm_fdw_server_stats() s"; }

echo
echo "| clients | lsm_fdw commits/s | commits per log fsync | heap commits/s | lsm/heap | lsm / fdatasync rate |"
echo "|---|---|---|---|---|---|"
for c in ${CLIENTS_LIST//,/ }; do
	: >"$DIR/lsm.tps"; : >"$DIR/heap.tps"; : >"$DIR/per.sync"
	for r in $(seq "$RUNS"); do
		read -r s0 n0 < <(syncs)
		run lsm "$c" >>"$DIR/lsm.tps"
		read -r s1 n1 < <(syncs)
		awk -v a=$((n1 - n0)) -v b=$((s1 - s0)) 'BEGIN {printf "%.2f\n", b ? a / b : 0}' >>"$DIR/per.sync"
		run heap "$c" >>"$DIR/heap.tps"
	done
	l=$(median <"$DIR/lsm.tps"); h=$(median <"$DIR/heap.tps"); p=$(median <"$DIR/per.sync")
	echo "| $c | $l | $p | $h | $(awk -v a="$l" -v b="$h" 'BEGIN {printf "%.2f", a / b}') | $(awk -v a="$l" -v b="$FSYNC" 'BEGIN {printf "%.2f", a / b}') |"
done
echo
echo "command: bash bench/commit_bench.sh --duration=$DURATION --runs=$RUNS --clients-list=$CLIENTS_LIST"
echo "shared memory reserved by lsm_fdw: $(PSQL -c "SELECT lsm_fdw_server_stats()->>'shared_memory_bytes'") bytes"
