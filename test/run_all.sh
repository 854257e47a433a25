#!/usr/bin/env bash
# The test command of lsm_fdw: installs what is missing (Debian 12, as
# root), builds with warnings as errors, installs, and runs every suite:
#   engine     standalone C unit tests of src/engine (no server)
#   engine-san the same under AddressSanitizer + UBSan
#   regress    pg_regress over sql/ + expected/ on a temporary instance
#   preload    pg_regress without shared_preload_libraries (must refuse)
#   isolation  specs/*.spec with pg_isolation_regress
#   tap        t/*.pl (crash and recovery tests) with prove
# It ends with one line "N passed, N failed, N skipped" and exits non-zero
# on any failure.  Options: --quick skips engine-san.
set -u
cd "$(dirname "$0")/.."
# Installing packages and lsm_fdw needs root: re-run through sudo when we
# are a sudo user (a root shell, as in a container, has no sudo and needs none).
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo --preserve-env=PG_CONFIG,LSM_SUITES,LSM_TAP,KEEP_TEST_OUTPUT,LSM_TEST_SEED bash "$0" "$@"
fi
ROOT=$PWD
. test/lib.sh

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
# LSM_SUITES="engine regress iso tap" runs only those (default: all);
# LSM_TAP="t/001_crash.pl ..." runs only those TAP files.
want() { [ -z "${LSM_SUITES:-}" ] || [[ " $LSM_SUITES " == *" $1 "* ]]; }

PASSED=0
FAILED=0
SKIPPED=0
count() {		# suite passed failed [skipped]
	local skipped=${4:-0}
	echo "-- $1: $2 passed, $3 failed, $skipped skipped"
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	SKIPPED=$((SKIPPED + skipped))
}

lsm_install_deps || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
lsm_ensure_locale || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
echo "== build"
if ! lsm_build_install; then
	echo "build failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

OUT=$(mktemp -d "${LSM_TEST_TMPDIR:-/tmp}/lsm_test.XXXXXX")
chmod 755 "$OUT"
cleanup() { [ "${KEEP_TEST_OUTPUT:-0}" = 1 ] || rm -rf "$OUT"; }
trap cleanup EXIT

# unfinished LOG: the binaries of an engine log with no TESTS line, each
# with the last lines it printed
unfinished() {
	local b
	for b in $(awk '/^== /{if (b != "") print b; b = $2} /^TESTS /{b = ""} END {if (b != "") print b}' "$1"); do
		echo "--- $b:"
		sed -n "/^== $b\$/,/^== /p" "$1" | grep -v '^== ' | tail -20
	done
}

# Engine unit tests: each binary prints "TESTS passed failed".
run_engine() {	# suite make-args...
	local suite=$1 log="$OUT/$1.log" p=0 f=0
	shift
	echo "== $suite"
	if ! make -s -C test/engine "$@" all >"$log" 2>&1; then
		tail -40 "$log"
		count "$suite" 0 1
		return
	fi
	TMPDIR="$OUT" make -s -C test/engine "$@" check >>"$log" 2>&1
	grep -E '^(FAIL|seed)' "$log" | head -40
	while read -r _ a b; do p=$((p + a)); f=$((f + b)); done < <(grep -E '^TESTS [0-9]+ [0-9]+$' "$log")
	# A binary that crashed prints no TESTS line; count it as a failure.
	local bins ran
	bins=$(grep -c '^== ' "$log")
	ran=$(grep -cE '^TESTS ' "$log")
	[ "$ran" -lt "$bins" ] && { echo "$((bins - ran)) test binaries did not finish:"; unfinished "$log"; grep -B3 -A20 -E 'ERROR: AddressSanitizer|runtime error|Segmentation' "$log" | head -60; f=$((f + bins - ran)); }
	# A suite that ran nothing (its log gone, no binary built) is a failure.
	[ $((p + f)) -eq 0 ] && { echo "$suite ran no test"; f=1; }
	count "$suite" "$p" "$f"
}
want engine && run_engine engine
if [ $QUICK = 0 ] && want engine-san; then run_engine engine-san SAN=1; fi

PGBIN=$($PG_CONFIG --bindir)
PGXS_SRC=$(dirname "$($PG_CONFIG --pgxs)")/..
cp -r sql expected test "$OUT/"
[ -d specs ] && cp -r specs "$OUT/"
[ -d t ] && cp -r t "$OUT/"
[ -d bin ] && cp -r bin "$OUT/"
chown -R postgres: "$OUT" 2>/dev/null || true

