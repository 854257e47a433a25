#!/bin/bash
# bench/engine_vs_rocksdb.sh
#	The LSM engine alone (bench/engine_bench.c, no Postgres) against RocksDB's
#	db_bench from Debian's rocksdb-tools, with the same workloads and
#	parameters, in the same run:
#
#	  fillrandom           num single-put writes in random key order (with
#	                       repeats: about 63% of the keys end up present)
#	  readrandom           reads point gets of random keys below num
#	  seekrandom+100nexts  seeks seeks to random keys, 100 nexts after each
#
#	16-byte keys, 1024-byte values made the db_bench way (compression ratio
#	0.5), block size 4096, 10 bloom bits per key, zstd level 3, an 8 MiB block
#	cache, a 64 MiB write buffer (the FDW's memtable_size default), WAL on and
#	no fsync, one client thread.  Each of the three workloads is its own
#	process; the reads reopen the database the fill left.  The engine runs
#	with 1 background thread by default (--background_threads), which
#	flushes and compacts while the client thread writes, as RocksDB's
#	background jobs do.  Both first wait (untimed, db_bench's and
#	engine_bench's waitforcompaction) for the flushes and compactions the
#	fill left pending, so both stores are read at rest; the engine also
#	waits so right after its fill, in the fill's process.  The engines
#	alternate A/B, B/A, ... over the runs and each database is deleted before
#	the other engine starts; the table shows the median ops/s of each and the
#	ratio engine/RocksDB (above 1: the engine is faster).
#
#	Usage: bench/engine_vs_rocksdb.sh [options]
#	  --runs=N               runs of each engine (env RUNS, default 3)
#	  --num=N                keys (env NUM, default 1000000)
#	  --quick                --num=100000 --runs=1: a check that all works
#	  --reads=N              gets in readrandom (env READS, default num)
#	  --seeks=N              seeks in seekrandom (env SEEKS, default num/100)
#	  --write_buffer_size=B  memtable bytes, both (env WRITE_BUFFER_SIZE)
#	  --cache_size=B         block cache bytes, both (env CACHE_SIZE, 8 MiB)
#	  --background_threads=N the engine's flush and compaction threads (env
#	                         BACKGROUND_THREADS, default 1; 0: the writing
#	                         thread flushes and compacts (auto_compact))
#	  --bench_dir=DIR        where the databases go (env BENCH_DIR, /tmp); a
#	                         fresh subdirectory is made and removed at the end
#	  --out_dir=DIR          logs, table and plot data (env OUT_DIR, bench/out)
#	  --plot=FILE            the PNG chart (env PLOT; default
#	                         docs/benchmarks-engine.png for a full run with the
#	                         default num, OUT_DIR/engine_vs_rocksdb.png else)
#	  --no-plot              no chart
#	  --engine_rev=REV       build the engine of commit REV (git archive;
#	                         env ENGINE_REV) instead of the work tree's
#	                         src/engine, e.g. HEAD to leave uncommitted work
#	                         out; the driver is always bench/engine_bench.c
#	                         and must compile against that commit's lsm.h
#	  --no-install           never apt-get install
#	  --db_bench=PATH        the RocksDB db_bench to compare with (env
#	                         DB_BENCH; default Debian's, an assertion-enabled
#	                         build); e.g. a release build of the same version
#	                         made from its source (docs/benchmarks.md says how)
#	  --quiet_wait=S         before each workload, wait up to S seconds
#	                         (env QUIET_WAIT, default 60; 0: never) until
#	                         other processes use under 20% of a CPU
#
#	The machine may be shared: each workload's line shows how many CPUs the
#	rest of the machine kept busy meanwhile (others: /proc/stat busy time
#	less the benchmark's own user+system time, over the wall time; steal
#	not counted), so that a disturbed sample can be told apart.
#
#	As root, missing Debian packages are installed (rocksdb-tools gnuplot-nox
#	libzstd-dev gcc make).  The engine is built from a copy of src/engine
#	(or of commit --engine_rev's) taken at the start, with -O2 like
#	test/engine/Makefile (without -Werror: a warning in work in progress
#	should not stop a benchmark); a build that fails is retried a minute
#	later, up to BUILD_TRIES (5) times.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
NUM=${NUM:-1000000}
READS=${READS:-}
SEEKS=${SEEKS:-}
NEXTS=100
KEY_SIZE=16
VALUE_SIZE=1024
BLOCK_SIZE=4096
BLOOM_BITS=10
COMPRESSION_LEVEL=3
COMPRESSION_RATIO=0.5
WRITE_BUFFER_SIZE=${WRITE_BUFFER_SIZE:-$((64 * 1024 * 1024))}
CACHE_SIZE=${CACHE_SIZE:-$((8 * 1024 * 1024))}
BACKGROUND_THREADS=${BACKGROUND_THREADS:-1}
BENCH_DIR=${BENCH_DIR:-/tmp}
OUT_DIR=${OUT_DIR:-$ROOT/bench/out}
PLOT=${PLOT:-}
ENGINE_REV=${ENGINE_REV:-}
DO_PLOT=1
DO_INSTALL=1
BUILD_TRIES=${BUILD_TRIES:-5}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_PCT=20
HZ=$(getconf CLK_TCK)
PACKAGES="rocksdb-tools gnuplot-nox libzstd-dev gcc make"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^#[ \t]\{0,1\}//'; }

