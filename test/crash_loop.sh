#!/usr/bin/env bash
# The long crash test: t/001_crash.pl (several clients writing the same
# lsm_fdw tables, the postmaster killed with SIGKILL at a random moment,
# every acknowledged commit checked after the restart) for 200 rounds,
# about 10-15 minutes on 2 cores:
#
#   bash test/crash_loop.sh                 # 200 rounds, new seed
#   bash test/crash_loop.sh 50              # 50 rounds
#   LSM_TEST_SEED=123 bash test/crash_loop.sh   # replay a seed
#   LSM_CRASH_CLIENTS=6 bash test/crash_loop.sh # more clients (1-7)
#   LSM_CRASH_TEST=t/017_counter_crash.pl bash test/crash_loop.sh 100
#                       # the counters' crash test instead (16 clients:
#                       # increments and on_duplicate 'sum' inserts), about
#                       # 8 s a round
#
# Like test/run_all.sh it installs what is missing, builds and installs
# lsm_fdw (--no-build skips that), then runs the test as the postgres user
# in a scratch directory.  It prints the seed, one line per round (with
# what went wrong, if anything), and ends with prove's "Result: PASS" or
# "Result: FAIL"; the exit status is prove's.  KEEP_TEST_OUTPUT=1 keeps the scratch directory (server logs
# under out_tap/log, the clients' scripts under out_tap/tmp_check).
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo --preserve-env=PG_CONFIG,LSM_TEST_SEED,LSM_CRASH_CLIENTS,LSM_CRASH_TEST,KEEP_TEST_OUTPUT bash "$0" "$@"
fi
. test/lib.sh

BUILD=1
[ "${1:-}" = "--no-build" ] && { BUILD=0; shift; }
ROUNDS=${1:-200}

if [ $BUILD = 1 ]; then
	lsm_install_deps || exit 1
	lsm_build_install || { echo "build failed"; exit 1; }
fi

PGBIN=$($PG_CONFIG --bindir)
PGXS_SRC=$(dirname "$($PG_CONFIG --pgxs)")/..
OUT=$(mktemp -d /tmp/lsm_crash.XXXXXX)
chmod 755 "$OUT"
trap '[ "${KEEP_TEST_OUTPUT:-0}" = 1 ] && echo "output kept in $OUT" || rm -rf "$OUT"' EXIT
cp -r t "$OUT/"
mkdir -p "$OUT/out_tap"
chown -R postgres: "$OUT" 2>/dev/null || true

(cd "$OUT" && lsm_as_postgres env PATH="$PGBIN:$PATH" TESTDIR="$OUT/out_tap" \
	LSM_CRASH_ROUNDS="$ROUNDS" LSM_COUNTER_ROUNDS="$ROUNDS" PG_REGRESS="$PGXS_SRC/test/regress/pg_regress" \
	prove -v -I "$PGXS_SRC/test/perl" -I "$OUT/t" "${LSM_CRASH_TEST:-t/001_crash.pl}") 2>&1