# pg_regress prints "test NAME ... ok|FAILED"; count those lines.
count_regress() {	# suite logfile rc
	local p f
	p=$(grep -cE '\.\.\. +ok' "$2")
	f=$(grep -cE '\.\.\. +FAILED|\.\.\. +failed' "$2")
	[ "$3" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	count "$1" "$p" "$f"
}

if want regress; then
echo "== regress"
(cd "$OUT" && lsm_as_postgres "$PGXS_SRC/test/regress/pg_regress" --bindir="$PGBIN" \
	--inputdir=. --outputdir=out_regress --temp-instance=tmp_regress \
	--temp-config=test/temp.conf --encoding=UTF8 \
	--schedule=test/schedule) >"$OUT/regress.log" 2>&1
rc=$?
cat "$OUT/regress.log" | grep -E '^(test|ok|not ok|     )|FAILED' | head -60
[ $rc -ne 0 ] && [ -f "$OUT/out_regress/regression.diffs" ] && head -150 "$OUT/out_regress/regression.diffs"
count_regress regress "$OUT/regress.log" $rc

echo "== preload"
(cd "$OUT" && lsm_as_postgres "$PGXS_SRC/test/regress/pg_regress" --bindir="$PGBIN" \
	--inputdir=. --outputdir=out_preload --temp-instance=tmp_preload \
	--encoding=UTF8 --no-locale preload) >"$OUT/preload.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ -f "$OUT/out_preload/regression.diffs" ] && head -60 "$OUT/out_preload/regression.diffs"
count_regress preload "$OUT/preload.log" $rc
fi

specs=$(cd "$OUT" && ls specs/*.spec 2>/dev/null | xargs -r -n1 basename | sed 's/\.spec$//')
if [ -n "$specs" ] && want iso; then
	echo "== isolation"
	(cd "$OUT" && lsm_as_postgres "$PGXS_SRC/test/isolation/pg_isolation_regress" --bindir="$PGBIN" \
		--inputdir=. --outputdir=out_iso --temp-instance=tmp_iso \
		--temp-config=test/temp.conf --encoding=UTF8 $specs) >"$OUT/iso.log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ -f "$OUT/out_iso/regression.diffs" ] && head -150 "$OUT/out_iso/regression.diffs"
	count_regress isolation "$OUT/iso.log" $rc
fi

# A small disk for the full-disk test (needs root to mount a tmpfs).
SMALL_DISK=""
if [ "$(id -u)" -eq 0 ]; then
	SMALL_DISK="$OUT/small_disk"
	mkdir -p "$SMALL_DISK"
	if mount -t tmpfs -o size=16m tmpfs "$SMALL_DISK" 2>/dev/null; then
		chown postgres: "$SMALL_DISK"
		cleanup() { umount "$SMALL_DISK" 2>/dev/null; [ "${KEEP_TEST_OUTPUT:-0}" = 1 ] || rm -rf "$OUT"; }
	else
		echo "note: could not mount a tmpfs; the full-disk test will be skipped"
		SMALL_DISK=""
	fi
fi

taps=$(cd "$OUT" && ls ${LSM_TAP:-t/*.pl} 2>/dev/null)
if [ -n "$taps" ] && want tap; then
	echo "== tap"
	mkdir -p "$OUT/out_tap" && chown postgres: "$OUT/out_tap" 2>/dev/null
	for tf in $taps; do
		# -v: every "ok N # skip" line is in the log, so skips are counted
		# as skips, not as passes.
		(cd "$OUT" && lsm_as_postgres env PATH="$PGBIN:$PATH" TESTDIR="$OUT/out_tap" LSM_SMALL_DISK="$SMALL_DISK" \
			PG_REGRESS="$PGXS_SRC/test/regress/pg_regress" \
			prove -v -I "$PGXS_SRC/test/perl" -I "$OUT/t" "$tf") >"$OUT/tap.log" 2>&1
		rc=$?
		n=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\).*/\1/p' "$OUT/tap.log")
		bad=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$OUT/tap.log" | head -1)
		skip=$(grep -ciE '^ *ok [0-9]+ # skip' "$OUT/tap.log")
		n=${n:-0}; bad=${bad:-0}
		[ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
		[ $rc -ne 0 ] && { grep -E '^not ok|^#' "$OUT/tap.log" | tail -40; tail -15 "$OUT/tap.log"; ls "$OUT/out_tap"/log 2>/dev/null; }
		[ "$skip" -gt 0 ] && grep -iE '^ *ok [0-9]+ # skip' "$OUT/tap.log" | sort | uniq -c | head -5
		good=$((n - bad - skip))
		count "tap $tf" $((good > 0 ? good : 0)) "$bad" "$skip"
	done
fi

echo
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
