#!/bin/bash
# bench/keylock_bench.sh
#	The cost of key locks for blind writes (issue 13 item 1, issue 14 item
#	4): pgbench on a throw-away instance (data directory on disk under
#	/var/tmp, synchronous_commit off for Postgres and lsm_fdw), comparing
#	two builds of lsm_fdw.so on the same data directory, runs alternating
#	between them.  Workloads, each on a lsm_fdw table:
#
#	  inc100    UPDATE cnt SET n = n + 1 WHERE k = :k, k over 100 hot keys
#	            (a merge operand under the key's weak lock)
#	  put100    INSERT INTO kv VALUES (:k, 'v...') into an on_duplicate
#	            'overwrite' table, k over 100 hot keys (a blind overwrite)
#	  put100k   the same over 100000 keys
#
#	For each run: transactions per second (pgbench -T), and CPU per
#	transaction of the whole instance (backends, workers and postmaster;
#	utime + stime from /proc, dead backends through the postmaster's
#	cutime/cstime) and of the backends alone, in microseconds.  The median of RUNS runs per build is
#	printed at the end.
#
#	  BEFORE=/path/a.so AFTER=/path/b.so [CLIENTS=16] [DURATION=20] [RUNS=3]
#	  PG_CONFIG=... bash bench/keylock_bench.sh
#
#	Installs each .so in turn into $PG_CONFIG --pkglibdir (a private copy
#	of Postgres), so never point it at a shared installation; leaves AFTER
#	installed.  Runs Postgres as the postgres user.  Never part of the test
#	command.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
LIBDIR=$("$PG_CONFIG" --pkglibdir)
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20}
RUNS=${RUNS:-3}
PORT=${PORT:-55437}
: "${BEFORE:?BEFORE=path of the old lsm_fdw.so}"
: "${AFTER:?AFTER=path of the new lsm_fdw.so}"

DIR=$(mktemp -d /var/tmp/keylock_bench.XXXXXX)
chmod 755 "$DIR"
chown postgres: "$DIR"
PGDATA_DIR="$DIR/data"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$DIR"' EXIT

as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -E UTF8 -U postgres >"$DIR/initdb.log" 2>&1
cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
shared_preload_libraries = 'lsm_fdw'
listen_addresses = ''
unix_socket_directories = '$DIR'
port = $PORT
max_connections = 100
synchronous_commit = off
lsm_fdw.synchronous_commit = off
EOF

start() {
	install -m 755 "$1" "$LIBDIR/lsm_fdw.so"
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$DIR/server.log" -w start >/dev/null
}
PSQL=("$PGBIN/psql" -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres)

start "$AFTER"
"${PSQL[@]}" <<'EOF'
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE cnt (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
CREATE FOREIGN TABLE kv (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (on_duplicate 'overwrite');
INSERT INTO cnt SELECT g, 0 FROM generate_series(1, 100) g;
EOF
stop

printf '\\set k random(1, 100)\nUPDATE cnt SET n = n + 1 WHERE k = :k;\n' >"$DIR/inc100.sql"
printf "\\\\set k random(1, 100)\nINSERT INTO kv VALUES (:k, repeat('v', 100));\n" >"$DIR/put100.sql"
printf "\\\\set k random(1, 100000)\nINSERT INTO kv VALUES (:k, repeat('v', 100));\n" >"$DIR/put100k.sql"
chmod 644 "$DIR"/*.sql

# CPU ticks of the instance ("all": the postmaster, its live children and
# its reaped children) and of the backends alone ("be": the reaped children,
# cutime + cstime; pgbench's backends exit when it does)
cpu_ticks() {
	local pm all be pid f
	pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
	f=($(sed 's/^.*) //' "/proc/$pm/stat"))
	be=$((f[13] + f[14]))
	all=$((f[11] + f[12] + be))
	for pid in $(pgrep -P "$pm"); do
		f=($(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null || echo))
		[ ${#f[@]} -gt 13 ] && all=$((all + f[11] + f[12]))
	done
	echo "$all $be"
}
HZ=$(getconf CLK_TCK)

RESULTS="$DIR/results"
: >"$RESULTS"
for run in $(seq 1 "$RUNS"); do
	for build in before after; do
		so=$BEFORE
		[ $build = after ] && so=$AFTER
		start "$so"
		for w in inc100 put100 put100k; do
			c0=($(cpu_ticks))
			out=$("$PGBIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared \
				-T "$DURATION" -c "$CLIENTS" -j 2 -f "$DIR/$w.sql" postgres 2>&1)
			sleep 0.5
			c1=($(cpu_ticks))
			tx=$(echo "$out" | awk '/number of transactions actually processed/ {print $NF}' | cut -d/ -f1)
			tps=$(echo "$out" | awk '/^tps/ {printf "%d", $3}')
			us=$(awk -v d=$((c1[0] - c0[0])) -v hz="$HZ" -v tx="$tx" 'BEGIN {printf "%.1f", d / hz * 1e6 / tx}')
			be=$(awk -v d=$((c1[1] - c0[1])) -v hz="$HZ" -v tx="$tx" 'BEGIN {printf "%.1f", d / hz * 1e6 / tx}')
			echo "$w $build $run $tps $us $be" | tee -a "$RESULTS"
		done
		stop
	done
done

echo
echo "median of $RUNS runs, $CLIENTS clients, ${DURATION}s, synchronous_commit off"
printf '%-8s %-7s %8s %10s %10s\n' workload build tps cpu_us/tx backend_us/tx
med() { awk -v w=$1 -v b=$2 -v c=$3 '$1 == w && $2 == b {print $c}' "$RESULTS" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for w in inc100 put100 put100k; do
	for build in before after; do
		printf '%-8s %-7s %8s %10s %10s\n' $w $build "$(med $w $build 4)" "$(med $w $build 5)" "$(med $w $build 6)"
	done
done
install -m 755 "$AFTER" "$LIBDIR/lsm_fdw.so"
