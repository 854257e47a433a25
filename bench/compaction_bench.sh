#!/bin/bash
# bench/compaction_bench.sh
#	Issue 4's benchmark: an overwrite workload under the engine's leveled and
#	size-tiered compaction, next to RocksDB's db_bench with the same
#	parameters (compaction_style 0 = leveled, 1 = universal, RocksDB's
#	size-tiered), in the same run.  For each style and each store:
#
#	  write   one process: fillrandom (num puts of random keys below num into
#	          a fresh database) then overwrite (num more puts of random keys
#	          over the same key space): 2 * num * (16 + value_size) user
#	          bytes, about 2 GB with the defaults.  RocksDB then waits,
#	          untimed, for the compactions still pending (waitforcompaction;
#	          the engine's compactions run inside the writes, so nothing is
#	          pending when its overwrite ends) and prints its stats.
#	  read    a second process on the database as it is: readrandom, reads
#	          gets of random keys below num (RocksDB with --statistics, for
#	          its bloom counters; the write process runs without them).
#	  compact a third process: a full compaction (engine: compact, i.e.
#	          lsm_db_compact_range over everything; RocksDB: compact), only
#	          to learn the size of the live data on disk.
#
#	Reported:
#	  overwrite ops/s (and fillrandom ops/s)
#	  write amp   (WAL + flush + compaction bytes written during the write
#	              process) / user bytes (2 * num * (16 + value_size)); the
#	              engine's from its stats line, RocksDB's from "Cumulative
#	              WAL ... written" + "Cumulative compaction ... write" (the
#	              latter includes flushes); RocksDB's own Sum-row W-Amp
#	              (compaction+flush writes / flushed bytes, no WAL) is shown
#	              too.  Table bytes are zstd-compressed, WAL bytes are not.
#	  space amp   du of the database right after the write process / du after
#	              the full compaction (= the live data, compressed the same
#	              way); also the size after the write process against the
#	              live user bytes (keys found by readrandom / reads * num *
#	              (16 + value_size)).
#	  stalled     the writers' time in slowdowns, stops and memtable waits,
#	              as a share of the write process (RocksDB: its "Cumulative
#	              stall" percent): a store can buy write amplification with
#	              stalls, so the two are read together
#	  probes/get  tables whose filter passed and whose index was searched,
#	              per get (engine: sst_probes / gets; RocksDB:
#	              rocksdb.bloom.filter.full.positive / rocksdb.number.keys.read),
#	              and tables whose key range held the key, per get (filter
#	              checks: engine (sst_probes + bloom_useful) / gets, RocksDB
#	              (bloom.filter.useful + bloom.filter.full.positive) / keys read)
#
#	16-byte keys, values made the db_bench way (compression ratio 0.5), block
#	4096, bloom 10 bits, zstd level 3, 8 MiB block cache, 64 MiB write buffer,
#	WAL on, sync 0, one client thread; everything else at each store's
#	defaults.  One run per configuration (the engine first for leveled,
#	RocksDB first for tiered); each database is deleted before the next
#	configuration starts.
#
#	Usage: bench/compaction_bench.sh [options]
#	  --num=N          keys, and puts per write phase (env NUM, default 1000000)
#	  --value_size=B   (env VALUE_SIZE, default 1024)
#	  --reads=N        gets in readrandom (env READS, default num / 2)
#	  --styles=LIST    comma list of leveled,tiered (default both)
#	  --engines=LIST   comma list of ours,rocks (default both)
#	  --quick          --num=20000 --reads=10000: a check that all works
#	  --bench_dir=DIR  where the databases go (env BENCH_DIR, /tmp)
#	  --out_dir=DIR    logs and table (env OUT_DIR, bench/out/compaction-DATE)
#	  --timeout=S      give up on one process after S seconds (default 1800)
#
#	Needs db_bench (Debian rocksdb-tools), gcc and libzstd-dev; the engine
#	is built from a copy of the work tree's src/engine, -O2, like
#	bench/engine_vs_rocksdb.sh does.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NUM=${NUM:-1000000}
VALUE_SIZE=${VALUE_SIZE:-1024}
READS=${READS:-}
STYLES=leveled,tiered
ENGINES=ours,rocks
KEY_SIZE=16
BLOCK_SIZE=4096
BLOOM_BITS=10
COMPRESSION_LEVEL=3
COMPRESSION_RATIO=0.5
WRITE_BUFFER_SIZE=$((64 * 1024 * 1024))
CACHE_SIZE=$((8 * 1024 * 1024))
BENCH_DIR=${BENCH_DIR:-/tmp}
OUT_DIR=${OUT_DIR:-$ROOT/bench/out/compaction-$(date -u +%Y%m%d-%H%M%S)}
TIMEOUT=1800

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^#[ \t]\{0,1\}//'; }
for arg in "$@"; do
	case "$arg" in
		--num=*) NUM=${arg#*=} ;;
		--value_size=*) VALUE_SIZE=${arg#*=} ;;
		--reads=*) READS=${arg#*=} ;;
		--styles=*) STYLES=${arg#*=} ;;
		--engines=*) ENGINES=${arg#*=} ;;
		--quick) NUM=20000; READS=10000 ;;
		--bench_dir=*) BENCH_DIR=${arg#*=} ;;
		--out_dir=*) OUT_DIR=${arg#*=} ;;
		--timeout=*) TIMEOUT=${arg#*=} ;;
		-h|--help) usage; exit 0 ;;
		*) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
	esac
