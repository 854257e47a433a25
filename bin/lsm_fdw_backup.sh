#!/bin/bash
# lsm_fdw_backup.sh: an online backup of a server with lsm_fdw tables, and
# a check of the restored copy.
#
#   lsm_fdw_backup.sh -d CONNINFO -D TARGET [-n]
#
# 1. SELECT lsm_fdw_backup('TARGET/lsm') on the running server (psql): a
#    consistent copy of every lsm_fdw table at one point of the lsm_fdw log.
#    Writes TARGET/lsm/lsm_fdw/ (backup_label.json says the point).
# 2. pg_basebackup -X stream into TARGET/base (the heap side: catalogs and
#    heap tables), taken AFTER step 1, so that the heap side knows the fate
#    of every transaction the lsm log refers to.  Its lsm_fdw/ (copied
#    while the tables were written, not consistent) is replaced by the one
#    of step 1.  TARGET/base is then a data directory ready to start: its
#    start replays the heap WAL, then lsm_fdw replays its log to the point.
# 3. Unless -n: start a scratch copy of TARGET/base on a private socket and
#    run lsm_fdw_verify on every lsm_fdw table of every database; the
#    backup is kept only if no problem is found (exit 0), else exit 1.
#
# The server's user must be allowed lsm_fdw_backup (superuser or
# pg_write_server_files) and replication (pg_basebackup).  TARGET must not
# exist or be empty, and the server must be able to write there (the
# backup is written by the server, as COPY TO a file).  psql, pg_basebackup
# and pg_ctl are taken from PATH, or from PGBIN when set.
set -euo pipefail

usage() { echo "usage: $0 -d CONNINFO -D TARGET [-n]" >&2; exit 2; }
conn=""; target=""; verify=1
while getopts "d:D:n" o; do
	case "$o" in
		d) conn="$OPTARG" ;;
		D) target="$OPTARG" ;;
		n) verify=0 ;;
		*) usage ;;
	esac
done
[ -n "$conn" ] && [ -n "$target" ] || usage
case "$target" in /*) ;; *) echo "$0: TARGET must be an absolute path" >&2; exit 2 ;; esac
bin="${PGBIN:+$PGBIN/}"

mkdir -p "$target"
echo "lsm_fdw_backup: lsm tables into $target/lsm"
"${bin}psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$conn" \
	-c "SELECT lsm_fdw_backup('${target//\'/\'\'}/lsm')" >"$target/lsm_backup.json"
cat "$target/lsm_backup.json"

echo "lsm_fdw_backup: heap side into $target/base (pg_basebackup)"
"${bin}pg_basebackup" -d "$conn" -D "$target/base" -X stream -c fast
rm -rf "$target/base/lsm_fdw"
cp -a "$target/lsm/lsm_fdw" "$target/base/lsm_fdw"

[ "$verify" -eq 1 ] || exit 0

scratch=$(mktemp -d "${TMPDIR:-/tmp}/lsm_fdw_verify.XXXXXX")
trap '"${bin}pg_ctl" -D "$scratch/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
cp -a "$target/base" "$scratch/data"
chmod 700 "$scratch/data"
port=$(( 20000 + RANDOM % 20000 ))
"${bin}pg_ctl" -D "$scratch/data" -w -l "$scratch/log" \
	-o "-p $port -c listen_addresses='' -c unix_socket_directories='$scratch' -c archive_mode=off" start >/dev/null
q() { "${bin}psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$scratch" -p "$port" -d "$1" -c "$2"; }
problems=0
for db in $(q postgres "SELECT datname FROM pg_database WHERE datallowconn"); do
	has=$(q "$db" "SELECT count(*) FROM pg_extension WHERE extname = 'lsm_fdw'")
	[ "$has" = 1 ] || continue
	for t in $(q "$db" "SELECT c.oid FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
	                    JOIN pg_foreign_server s ON s.oid = ft.ftserver
	                    JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
	                    WHERE w.fdwname = 'lsm_fdw'"); do
		r=$(q "$db" "SELECT '$t'::regclass || ' ' || lsm_fdw_verify($t)::text")
		echo "verify $db.$r"
		p=$(echo "$r" | sed -n 's/.*"problems": \([0-9]*\).*/\1/p')
		problems=$((problems + p))
	done
done
if [ "$problems" -ne 0 ]; then
	echo "lsm_fdw_backup: the restored copy has $problems problem(s); see above" >&2
	exit 1
fi
echo "lsm_fdw_backup: restored copy verified, no problem"