for arg in "$@"; do
	case "$arg" in
		--runs=*) RUNS=${arg#*=} ;;
		--num=*) NUM=${arg#*=} ;;
		--quick) NUM=100000; RUNS=1 ;;
		--reads=*) READS=${arg#*=} ;;
		--seeks=*) SEEKS=${arg#*=} ;;
		--write_buffer_size=*) WRITE_BUFFER_SIZE=${arg#*=} ;;
		--cache_size=*) CACHE_SIZE=${arg#*=} ;;
		--background_threads=*) BACKGROUND_THREADS=${arg#*=} ;;
		--bench_dir=*) BENCH_DIR=${arg#*=} ;;
		--out_dir=*) OUT_DIR=${arg#*=} ;;
		--plot=*) PLOT=${arg#*=} ;;
		--no-plot) DO_PLOT=0 ;;
		--engine_rev=*) ENGINE_REV=${arg#*=} ;;
		--quiet_wait=*) QUIET_WAIT=${arg#*=} ;;
		--no-install) DO_INSTALL=0 ;;
		--db_bench=*) DB_BENCH=${arg#*=} ;;
		-h|--help) usage; exit 0 ;;
		*) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
	esac
done
for v in RUNS NUM WRITE_BUFFER_SIZE CACHE_SIZE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
[[ $BACKGROUND_THREADS =~ ^[0-9]+$ ]] || { echo "BACKGROUND_THREADS must be a number" >&2; exit 2; }
READS=${READS:-$NUM}
SEEKS=${SEEKS:-$((NUM / 100 > 0 ? NUM / 100 : 1))}
if [ -z "$PLOT" ]; then
	if [ "$NUM" -eq 1000000 ] && [ "$RUNS" -ge 3 ]; then
		PLOT=$ROOT/docs/benchmarks-engine.png
	else
		PLOT=$OUT_DIR/engine_vs_rocksdb.png
	fi
fi