done
READS=${READS:-$((NUM / 2))}
for v in NUM VALUE_SIZE READS TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
DB_BENCH=$(command -v db_bench) || { echo "no db_bench (apt-get install rocksdb-tools)" >&2; exit 1; }

mkdir -p "$BENCH_DIR" "$OUT_DIR"
WORK=$(mktemp -d "$BENCH_DIR/lsm_compaction.XXXXXX")
LOG=$OUT_DIR/logs
mkdir -p "$LOG"
cleanup() { local rc=$?; rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build the engine driver ------------------------------------------------
BIN=$WORK/engine_bench
mkdir -p "$WORK/src"
cp "$ROOT"/src/engine/*.c "$ROOT"/src/engine/*.h "$WORK/src/"
rm -f "$WORK/src/env_pg.c"
gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter \
	-I"$WORK/src" -o "$BIN" "$ROOT/bench/engine_bench.c" "$WORK"/src/*.c \
	-lzstd -llz4 -lpthread -lm 2>"$LOG/build.err" || { cat "$LOG/build.err" >&2; exit 1; }
ENGINE_SHA=$(cat "$WORK"/src/*.c "$WORK"/src/*.h "$ROOT/bench/engine_bench.c" | sha1sum | cut -c1-12)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")

USER_BYTES=$((2 * NUM * (KEY_SIZE + VALUE_SIZE)))
DB=$WORK/db
OURS="$BIN --db=$DB --num=$NUM --value_size=$VALUE_SIZE \
--write_buffer_size=$WRITE_BUFFER_SIZE --block_cache_size=$CACHE_SIZE \
--block_size=$BLOCK_SIZE --bloom_bits=$BLOOM_BITS --compression=zstd \
--compression_level=$COMPRESSION_LEVEL --compression_ratio=$COMPRESSION_RATIO"
ROCKS="$DB_BENCH --db=$DB --num=$NUM --key_size=$KEY_SIZE --value_size=$VALUE_SIZE \
--write_buffer_size=$WRITE_BUFFER_SIZE --cache_size=$CACHE_SIZE \
--block_size=$BLOCK_SIZE --bloom_bits=$BLOOM_BITS --compression_type=zstd \
--compression_level=$COMPRESSION_LEVEL --compression_ratio=$COMPRESSION_RATIO \
--sync=0 --disable_wal=0 --threads=1 --progress_reports=0"

# cmd ENGINE STYLE PHASE: the command line of one process
cmd() {
	local cs
	if [ "$1" = ours ]; then
		case "$3" in
			write) echo "$OURS --compaction_style=$2 --benchmarks=fillrandom,overwrite --seed=1" ;;
			read) echo "$OURS --compaction_style=$2 --benchmarks=readrandom --reads=$READS --seed=101" ;;
			compact) echo "$OURS --compaction_style=$2 --benchmarks=compact" ;;
		esac
	else
		cs=$([ "$2" = leveled ] && echo 0 || echo 1)
		case "$3" in
			write) echo "$ROCKS --compaction_style=$cs --use_existing_db=0 --benchmarks=fillrandom,overwrite,waitforcompaction,stats,levelstats --seed=1" ;;
			read) echo "$ROCKS --compaction_style=$cs --use_existing_db=1 --statistics=1 --benchmarks=readrandom,stats,levelstats --reads=$READS --seed=101" ;;
			compact) echo "$ROCKS --compaction_style=$cs --use_existing_db=1 --benchmarks=compact,levelstats" ;;
		esac
	fi
}

du_bytes() { du -sb "$1" | cut -f1; }

# ops_of ENGINE NAME LOG
ops_of() {
	if [ "$1" = ours ]; then
		awk -v n="$2" '$1 == n && $2 == ":" { for (i = 3; i <= NF; i++) if ($i == "ops/s;") print $(i - 1) }' "$3" | tail -1
	else
		awk -v n="$2" '$1 == n && $2 == ":" { for (i = 3; i <= NF; i++) if ($i == "ops/sec") print $(i - 1) }' "$3" | tail -1
	fi
}
# found fraction of readrandom: "X of Y found"
found_of() { grep -o '[0-9]* of [0-9]* found' "$1" | tail -1 | awk '{ printf "%.6f", $1 / $3 }'; }
# engine stats field: the number before/after a label on the stats lines
ours_mib() { grep '^compaction:' "$1" | tail -1 | grep -o "$2 [0-9.]* MiB" | awk '{ print $2 }'; }
ours_stat() { grep '^stats:' "$1" | tail -1 | grep -o "$2 [0-9]*" | awk '{ print $NF }'; }
# RocksDB: "Cumulative compaction: X GB write", "Cumulative WAL: ... written: X GB"
rocks_cum_compaction_gib() { grep '^Cumulative compaction:' "$1" | tail -1 | awk '{ print $3 }'; }
rocks_wal_gib() { grep '^Cumulative WAL:' "$1" | tail -1 | sed 's/.*written: \([0-9.]*\) GB.*/\1/'; }
rocks_sum_wamp() {
	# the Sum row of the last compaction stats table; the header's Size is
	# one word, the row's two ("1.23 GB")
	awk '$1 == "Level" && $2 == "Files" { for (i = 1; i <= NF; i++) if ($i == "W-Amp") c = i + 1 }
		 $1 == "Sum" && c { w = $c } END { print w }' "$1"
}
rocks_ticker() { grep "^$2 COUNT" "$1" | tail -1 | awk '{ print $NF }'; }

RESULTS=$OUT_DIR/results.tsv
printf 'style\tengine\tfill_ops\toverwrite_ops\tread_ops\twal_bytes\tflush_bytes\tcompaction_bytes\twrite_amp\tstore_wamp\tdu_after_write\tdu_after_read\tdu_compacted\tfound_frac\tprobes_per_get\tchecks_per_get\twrite_secs\tstall_pct\n' >"$RESULTS"

TIMEFORMAT='%R'
run_one() {
	local eng=$1 style=$2 p c f secs fill ow rd wal flush comp wa swa du1 du2 du3 found probes checks gets stall
	rm -rf "$DB"
	for p in write read compact; do
		c=$(cmd "$eng" "$style" "$p")
		f=$LOG/$style-$eng-$p.log
		echo "\$ $c" >"$f"
		sync
		if ! { time timeout "$TIMEOUT" $c >>"$f" 2>&1; } 2>"$f.time"; then
			echo "FAILED: $c" >&2
			tail -20 "$f" >&2
			exit 1
		fi
		sync
		case "$p" in
			write) du1=$(du_bytes "$DB"); secs=$(cat "$f.time") ;;
			read) du2=$(du_bytes "$DB") ;;
			compact) du3=$(du_bytes "$DB") ;;
		esac
		echo "  $style $eng $p: $(cat "$f.time") s, db $(du_bytes "$DB" | awk '{ printf "%.1f MiB", $1 / 1048576 }')"
	done
	fill=$(ops_of "$eng" fillrandom "$LOG/$style-$eng-write.log")
	ow=$(ops_of "$eng" overwrite "$LOG/$style-$eng-write.log")
	rd=$(ops_of "$eng" readrandom "$LOG/$style-$eng-read.log")
	found=$(found_of "$LOG/$style-$eng-read.log")
	if [ "$eng" = ours ]; then
		f=$LOG/$style-$eng-write.log
		wal=$(awk -v m="$(ours_mib "$f" wal)" 'BEGIN { printf "%.0f", m * 1048576 }')
		flush=$(awk -v m="$(ours_mib "$f" flushed)" 'BEGIN { printf "%.0f", m * 1048576 }')
		comp=$(awk -v m="$(grep '^compaction:' "$f" | tail -1 | grep -o 'wrote [0-9.]* MiB' | awk '{ print $2 }')" \
			'BEGIN { printf "%.0f", m * 1048576 }')
		swa=$(grep '^compaction:' "$f" | tail -1 | grep -o 'write amp [0-9.]*' | awk '{ print $3 }')
		# writers' time in slowdowns, stops and waits for a memtable (RocksDB's
		# cumulative stall counts all three), against the write process
		stall=$(grep '^compaction:' "$f" | tail -1 | grep -o '/ [0-9.]* ms' | awk -v s="$secs" \
			'{ ms += $2 } END { printf "%.1f", (s > 0 ? ms / 10 / s : 0) }')
		f=$LOG/$style-$eng-read.log
		gets=$(ours_stat "$f" gets)
		probes=$(awk -v p="$(ours_stat "$f" 'sst probes')" -v g="$gets" 'BEGIN { printf "%.3f", (g > 0 ? p / g : 0) }')
		checks=$(awk -v p="$(ours_stat "$f" 'sst probes')" -v u="$(ours_stat "$f" 'bloom useful')" -v g="$gets" \
			'BEGIN { printf "%.3f", (g > 0 ? (p + u) / g : 0) }')
	else
		f=$LOG/$style-$eng-write.log
		wal=$(awk -v g="$(rocks_wal_gib "$f")" 'BEGIN { printf "%.0f", g * 1073741824 }')
		flush=NA
		comp=$(awk -v g="$(rocks_cum_compaction_gib "$f")" 'BEGIN { printf "%.0f", g * 1073741824 }')
		swa=$(rocks_sum_wamp "$f")
		stall=$(grep '^Cumulative stall:' "$f" | tail -1 | awk '{ print $(NF - 1) }')
		f=$LOG/$style-$eng-read.log
		gets=$(rocks_ticker "$f" rocksdb.number.keys.read)
		probes=$(awk -v p="$(rocks_ticker "$f" rocksdb.bloom.filter.full.positive)" -v g="$gets" \
			'BEGIN { printf "%.3f", (g > 0 ? p / g : 0) }')
		checks=$(awk -v p="$(rocks_ticker "$f" rocksdb.bloom.filter.full.positive)" \
			-v u="$(rocks_ticker "$f" rocksdb.bloom.filter.useful)" -v g="$gets" \
			'BEGIN { printf "%.3f", (g > 0 ? (p + u) / g : 0) }')
	fi
	wa=$(awk -v w="$wal" -v fl="$flush" -v c="$comp" -v u="$USER_BYTES" \
		'BEGIN { if (fl == "NA") fl = 0; printf "%.2f", (w + fl + c) / u }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$style" "$eng" "$fill" "$ow" "$rd" \
		"$wal" "$flush" "$comp" "$wa" "$swa" "$du1" "$du2" "$du3" "$found" "$probes" "$checks" "$secs" "$stall" >>"$RESULTS"
	rm -rf "$DB"
	sync
}

