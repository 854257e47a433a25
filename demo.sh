#!/usr/bin/env bash
# The demo command of lsm_fdw: installs what is missing (Debian 12, as
# root), builds and installs lsm_fdw, starts a throw-away Postgres 15 on its
# own port with its data in a scratch directory, creates the extension, a
# server and a demo foreign table, then opens psql on it.  When standard
# input is not a terminal it runs demo/tour.sql instead and prints the
# results.  The instance is stopped and its directory removed on exit,
# including on Ctrl-C.  Set LSM_DEMO_PORT to choose the port.
set -eu
cd "$(dirname "$0")"
# Installing packages and lsm_fdw needs root: re-run through sudo when we
# are a sudo user (a root shell, as in a container, has no sudo and needs none).
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo --preserve-env=PG_CONFIG,LSM_DEMO_PORT bash "$0" "$@"
fi
. test/lib.sh

lsm_install_deps
lsm_build_install
PGBIN=$($PG_CONFIG --bindir)

DIR=$(mktemp -d /tmp/lsm_demo.XXXXXX)
chmod 755 "$DIR"
chown postgres: "$DIR" 2>/dev/null || true
PORT=${LSM_DEMO_PORT:-54329}
while (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null || [ -e "/tmp/.s.PGSQL.$PORT" ]; do PORT=$((PORT + 1)); done

stop() {
	trap - EXIT INT TERM
	if [ -f "$DIR/data/postmaster.pid" ]; then
		lsm_as_postgres "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$DIR"
	echo "demo instance stopped and removed"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== creating a throw-away instance in $DIR (port $PORT)"
lsm_as_postgres "$PGBIN/initdb" -D "$DIR/data" -A trust -E UTF8 --no-locale -U postgres >"$DIR/initdb.log" 2>&1
lsm_as_postgres "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
	-o "-p $PORT -k $DIR -c listen_addresses='' -c shared_preload_libraries=lsm_fdw -c max_worker_processes=16" \
	start >/dev/null
PSQL=(lsm_as_postgres "$PGBIN/psql" -h "$DIR" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=0 -d postgres)

echo "== loading demo/setup.sql"
"${PSQL[@]}" -q -f demo/setup.sql

if [ -t 0 ]; then
	echo "== psql on the demo database; \\q to quit (the instance is then removed)"
	"${PSQL[@]}" || true
else
	echo "== standard input is not a terminal: running demo/tour.sql"
	"${PSQL[@]}" -e -f demo/tour.sql
fi
