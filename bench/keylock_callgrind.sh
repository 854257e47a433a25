#!/bin/bash
# bench/keylock_callgrind.sh
#	Instructions per blind write, counted by callgrind: on a shared machine
#	the CPU time of a few microseconds saved per write drowns in the noise
#	of bench/keylock_bench.sh, instruction counts do not.  Runs the whole
#	instance under valgrind --tool=callgrind (every forked process writes its
#	own profile), one pgbench client doing TX transactions of each workload
#	(inc100: UPDATE cnt SET n = n + 1 WHERE k = :k over 100 keys; put100:
#	INSERT INTO kv VALUES (:k, ...) into an on_duplicate 'overwrite' table
#	over 100 keys), for each of two builds, and prints per transaction the
#	instructions of the backend (less those of a session that runs one
#	SELECT 1: its start and end),
#	and the inclusive instructions of the key-lock calls (lsm_lock_key,
#	lsm_lock_key_shared, lsm_try_lock_key) and of LockReleaseAll (where the lock manager drops the transaction's locks).
#
#	  BEFORE=/path/a.so AFTER=/path/b.so [TX=3000] PG_CONFIG=... \
#	  bash bench/keylock_callgrind.sh
#
#	Installs each .so in turn into $PG_CONFIG --pkglibdir (a private copy of
#	Postgres only); leaves AFTER installed.  Never part of the test command.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
LIBDIR=$("$PG_CONFIG" --pkglibdir)
TX=${TX:-3000}
PORT=${PORT:-55438}
: "${BEFORE:?BEFORE=path of the old lsm_fdw.so}"
: "${AFTER:?AFTER=path of the new lsm_fdw.so}"

DIR=$(mktemp -d /var/tmp/keylock_cg.XXXXXX)
chmod 755 "$DIR"
chown postgres: "$DIR"
PGDATA_DIR="$DIR/data"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PSQL=("$PGBIN/psql" -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres)
stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 300 stop >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$DIR"' EXIT

as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -E UTF8 -U postgres >"$DIR/initdb.log" 2>&1
cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
shared_preload_libraries = 'lsm_fdw'
listen_addresses = ''
unix_socket_directories = '$DIR'
port = $PORT
synchronous_commit = off
lsm_fdw.synchronous_commit = off
autovacuum = off
EOF
printf '\\set k random(1, 100)\nUPDATE cnt SET n = n + 1 WHERE k = :k;\n' >"$DIR/inc100.sql"
printf "\\\\set k random(1, 100)\nINSERT INTO kv VALUES (:k, repeat('v', 100));\n" >"$DIR/put100.sql"
chmod 644 "$DIR"/*.sql

for build in before after; do
	so=$BEFORE
	[ $build = after ] && so=$AFTER
	install -m 755 "$so" "$LIBDIR/lsm_fdw.so"
	mkdir -p "$DIR/cg.$build"
	chown postgres: "$DIR/cg.$build"
	as_pg sh -c "valgrind --tool=callgrind --callgrind-out-file='$DIR/cg.$build/cg.%p' \
		'$PGBIN/postgres' -D '$PGDATA_DIR' >'$DIR/server.$build.log' 2>&1 &"
	for i in $(seq 1 300); do
		"${PSQL[@]}" -c "SELECT 1" >/dev/null 2>&1 && break
		sleep 1
	done
	"${PSQL[@]}" <<'EOF'
CREATE EXTENSION IF NOT EXISTS lsm_fdw;
CREATE SERVER IF NOT EXISTS lsm FOREIGN DATA WRAPPER lsm_fdw;
DROP FOREIGN TABLE IF EXISTS cnt, kv;
CREATE FOREIGN TABLE cnt (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
CREATE FOREIGN TABLE kv (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (on_duplicate 'overwrite');
INSERT INTO cnt SELECT g, 0 FROM generate_series(1, 100) g;
EOF
	for w in start inc100 put100; do
		before_files=$(ls "$DIR/cg.$build")
		if [ $w = start ]; then
			# a session that runs one SELECT 1: the cost of a session start
			"$PGBIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -t 1 -c 1 \
				-f <(echo "SELECT 1;") postgres >/dev/null 2>&1
		else
			"$PGBIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -t "$TX" -c 1 \
				-f "$DIR/$w.sql" postgres >"$DIR/pgbench.$build.$w.log" 2>&1
		fi
		sleep 2
		# the profile the pgbench backend wrote when it exited
		f=$(ls -t "$DIR/cg.$build" | { grep -vxF -f <(echo "$before_files") || true; } | head -1)
		callgrind_annotate --inclusive=yes --threshold=100 "$DIR/cg.$build/$f" >"$DIR/$build.$w.txt" 2>/dev/null || true
		total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$DIR/$build.$w.txt")
		if [ $w = start ]; then
			start_ir=$total
			continue
		fi
		# inclusive: the first (summary) line of each function
		incl() { awk -v fn=":$1 " 'index($0, fn) && !n {gsub(",", "", $1); print $1; n = 1}' "$DIR/$build.$w.txt"; }
		lock=0
		for fn in lsm_lock_key lsm_lock_key_shared lsm_try_lock_key; do
			lock=$((lock + $(incl $fn) + 0))
		done
		rel=$(($(incl LockReleaseAll) + 0))
		echo "$w $build Ir/tx=$(((total - start_ir) / TX)) key_lock_calls/tx=$((lock / TX)) LockReleaseAll/tx=$((rel / TX))"
	done
	[ -n "${KEEP:-}" ] && cp "$DIR"/*.txt "$KEEP/"
	stop
done
install -m 755 "$AFTER" "$LIBDIR/lsm_fdw.so"