{
	echo "== compaction benchmark: overwrite, leveled and tiered, engine vs RocksDB db_bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs," \
		"$(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'), kernel $(uname -r)"
	echo "disk: $(df -hT "$BENCH_DIR" | awk 'NR == 2 { print $1 " " $2 }') at $BENCH_DIR"
	echo "engine: work tree at $GIT_REV, sources sha1 $ENGINE_SHA, gcc $(gcc -dumpfullversion) -O2"
	echo "RocksDB: db_bench from rocksdb-tools $(dpkg-query -W -f='${Version}' rocksdb-tools 2>/dev/null || echo '?')"
	echo "parameters: num $NUM, reads $READS, key $KEY_SIZE B, value $VALUE_SIZE B (ratio $COMPRESSION_RATIO)," \
		"user bytes written $USER_BYTES ($(awk -v u="$USER_BYTES" 'BEGIN { printf "%.2f GiB", u / 1073741824 }'))," \
		"block $BLOCK_SIZE, bloom $BLOOM_BITS, zstd $COMPRESSION_LEVEL, cache $CACHE_SIZE, write buffer $WRITE_BUFFER_SIZE"
	echo "commands (DIR = $WORK):"
	for style in ${STYLES//,/ }; do
		for eng in ${ENGINES//,/ }; do
			for p in write read compact; do
				echo "  $(cmd "$eng" "$style" "$p" | sed "s#$WORK#DIR#g")"
			done
		done
	done
} | tee "$OUT_DIR/header.txt"

n=0
for style in ${STYLES//,/ }; do
	if [ $((n % 2)) -eq 0 ]; then order=${ENGINES//,/ }; else order=$(echo ${ENGINES//,/ } | tr ' ' '\n' | tac | tr '\n' ' '); fi
	n=$((n + 1))
	for eng in $order; do
		run_one "$eng" "$style"
	done
done

# --- the table ------------------------------------------------------------
MD=$OUT_DIR/compaction.md
{
	echo "| style | store | fillrandom ops/s | overwrite ops/s | write amp (WAL+flush+compaction / user) | store's own W-Amp | MiB on disk after writes | MiB after full compaction | space amp | on disk / live user bytes | readrandom ops/s | tables probed per get | tables checked (filter) per get | writers stalled (% of write process) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' -v num="$NUM" -v kv="$((KEY_SIZE + VALUE_SIZE))" 'NR > 1 {
		live = $14 * num * kv
		printf "| %s | %s | %.0f | %.0f | %.2f | %s | %.0f | %.0f | %.2f | %.2f | %.0f | %s | %s | %s |\n",
			$1, ($2 == "ours" ? "engine" : "RocksDB"), $3, $4, $9, $10, $11 / 1048576, $13 / 1048576,
			($13 > 0 ? $11 / $13 : 0), (live > 0 ? $11 / live : 0), $5, $15, $16, $18
	}' "$RESULTS"
} >"$MD"
echo
cat "$MD"
echo "results: $RESULTS, $MD; logs: $LOG"