# --- packages -----------------------------------------------------------
install_missing() {
	local missing=() p
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$DO_INSTALL" -eq 0 ] || [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}
if ! install_missing; then
	# Without gnuplot the numbers are still worth having.
	command -v db_bench >/dev/null && command -v gcc >/dev/null || exit 1
	[ -e /usr/include/zstd.h ] || exit 1
	command -v gnuplot >/dev/null || { echo "no gnuplot: no chart" >&2; DO_PLOT=0; }
fi
DB_BENCH=${DB_BENCH:-$(command -v db_bench)}
[ -x "$DB_BENCH" ] || { echo "no db_bench at '$DB_BENCH'" >&2; exit 1; }
if [ "$DB_BENCH" = /usr/bin/db_bench ]; then
	ROCKS_WHAT="db_bench of Debian rocksdb-tools $(dpkg-query -W -f='${Version}' rocksdb-tools 2>/dev/null || echo '?') (built with assertions)"
else
	ROCKS_WHAT="$DB_BENCH"
fi

# --- work directory, removed at the end -----------------------------------
mkdir -p "$BENCH_DIR" "$OUT_DIR"
case "$BENCH_DIR$OUT_DIR" in *[[:space:]]*) echo "--bench_dir and --out_dir must not contain spaces" >&2; exit 2 ;; esac
WORK=$(mktemp -d "$BENCH_DIR/lsm_vs_rocksdb.XXXXXX")
LOG=$WORK/log
mkdir -p "$LOG"
cleanup() {
	local rc=$?
	if [ -d "$LOG" ]; then
		rm -rf "$OUT_DIR/engine_vs_rocksdb-logs"
		cp -r "$LOG" "$OUT_DIR/engine_vs_rocksdb-logs" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build the engine driver ------------------------------------------------
BIN=$WORK/engine_bench
build_engine() {
	local src=$WORK/src i
	for ((i = 1; i <= BUILD_TRIES; i++)); do
		rm -rf "$src" && mkdir -p "$src"
		if [ -n "$ENGINE_REV" ]; then
			git -C "$ROOT" archive "$ENGINE_REV" src/engine | tar -x -C "$src" --strip-components=2 ||
				{ echo "cannot read src/engine of $ENGINE_REV" >&2; return 1; }
		else
			cp "$ROOT"/src/engine/*.c "$ROOT"/src/engine/*.h "$src"/
		fi
		rm -f "$src/env_pg.c"
		cp "$ROOT/bench/engine_bench.c" "$WORK/engine_bench.c"
		if gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter \
			-I"$src" -o "$BIN" "$WORK/engine_bench.c" "$src"/*.c \
			-lzstd -llz4 -lpthread -lm 2>"$LOG/build.err"; then
			ENGINE_SHA=$(cat "$src"/*.c "$src"/*.h "$WORK/engine_bench.c" | sha1sum | cut -c1-12)
			return 0
		fi
		echo "engine build failed (try $i of $BUILD_TRIES):" >&2
		head -20 "$LOG/build.err" >&2
		[ "$i" -lt "$BUILD_TRIES" ] && sleep 60
	done
	return 1
}
build_engine
if [ -n "$ENGINE_REV" ]; then
	GIT_REV=$(git -C "$ROOT" rev-parse --short "$ENGINE_REV^{commit}")
	ENGINE_FROM="commit $GIT_REV (git archive)"
else
	GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
	ENGINE_FROM="work tree at $GIT_REV + $(git -C "$ROOT" status --porcelain -- src/engine 2>/dev/null | wc -l) uncommitted files in src/engine"
fi

# --- the commands ---------------------------------------------------------
DB_OURS=$WORK/engine_db
DB_ROCKS=$WORK/rocksdb_db
OURS_COMMON="$BIN --db=$DB_OURS --num=$NUM --value_size=$VALUE_SIZE \
--write_buffer_size=$WRITE_BUFFER_SIZE --block_cache_size=$CACHE_SIZE \
--block_size=$BLOCK_SIZE --bloom_bits=$BLOOM_BITS --compression=zstd \
--compression_level=$COMPRESSION_LEVEL --compression_ratio=$COMPRESSION_RATIO \
--background_threads=$BACKGROUND_THREADS"
ROCKS_COMMON="$DB_BENCH --db=$DB_ROCKS --num=$NUM --key_size=$KEY_SIZE --value_size=$VALUE_SIZE \
--write_buffer_size=$WRITE_BUFFER_SIZE --cache_size=$CACHE_SIZE \
--block_size=$BLOCK_SIZE --bloom_bits=$BLOOM_BITS --compression_type=zstd \
--compression_level=$COMPRESSION_LEVEL --compression_ratio=$COMPRESSION_RATIO \
--sync=0 --disable_wal=0 --threads=1 --progress_reports=0"

# cmd ENGINE PHASE SEED: the command line of one workload
cmd() {
	local seed=$3
	case "$1/$2" in
		ours/fill) echo "$OURS_COMMON --benchmarks=fillrandom,waitforcompaction --seed=$seed" ;;
		ours/read) echo "$OURS_COMMON --benchmarks=waitforcompaction,readrandom --reads=$READS --seed=$seed" ;;
		ours/seek) echo "$OURS_COMMON --benchmarks=waitforcompaction,seekrandom --seeks=$SEEKS --nexts=$NEXTS --seed=$seed" ;;
		rocks/fill) echo "$ROCKS_COMMON --benchmarks=fillrandom --use_existing_db=0 --seed=$seed" ;;
		rocks/read) echo "$ROCKS_COMMON --benchmarks=levelstats,waitforcompaction,levelstats,readrandom --use_existing_db=1 --reads=$READS --seed=$seed" ;;
		rocks/seek) echo "$ROCKS_COMMON --benchmarks=waitforcompaction,seekrandom,levelstats --use_existing_db=1 --reads=$SEEKS --seek_nexts=$NEXTS --seed=$seed" ;;
	esac
}

# ops_of ENGINE NAME LOGFILE: the ops/s figure of benchmark NAME
ops_of() {
	if [ "$1" = ours ]; then
		awk -v n="$2" '$1 == n && $2 == ":" { for (i = 3; i <= NF; i++) if ($i == "ops/s;") print $(i - 1) }' "$3"
	else
		awk -v n="$2" '$1 == n && $2 == ":" { for (i = 3; i <= NF; i++) if ($i == "ops/sec") print $(i - 1) }' "$3"
	fi
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
phase_no() { case "$1" in fill) echo 1 ;; read) echo 2 ;; seek) echo 3 ;; esac; }
phase_name() { case "$1" in fill) echo fillrandom ;; read) echo readrandom ;; seek) echo seekrandom ;; esac; }

# Busy jiffies of the whole machine (user nice system irq softirq; no
# steal), and a wait until the rest of the machine is nearly idle.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
wait_quiet() {
	local t0=$SECONDS a b busy
	[ "$QUIET_WAIT" -gt 0 ] || return 0
	while :; do
		a=$(cpu_busy); sleep 2; b=$(cpu_busy)
		busy=$(((b - a) * 100 / (2 * HZ)))
		[ "$busy" -lt "$QUIET_PCT" ] && return 0
		if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
			echo "  (others still use ${busy}% of a CPU after ${QUIET_WAIT}s; going on)"
			return 0
		fi
		sleep 3
	done
}

run_engine() {
	local eng=$1 run=$2 p c f ops db b0 b1 real user sys others
	db=$([ "$eng" = ours ] && echo "$DB_OURS" || echo "$DB_ROCKS")
	rm -rf "$db"
	for p in fill read seek; do
		c=$(cmd "$eng" "$p" "$((run * 10 + $(phase_no "$p")))")
		f=$LOG/run$run-$eng-$p.log
		echo "\$ $c" >"$f"
		wait_quiet
		b0=$(cpu_busy)
		if ! { time $c >>"$f" 2>&1; } 2>"$f.time"; then
			echo "FAILED: $c" >&2
			tail -20 "$f" >&2
			exit 1
		fi
		b1=$(cpu_busy)
		read -r real user sys <"$f.time"
		others=$(awk -v b="$((b1 - b0))" -v hz="$HZ" -v r="$real" -v u="$user" -v s="$sys" \
			'BEGIN { o = (b / hz - u - s) / r; printf "%.2f", o < 0 ? 0 : o }')
		ops=$(ops_of "$eng" "$(phase_name "$p")" "$f")
		[ -n "$ops" ] || { echo "no ops/s in $f" >&2; tail -20 "$f" >&2; exit 1; }
		printf '%s\t%s\t%s\t%s\n' "$run" "$eng" "$p" "$ops" >>"$RESULTS"
		printf '%s\t%s\t%s-others\t%s\n' "$run" "$eng" "$p" "$others" >>"$RESULTS"
		printf '  run %d %-5s %-10s %12.0f ops/s  others %s CPUs  %s\n' "$run" "$eng" "$(phase_name "$p")" "$ops" \
			"$others" "$(grep -o '([^)]*found[^)]*)\|([^)]*entries read)' "$f" | head -1)"
		if [ "$p" = seek ]; then
			printf '%s\t%s\tdbsize\t%s\n' "$run" "$eng" "$(du -sk "$db" | cut -f1)" >>"$RESULTS"
		fi
		# Let the writeback of one phase not land in the next one's timing.
		sync
	done
	rm -rf "$db"
	sync
}

# --- describe the run -----------------------------------------------------
{
	echo "== engine vs RocksDB db_bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs," \
		"$(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'), kernel $(uname -r)"
	echo "disk: $(df -hT "$BENCH_DIR" | awk 'NR == 2 { print $1 " " $2 ", " $3 " size, " $5 " free" }') at $BENCH_DIR"
	echo "engine: $ENGINE_FROM, sources sha1 $ENGINE_SHA, gcc $(gcc -dumpfullversion) -O2"
	echo "RocksDB: $ROCKS_WHAT," \
		"libzstd $(dpkg-query -W -f='${Version}' libzstd1 2>/dev/null || echo '?')"
	echo "parameters: num $NUM, reads $READS, seeks $SEEKS x $NEXTS nexts, key $KEY_SIZE B, value $VALUE_SIZE B," \
		"block $BLOCK_SIZE, bloom $BLOOM_BITS bits, zstd level $COMPRESSION_LEVEL, cache $CACHE_SIZE B," \
		"write buffer $WRITE_BUFFER_SIZE B, WAL on, no fsync, 1 thread, $RUNS run(s)," \
		"engine background threads $BACKGROUND_THREADS"
	echo "commands (DIR = $WORK; S = 10 * run + 1, 2, 3 for fill, read, seek):"
	for eng in ours rocks; do
		for p in fill read seek; do
			echo "  $(cmd "$eng" "$p" S | sed "s#$WORK#DIR#g")"
		done
	done
} | tee "$WORK/header.txt"

TIMEFORMAT='%R %U %S'
for ((run = 1; run <= RUNS; run++)); do
	if [ $((run % 2)) -eq 1 ]; then order="ours rocks"; else order="rocks ours"; fi
	echo "run $run of $RUNS ($order)"
	for eng in $order; do
		run_engine "$eng" "$run"
	done
done
TIMEFORMAT=$'\nreal\t%3lR\nuser\t%3lU\nsys\t%3lS'

# --- the table ------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
values() { awk -F'\t' -v e="$1" -v p="$2" '$2 == e && $3 == p { print $4 }' "$RESULTS"; }

DAT=$OUT_DIR/engine_vs_rocksdb.dat
MD=$OUT_DIR/engine_vs_rocksdb.md
TXT=$OUT_DIR/engine_vs_rocksdb.txt
{
	echo "# workload ours_median_ops rocksdb_median_ops ratio (from bench/engine_vs_rocksdb.sh)"
	for p in fill read seek; do
		o=$(values ours "$p" | median)
		r=$(values rocks "$p" | median)
		name=$(phase_name "$p")
		[ "$p" = seek ] && name="seekrandom+${NEXTS}nexts"
		awk -v n="$name" -v o="$o" -v r="$r" 'BEGIN { printf "%s %.0f %.0f %.3f\n", n, o, r, o / r }'
	done
} >"$DAT"

{
	cat "$WORK/header.txt"
	echo
	printf '%-22s %14s %14s %13s   %s\n' workload "engine ops/s" "RocksDB ops/s" "engine/Rocks" "per run (engine | RocksDB)"
	for p in fill read seek; do
		read -r name o r ratio <<<"$(grep -v '^#' "$DAT" | sed -n "$(phase_no "$p")p")"
		printf '%-22s %14.0f %14.0f %13.2f   %s | %s\n' "$name" "$o" "$r" "$ratio" \
			"$(values ours "$p" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }')" \
			"$(values rocks "$p" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }')"
	done
	for p in fill read seek; do
		printf '%-22s others kept busy (CPUs) per run: %s | %s\n' "$(phase_name "$p")" \
			"$(values ours "$p-others" | paste -sd' ')" "$(values rocks "$p-others" | paste -sd' ')"
	done
	echo "database size at the end (MiB, median): engine $(values ours dbsize | median | awk '{ printf "%.0f", $1 / 1024 }')," \
		"RocksDB $(values rocks dbsize | median | awk '{ printf "%.0f", $1 / 1024 }')"
} | tee "$TXT"

{
	echo "| workload | engine ops/s (median) | RocksDB ops/s (median) | engine / RocksDB | engine runs | RocksDB runs |"
	echo "|---|---:|---:|---:|---|---|"
	for p in fill read seek; do
		read -r name o r ratio <<<"$(grep -v '^#' "$DAT" | sed -n "$(phase_no "$p")p")"
		printf '| %s | %.0f | %.0f | %.2f | %s | %s |\n' "$name" "$o" "$r" "$ratio" \
			"$(values ours "$p" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }')" \
			"$(values rocks "$p" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }')"
	done
} >"$MD"
echo
cat "$MD"

# --- the chart ------------------------------------------------------------
if [ "$DO_PLOT" -eq 1 ]; then
	mkdir -p "$(dirname "$PLOT")"
	sub="$NUM keys of 16 B, 1 KiB values, median of $RUNS run(s), $(date -u +%Y-%m-%d)"
	sub2="engine $GIT_REV vs $ROCKS_WHAT"
	if gnuplot -e "datafile='$DAT'; outfile='$PLOT'; subtitle='$sub'; subtitle2='$sub2'" "$ROOT/bench/plot.gnu" 2>"$LOG/gnuplot.err"; then
		echo "chart: $PLOT"
	else
		echo "gnuplot failed:" >&2
		cat "$LOG/gnuplot.err" >&2
		exit 1
	fi
fi
echo "table: $TXT, $MD; logs: $OUT_DIR/engine_vs_rocksdb-logs"
