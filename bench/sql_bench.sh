#!/bin/bash
# bench/sql_bench.sh
#	SQL workloads on a lsm_fdw foreign table against a heap table with a
#	primary key holding the same data (issue 7), with pgbench, on a
#	throw-away Postgres 15 instance this script starts itself (started like
#	demo.sh, plus shared_buffers=1GB and max_wal_size=4GB; data directory on
#	disk under /var/tmp, so that fsync costs what it costs a user; tmpfs only
#	with --data-dir-base=/dev/shm) and removes on exit.
#
#	  load      COPY of KEYS rows of 1 KiB JSON-like values (bench_value() in
#	            the setup SQL; ~2.6x with zstd on 4 kB blocks) in random key
#	            order: seconds, then bytes on disk (pg_total_relation_size;
#	            du of $PGDATA/lsm_fdw/<dboid>/<relid>) and the log bytes the
#	            COPY wrote (Postgres WAL for heap, from pg_current_wal_insert_lsn;
#	            the server-wide lsm_fdw log for lsm, from
#	            lsm_fdw_server_stats()->'log_insert_lsn').  Also timed: what it
#	            takes until the data sits in its final files (heap: the
#	            CHECKPOINT after COPY; lsm: lsm_fdw_flush() after COPY, which
#	            writes what is left in the table's memtable to an SSTable).
#	            Every COPY runs with the default settings: past
#	            lsm_fdw.spill_threshold (64MB) the lsm COPY spills to sorted
#	            runs and its commit ingests SSTables (README "Bulk loading");
#	            past lsm_fdw.max_key_locks_per_transaction (1000) it locks the
#	            whole table instead of keys, which is what a load wants.  The
#	            backend's peak RSS (VmHWM, read by the COPY's own session) is
#	            reported, and the bytes on disk with the log the COPY wrote.
#	  select1   SELECT 1 (the floor: protocol, parse/bind, executor start)
#	  get       SELECT v FROM t WHERE k = :k over KEYS keys
#	  range     SELECT k, v FROM t WHERE k >= :k ORDER BY k LIMIT 100
#	  join      1000 users (of a 100k-row heap table, consecutive ids, random
#	            session keys) joined to t by key: count(*), sum(length(v))
#	  put       1 KiB value (one of 10000 JSON-like values, looked up in a
#	            small heap table "vals") to a random key of KEYS: heap
#	            INSERT ... ON CONFLICT (k) DO UPDATE, lsm INSERT with
#	            on_duplicate 'overwrite'; plus the floor: the value lookup
#	            alone, no write
#	  counter   UPDATE t SET n = n + 1 WHERE k = :k over 100000 keys; plus
#	            the floor: the same UPDATE of a key the heap table does not
#	            hold (parse/bind, executor, an index probe; no write, no
#	            xid), the most any table can do through an UPDATE statement
#	  hot       the same over 100 hot keys
#	  upsum     a counter that may not exist yet, over 100000 keys (tables
#	            start empty): lsm INSERT into an on_duplicate 'sum' table,
#	            heap INSERT ... ON CONFLICT (k) DO UPDATE SET n = t.n +
#	            excluded.n
#
#	The writes run against heap with synchronous_commit on (the lsm/heap
#	ratio), and as reference rows against heap with synchronous_commit off
#	and an UNLOGGED heap table (the product's bar: as fast as UNLOGGED while
#	crash-safe).  When lsm_fdw has a synchronous_commit GUC of its own
#	(lsm_fdw.synchronous_commit, looked up in pg_settings), the "sync off"
#	rows set it off too; without it lsm_fdw always fsyncs its WAL at commit
#	and the row says so.
#
#	Every pgbench workload runs at the client counts of the issue (put 1, 4,
#	16; counter, hot and upsum 16; get, select1, range and join 1, 4) plus 1
#	client, as far as --clients-list allows.  With the shared engine (one
#	engine per table in shared memory, used by every backend) any number of
#	sessions use a lsm_fdw table at once.  The script still probes that at
#	start (a second session reads a table another one holds open) and, if it
#	failed (an old build: one session per table, 55006), would print the rows
#	with more than one client on a lsm table as "n/a".
#
#	Method: pgbench -n -M prepared -T DURATION -c C -j min(C, CPUs),
#	--random-seed = SEED + run (the same for every variant within a run, so
#	they see the same key sequence), --log: p99 is the nearest-rank 99th
#	percentile of every transaction's latency in the run's log.  Runs
#	alternate: for run r the variants' order is rotated by r - 1 (heap, lsm /
#	lsm, heap / ...).  Before every run: wait until no other session is
#	connected, CHECKPOINT, and for lsm tables lsm_fdw_flush() (the lsm
#	counterpart of the CHECKPOINT: every run starts with an empty memtable
#	and no dirty heap pages; its time is logged).  Tables stay open in
#	shared memory between sessions: no run pays an open or a log replay.
#	Reported per row: the median of the runs' tps, the median of their p99s,
#	the longest transaction of all runs, the lsm/heap ratio of the medians
#	and the median of the per-run ratios ("paired"); and, from
#	/proc/<pid>/schedstat over the middle of each run, CPU time per
#	committed transaction of the session's backend and of the whole
#	instance (steadier than tps on a shared machine).  Checked: lsm and heap
#	return the same rows after the load (full scan, range, join), the
#	counters hold exactly the increments pgbench committed.
#
#	Usage: sudo bash bench/sql_bench.sh [options]
#	  --quick              a smoke run: --keys=100000 --duration=5 --runs=1
#	  --runs=N             runs of each variant (env RUNS, default 3)
#	  --duration=S         seconds per pgbench run (env DURATION, default 20)
#	  --keys=N             rows of the kv tables (env KEYS, default 1000000)
#	  --clients-list=L     client counts that may run (env CLIENTS_LIST,
#	                       default 1,4,16); e.g. 1 for single-client rows only
#	  --sync-list=L        on,off (default) or on: whether the synchronous
#	                       commit off rows run
#	  --workloads=L        subset of load,select1,get,range,join,put,counter,hot,
#	                       upsum
#	                       (default all; without load the tables are still
#	                       filled, untimed)
#	  --multi-session=M    auto (default: probe), yes, no
#	  --heap-only-rows     at client counts where lsm is n/a, run the heap
#	                       variants anyway (reference numbers; off by default)
#	  --protocol=P         pgbench -M: prepared (default), extended or simple
#	  --pin=P              one (default): 1-client runs put pgbench and every
#	                       process of the instance on the last CPU (taskset),
#	                       so that all the work of a transaction, background
#	                       processes included, is done on one CPU; none:
#	                       leave placement to the scheduler.  In a VM a
#	                       wakeup across CPUs is slow (on the 2-vCPU test VM
#	                       SELECT 1 ran at 72k tps with pgbench and backend
#	                       on one CPU, 11-15k across two), and unpinned the
#	                       scheduler switches between the two from run to
#	                       run with the other load on the machine.
#	  --seed=N             base random seed (default 4242)
#	  --source=S           which lsm_fdw to run: head (default; a build of
#	                       git HEAD from `git archive`, installed), tree (build
#	                       and install the working tree, as demo.sh does) or
#	                       installed (what is installed now)
#	  --data-dir-base=D    where the instance goes (default /var/tmp, on
#	                       disk; /dev/shm makes fsync free and the durable
#	                       figures meaningless: an extra only)
#	  --out-dir=DIR        results and logs (default bench/out/sql_bench-<time>)
#	  --plot=FILE          the PNG chart (default docs/benchmarks-sql.png for
#	                       a full run: default keys, all workloads, >= 3
#	                       runs; else in the out dir)
#	  --no-plot            no chart
#	  --port=N             first port to try (default 54339)
#	  --locale=L           initdb --locale=L (env LOCALE; default: the
#	                       machine's locale, as a user's server would have;
#	                       C for the collation-free figures of before)
#	  --server-opts=S      more postgres options for the instance, appended
#	                       to the others, e.g. "-c lsm_fdw.memtable_memory=2GB"
#	                       (env SERVER_EXTRA; printed in the header)
#	  --report=DIR         no run: redo the tables and the chart of the run
#	                       whose results are in DIR
#
#	Run as root (it installs missing packages, installs lsm_fdw, and runs
#	Postgres as the postgres user).  Never part of the test command.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/test/lib.sh"

RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
KEYS=${KEYS:-1000000}
CLIENTS_LIST=${CLIENTS_LIST:-1,4,16}
SYNC_LIST=${SYNC_LIST:-on,off}
ALL_WORKLOADS=load,select1,get,range,join,put,counter,hot,upsum
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
MULTI=${MULTI:-auto}
HEAP_ONLY=0
PROTOCOL=${PROTOCOL:-prepared}
PIN=${PIN:-one}
SEED=${SEED:-4242}
SOURCE=${SOURCE:-head}
DATA_BASE=${DATA_BASE:-}
OUT_DIR=${OUT_DIR:-}
PLOT=${PLOT:-}
DO_PLOT=1
PORT=${PORT:-54339}
SERVER_EXTRA=${SERVER_EXTRA:-}
LOCALE=${LOCALE:-}
REPORT_DIR=
CTR_KEYS=100000
HOT_KEYS=100
USERS=100000
JOIN_USERS=1000
NVALS=10000
NA_MULTI="n/a: this lsm_fdw build allows one session per table (multi-session probe failed)"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^#\t\{0,1\}//'; }

for arg in "$@"; do
	case "$arg" in
		--quick) KEYS=100000; DURATION=5; RUNS=1 ;;
		--runs=*) RUNS=${arg#*=} ;;
		--duration=*) DURATION=${arg#*=} ;;
		--keys=*) KEYS=${arg#*=} ;;
		--clients-list=*) CLIENTS_LIST=${arg#*=} ;;
		--sync-list=*) SYNC_LIST=${arg#*=} ;;
		--workloads=*) WORKLOADS=${arg#*=} ;;
		--multi-session=*) MULTI=${arg#*=} ;;
		--heap-only-rows) HEAP_ONLY=1 ;;
		--protocol=*) PROTOCOL=${arg#*=} ;;
		--pin=*) PIN=${arg#*=} ;;
		--seed=*) SEED=${arg#*=} ;;
		--source=*) SOURCE=${arg#*=} ;;
		--data-dir-base=*) DATA_BASE=${arg#*=} ;;
		--out-dir=*) OUT_DIR=${arg#*=} ;;
		--plot=*) PLOT=${arg#*=} ;;
		--no-plot) DO_PLOT=0 ;;
		--port=*) PORT=${arg#*=} ;;
		--locale=*) LOCALE=${arg#*=} ;;
		--server-opts=*) SERVER_EXTRA=${arg#*=} ;;
		--report=*) REPORT_DIR=${arg#*=} ;;
		-h|--help) usage; exit 0 ;;
		*) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
	esac
done
for v in RUNS DURATION KEYS SEED PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
[[ $CLIENTS_LIST =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "--clients-list: comma-separated positive integers" >&2; exit 2; }
case "$SYNC_LIST" in on|on,off|off,on) ;; *) echo "--sync-list: on or on,off" >&2; exit 2 ;; esac
case "$MULTI" in auto|yes|no) ;; *) echo "--multi-session: auto, yes or no" >&2; exit 2 ;; esac
case "$PIN" in one|none) ;; *) echo "--pin: one or none" >&2; exit 2 ;; esac
case "$PROTOCOL" in prepared|extended|simple) ;; *) echo "--protocol: prepared, extended or simple" >&2; exit 2 ;; esac
case "$SOURCE" in head|tree|installed) ;; *) echo "--source: head, tree or installed" >&2; exit 2 ;; esac
for w in ${WORKLOADS//,/ }; do
	case "$w" in load|select1|get|range|join|put|counter|hot|upsum) ;; *) echo "unknown workload: $w" >&2; exit 2 ;; esac
done
[ "$KEYS" -ge 1000 ] || { echo "--keys must be at least 1000" >&2; exit 2; }
has() { [[ ",$1," == *",$2,"* ]]; }	# has LIST ITEM
NPROC=$(nproc)
PIN_CPU=$((NPROC - 1))

# --- the report: tables, plot data, chart (also alone: --report=DIR) ---------------
uses_lsm() { [[ $1 == lsm* ]]; }
# The client counts of each workload (the issue's, plus 1) and its variants.
issue_clients() {
	case "$1" in
		put) echo "1 4 16" ;; counter|hot|upsum) echo "16" ;; get|select1|range|join) echo "1 4" ;;
	esac
}
clients_of() { { echo 1; issue_clients "$1" | tr ' ' '\n'; } | sort -nu | tr '\n' ' '; }
variants_of() {
	local w=$1 vs
	case "$w" in
		select1) vs="floor" ;;
		get|range|join) vs="heap lsm" ;;
		put|counter|hot|upsum)
			vs="heap lsm"
			if has "$SYNC_LIST" off; then
				vs="$vs heap_async"
				[ "$LSM_SYNC_GUC" -eq 1 ] && vs="$vs lsm_async"
			fi
			vs="$vs unl"
			[ "$w" = upsum ] || vs="$vs floor"
			;;
	esac
	echo "$vs"
}

# status_of WORKLOAD CLIENTS: run, na (lsm needs multi-session; said whatever
# --clients-list is), skip (not in --clients-list)
status_of() {
	local w=$1 c=$2
	if [ "$c" -gt 1 ] && [ "$MULTI" != yes ] && [[ " $(variants_of "$w") " == *" lsm "* ]]; then
		echo na; return
	fi
	has "$CLIENTS_LIST" "$c" || { echo skip; return; }
	echo run
}


report() {
	median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	col() {	# col WORKLOAD CLIENTS VARIANT FIELD: that field of every good run
		awk -F'\t' -v w="$1" -v c="$2" -v v="$3" -v f="$4" '$1 == w && $2 == c && $3 == v && $5 != "ERR" { print $f }' "$RESULTS"
	}
	med() { col "$@" | median; }
	maxof() { awk '$1 != "nan" && $1 != "" { if (!n++ || $1 > m) m = $1 } END { if (n) print m; else print "nan" }'; }
	paired() {	# paired WORKLOAD CLIENTS V1 V2: median over the runs of V1 tps / V2 tps in that run
		awk -F'\t' -v w="$1" -v c="$2" -v a="$3" -v b="$4" '$1 == w && $2 == c && $5 != "ERR" && $5 > 0 {
			if ($3 == a) x[$4] = $5; if ($3 == b) y[$4] = $5 }
			END { for (r in x) if (r in y) print x[r] / y[r] }' "$RESULTS" | median
	}
	runs_of() { col "$1" "$2" "$3" 5 | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }'; }
	wname() {
		case "$1" in
			put) echo "put 1 KiB, random key of $KEYS" ;;
			counter) echo "counter +1, $CTR_KEYS keys" ;;
			hot) echo "counter +1, $HOT_KEYS hot keys" ;;
			upsum) echo "upsert +1 (sum), $CTR_KEYS keys" ;;
			get) echo "point get, $KEYS keys" ;;
			select1) echo "SELECT 1 (floor)" ;;
			range) echo "range, LIMIT 100" ;;
			join) echo "join $JOIN_USERS users to t" ;;
		esac
	}
	vname() {
		case "$1" in
			heap) echo "heap, sync on" ;;
			heap_async) [ "$LSM_SYNC_GUC" -eq 1 ] && echo "heap, both sync off" || echo "heap, sync off" ;;
			unl) echo "UNLOGGED heap" ;;
			floor) case "$2" in
				put) echo "floor: value lookup, no write" ;;
				counter|hot) echo "floor: UPDATE of a missing key, heap" ;;
				*) echo "no table" ;;
			esac ;;
		esac
	}
	fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%." d "f", x }'; }

	DAT=$OUT_DIR/sql_bench.dat
	MD=$OUT_DIR/sql_bench.md
	TXT=$OUT_DIR/sql_bench.txt
	echo "# label ratio lsm_tps other_tps kind cpu_ratio (ratio: lsm/heap tps of the medians; load: heap s / lsm s;" >"$DAT"
	echo "# kind 1 = reference row; cpu_ratio: heap backend CPU per tx / lsm backend CPU per tx)" >>"$DAT"
	{
		echo "| workload | clients | lsm_fdw tps | lsm_fdw p99 ms | lsm_fdw max ms | compared with | tps | p99 ms | max ms | lsm/heap tps | paired | runs: lsm \\| other tps |"
		echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"
	} >"$MD"
	printf '%-34s %3s %8s %8s %8s  %-28s %8s %8s %8s %6s %6s\n' workload cl "lsm tps" "lsm p99" "lsm max" "compared with" tps p99 max ratio paired >"$TXT"
	CPUMD=$OUT_DIR/cpu.md
	CPUTXT=$OUT_DIR/cpu.txt
	{
		echo "| workload | clients | compared with | lsm_fdw backend CPU us/tx | other backend CPU us/tx | other/lsm CPU | lsm_fdw instance CPU us/tx | other instance CPU us/tx | run-queue wait % (lsm \\| other) | s in tx > 100 ms per run (lsm \\| other) |"
		echo "|---|---:|---|---:|---:|---:|---:|---:|---|---|"
	} >"$CPUMD"
	printf '%-34s %3s %-16s %9s %9s %7s %9s %9s  %-18s %s\n' workload cl "compared with" "lsm cpu" "cpu" "oth/lsm" "lsm all" "all" "rq-wait% lsm|other" "stall s lsm|other" >"$CPUTXT"
	cpurow() {	# cpurow WORKLOAD CLIENTS LSMVARIANT OTHERVARIANT: medians of the CPU columns; sets CPU_RATIO
		local w=$1 c=$2 lv=$3 ov=$4 lc oc li oi lw ow r ls os
		ls=$(med "$w" "$c" "$lv" 13); os=$(med "$w" "$c" "$ov" 13)
		lc=$(med "$w" "$c" "$lv" 9); oc=$(med "$w" "$c" "$ov" 9)
		li=$(med "$w" "$c" "$lv" 11); oi=$(med "$w" "$c" "$ov" 11)
		lw=$(med "$w" "$c" "$lv" 10); ow=$(med "$w" "$c" "$ov" 10)
		r=$(awk -v a="$lc" -v b="$oc" 'BEGIN { if (a == "nan" || b == "nan" || a == 0) print "nan"; else printf "%.2f", b / a }')
		CPU_RATIO=$r
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s \\| %s | %s \\| %s |\n' "$(wname "$w")" "$c" "$(vname "$ov" "$w")" \
			"$(fmt "$lc" 1)" "$(fmt "$oc" 1)" "$(fmt "$r" 2)" "$(fmt "$li" 1)" "$(fmt "$oi" 1)" "$(fmt "$lw" 0)" "$(fmt "$ow" 0)" \
			"$(fmt "$ls" 2)" "$(fmt "$os" 2)" >>"$CPUMD"
		printf '%-34s %3s %-16s %9s %9s %7s %9s %9s  %-18s %s\n' "$(wname "$w")" "$c" "$(vname "$ov" "$w")" \
			"$(fmt "$lc" 1)" "$(fmt "$oc" 1)" "$(fmt "$r" 2)" "$(fmt "$li" 1)" "$(fmt "$oi" 1)" "$(fmt "$lw" 0)|$(fmt "$ow" 0)" \
			"$(fmt "$ls" 2)|$(fmt "$os" 2)" >>"$CPUTXT"
	}
	row() {	# row WORKLOAD CLIENTS LSMVARIANT OTHERVARIANT [NOTE]
		local w=$1 c=$2 lv=$3 ov=$4 note=${5:-} lt lp lm ot op om ratio pr label
		lt=$(med "$w" "$c" "$lv" 5); lp=$(med "$w" "$c" "$lv" 6); lm=$(col "$w" "$c" "$lv" 12 | maxof)
		ot=$(med "$w" "$c" "$ov" 5); op=$(med "$w" "$c" "$ov" 6); om=$(col "$w" "$c" "$ov" 12 | maxof)
		ratio=$(awk -v a="$lt" -v b="$ot" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b }')
		pr=$(paired "$w" "$c" "$lv" "$ov")
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | **%s** | %s | %s \\| %s |\n' "$(wname "$w")" "$c" "$(fmt "$lt" 0)" "$(fmt "$lp" 3)" \
			"$(fmt "$lm" 1)" "$(vname "$ov" "$w")$note" "$(fmt "$ot" 0)" "$(fmt "$op" 3)" "$(fmt "$om" 1)" "$(fmt "$ratio" 2)" "$(fmt "$pr" 2)" \
			"$(runs_of "$w" "$c" "$lv")" "$(runs_of "$w" "$c" "$ov")" >>"$MD"
		printf '%-34s %3s %8s %8s %8s  %-28s %8s %8s %8s %6s %6s\n' "$(wname "$w")" "$c" "$(fmt "$lt" 0)" "$(fmt "$lp" 3)" "$(fmt "$lm" 1)" \
			"$(vname "$ov" "$w")" "$(fmt "$ot" 0)" "$(fmt "$op" 3)" "$(fmt "$om" 1)" "$(fmt "$ratio" 2)" "$(fmt "$pr" 2)" >>"$TXT"
		cpurow "$w" "$c" "$lv" "$ov"
		if [ "$ratio" != nan ]; then
			case "$w" in put) label="put" ;; counter) label="counter" ;; hot) label="hot counter" ;; upsum) label="upsert sum" ;; *) label=$w ;; esac
			[ "$c" -gt 1 ] && label="$label c$c"
			case "$ov" in heap_async) label="$label vs sync off" ;; unl) label="$label vs UNLOGGED" ;; esac
			printf '"%s" %s %s %s %d %s\n' "$label" "$ratio" "$lt" "$ot" "$([ "$ov" = heap ] && echo 0 || echo 1)" \
				"$([ "$CPU_RATIO" = nan ] && echo NaN || echo "$CPU_RATIO")" >>"$DAT"
		fi
	}
	onlyrow() {	# onlyrow WORKLOAD CLIENTS VARIANT: a row with no lsm side
		local w=$1 c=$2 v=$3 t p m
		t=$(med "$w" "$c" "$v" 5); p=$(med "$w" "$c" "$v" 6); m=$(col "$w" "$c" "$v" 12 | maxof)
		printf '| %s | %s | - | - | - | %s | %s | %s | %s | - | - | %s |\n' "$(wname "$w")" "$c" "$(vname "$v" "$w")" "$(fmt "$t" 0)" "$(fmt "$p" 3)" \
			"$(fmt "$m" 1)" "$(runs_of "$w" "$c" "$v")" >>"$MD"
		printf '%-34s %3s %8s %8s %8s  %-28s %8s %8s %8s %6s %6s\n' "$(wname "$w")" "$c" - - - "$(vname "$v" "$w")" "$(fmt "$t" 0)" "$(fmt "$p" 3)" "$(fmt "$m" 1)" - - >>"$TXT"
		t=$(med "$w" "$c" "$v" 9); p=$(med "$w" "$c" "$v" 11)
		printf '| %s | %s | %s | - | %s | - | - | %s | - \\| %s | - \\| %s |\n' "$(wname "$w")" "$c" "$(vname "$v" "$w")" "$(fmt "$t" 1)" "$(fmt "$p" 1)" \
			"$(fmt "$(med "$w" "$c" "$v" 10)" 0)" "$(fmt "$(med "$w" "$c" "$v" 13)" 2)" >>"$CPUMD"
		printf '%-34s %3s %-16s %9s %9s %7s %9s %9s  %-18s %s\n' "$(wname "$w")" "$c" "$(vname "$v" "$w")" - "$(fmt "$t" 1)" - - "$(fmt "$p" 1)" \
			"-|$(fmt "$(med "$w" "$c" "$v" 10)" 0)" "-|$(fmt "$(med "$w" "$c" "$v" 13)" 2)" >>"$CPUTXT"
	}
	narow() {	# narow WORKLOAD CLIENTS WHY
		printf '| %s | %s | %s | | | | | | | | | |\n' "$(wname "$1")" "$2" "$3" >>"$MD"
		printf '%-34s %3s %s\n' "$(wname "$1")" "$2" "$3" >>"$TXT"
	}
	for w in select1 get range join put counter hot upsum; do
		has "$WORKLOADS" "$w" || continue
		for c in $(clients_of "$w"); do
			st=$(status_of "$w" "$c")
			if [ "$st" = skip ]; then narow "$w" "$c" "not run (not in --clients-list)"; continue; fi
			if [ "$st" = na ]; then
				narow "$w" "$c" "$NA_MULTI"
				if [ "$HEAP_ONLY" -eq 1 ] && has "$CLIENTS_LIST" "$c"; then
					for v in $(variants_of "$w"); do uses_lsm "$v" || onlyrow "$w" "$c" "$v"; done
				fi
				continue
			fi
			case "$w" in
				select1) onlyrow "$w" "$c" floor ;;
				get|range|join) row "$w" "$c" lsm heap ;;
				put|counter|hot|upsum)
					row "$w" "$c" lsm heap
					if has "$SYNC_LIST" off; then
						if [ "$LSM_SYNC_GUC" -eq 1 ]; then
							row "$w" "$c" lsm_async heap_async " (lsm_fdw.synchronous_commit off too)"
						else
							row "$w" "$c" lsm heap_async " (lsm_fdw: no such setting yet, still fsyncs)"
						fi
					fi
					row "$w" "$c" lsm unl
					[ "$w" = upsum ] || onlyrow "$w" "$c" floor
					;;
			esac
		done
	done

	LOADMD=$OUT_DIR/load.md
	if has "$WORKLOADS" load; then
		lcol() { awk -F'\t' -v v="$1" -v f="$2" '$1 == v { print $f }' "$LOADRES"; }
		{
			echo "| bulk load, COPY of $KEYS rows | COPY s (median) | bytes after COPY | log written by the COPY | then: data in its final files | bytes then | bytes then + log | backend peak RSS | runs (COPY s) |"
			echo "|---|---:|---:|---:|---|---:|---:|---:|---|"
			for v in heap unl lsm; do
				case "$v" in heap) n="heap (PRIMARY KEY)" s="CHECKPOINT" ;; unl) n="UNLOGGED heap" s="CHECKPOINT" ;; lsm) n="lsm_fdw" s="lsm_fdw_flush()" ;; esac
				printf '| %s | %.2f | %s MiB | %s MiB | %s %.2f s | %s MiB | %s MiB | %s MiB | %s |\n' "$n" "$(lcol "$v" 3 | median)" \
					"$(lcol "$v" 4 | median | awk '{ printf "%.0f", $1 / 1048576 }')" \
					"$(lcol "$v" 7 | median | awk '{ if ($1 == "" || $1 == "nan") print "-"; else printf "%.0f", $1 / 1048576 }')" "$s" "$(lcol "$v" 5 | median)" \
					"$(lcol "$v" 6 | median | awk '{ printf "%.0f", $1 / 1048576 }')" \
					"$(awk -F'\t' -v v="$v" '$1 == v { print $6 + $7 }' "$LOADRES" | median | awk '{ printf "%.0f", $1 / 1048576 }')" \
					"$(lcol "$v" 8 | median | awk '{ printf "%.0f", $1 / 1024 }')" \
					"$(lcol "$v" 3 | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }')"
			done
		} >"$LOADMD"
		hl=$(lcol heap 3 | median); ll=$(lcol lsm 3 | median); ul=$(lcol unl 3 | median)
		awk -v h="$hl" -v l="$ll" -v u="$ul" 'BEGIN {
			printf "\"bulk load (COPY)\" %.2f %.2f %.2f 0 NaN\n", h / l, l, h
			printf "\"bulk load vs UNLOGGED\" %.2f %.2f %.2f 1 NaN\n", u / l, l, u }' >>"$DAT"
	fi

	{
		cat "$OUT_DIR/header.txt"
		echo
		cat "$TXT"
		echo "(p99: median over the runs; max: the longest transaction of all runs; ratio: of the medians;"
		echo " paired: median over the runs of the ratio within a run)"
		echo
		echo "CPU per committed transaction (medians; backend: the pgbench session's backend; all: every process"
		echo "of the instance; rq-wait: % of the time the backend waited for a CPU, i.e. other load):"
		cat "$CPUTXT"
		if [ -f "$LOADMD" ]; then echo; cat "$LOADMD"; fi
		echo
		echo "commands (\$DIR: the scratch directory; scripts in $OUT_DIR/scripts):"
		sed 's/^/  /' "$CMDS"
		if [ -s "$OUT_DIR/errors.txt" ]; then echo; echo "ERRORS:"; cat "$OUT_DIR/errors.txt"; fi
	} >"$OUT_DIR/summary.txt"
	cat "$TXT"
	echo
	cat "$CPUTXT"
	[ -f "$LOADMD" ] && { echo; cat "$LOADMD"; }

	# --- the chart ---------------------------------------------------------------------------
	if [ "$DO_PLOT" -eq 1 ] && [ "$(grep -vc '^#' "$DAT")" -gt 0 ]; then
		mkdir -p "$(dirname "$PLOT")"
		sub="$KEYS keys, 1 KiB values, median of $RUNS run(s) x ${DURATION} s, $NPROC CPUs, data on $DATA_BASE; lsm_fdw $(echo "$SRC_DESC" | cut -d' ' -f1-2)${SERVER_EXTRA:+, $SERVER_EXTRA}, $(date -u +%Y-%m-%d)"
		if gnuplot -e "datafile='$DAT'; outfile='$PLOT'; subtitle='$sub'" "$ROOT/bench/plot_sql.gnu" 2>"$OUT_DIR/logs/gnuplot.err"; then
			echo "chart: $PLOT"
		else
			echo "gnuplot failed:" >&2
			cat "$OUT_DIR/logs/gnuplot.err" >&2
		fi
	fi
	echo "results: $OUT_DIR (summary.txt, sql_bench.md, cpu.md, load.md, results.tsv, commands.txt, scripts/, logs/)"
	if [ -s "$OUT_DIR/errors.txt" ]; then
		echo "THERE WERE ERRORS: $OUT_DIR/errors.txt" >&2
		return 1
	fi
}

# The parameters report() needs, saved with the results.
REPORT_PARAMS="KEYS RUNS DURATION CTR_KEYS HOT_KEYS JOIN_USERS WORKLOADS CLIENTS_LIST SYNC_LIST MULTI HEAP_ONLY
	LSM_SYNC_GUC NPROC DATA_BASE SRC_DESC PROTOCOL SERVER_EXTRA"
if [ -n "$REPORT_DIR" ]; then
	OUT_DIR=$(cd "$REPORT_DIR" && pwd)
	. "$OUT_DIR/params.sh"
	RESULTS=$OUT_DIR/results.tsv LOADRES=$OUT_DIR/load.tsv CMDS=$OUT_DIR/commands.txt
	if [ -z "$PLOT" ]; then
		PLOT=$OUT_DIR/benchmarks-sql.png
		[ "$KEYS" -eq 1000000 ] && [ "$RUNS" -ge 3 ] && [ "$WORKLOADS" = "$ALL_WORKLOADS" ] && PLOT=$ROOT/docs/benchmarks-sql.png
	fi
	command -v gnuplot >/dev/null || DO_PLOT=0
	report
	exit $?
fi

STAMP=$(date -u +%Y%m%d-%H%M%S)
T_BEGIN=$EPOCHREALTIME
OUT_DIR=${OUT_DIR:-$ROOT/bench/out/sql_bench-$STAMP}
mkdir -p "$OUT_DIR/logs" "$OUT_DIR/scripts"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
if [ -z "$PLOT" ]; then
	if [ "$KEYS" -eq 1000000 ] && [ "$RUNS" -ge 3 ] && [ "$WORKLOADS" = "$ALL_WORKLOADS" ]; then
		PLOT=$ROOT/docs/benchmarks-sql.png
	else
		PLOT=$OUT_DIR/benchmarks-sql.png
	fi
fi

# --- packages, build, install ----------------------------------------------
extra=()
[ "$DO_PLOT" -eq 1 ] && extra+=(gnuplot-nox)
if ! lsm_install_deps "${extra[@]}"; then
	command -v gnuplot >/dev/null || { echo "no gnuplot: no chart" >&2; DO_PLOT=0; }
	lsm_install_deps || exit 1
fi
PGBIN=$($PG_CONFIG --bindir)
PKGLIB=$($PG_CONFIG --pkglibdir)

# --- the scratch directory: the instance, the load file --------------------
# Peak use: the load file, two heap copies and the lsm table (WAL + SSTable)
# of KEYS 1 KiB rows, plus Postgres WAL up to max_wal_size: ~ 8 KiB a key + 5 GB.
need_kb=$((KEYS * 8 + 5 * 1024 * 1024))
DATA_BASE=${DATA_BASE:-/var/tmp}
if [ "$(df -Pk "$DATA_BASE" | awk 'NR == 2 { print $4 }')" -lt "$need_kb" ]; then
	echo "NOTE: $DATA_BASE has less than $((need_kb / 1024)) MiB free"
fi
case "$(stat -f -c %T "$DATA_BASE" 2>/dev/null)" in
	tmpfs|ramfs) echo "NOTE: $DATA_BASE is in memory: fsync is free there, so durable-commit figures do not hold on a disk" ;;
esac
DIR=$(mktemp -d "$DATA_BASE/lsm_sqlbench.XXXXXX")
WORK=$DIR/work
mkdir -p "$WORK"
chmod 755 "$DIR"
chown postgres: "$DIR" 2>/dev/null || true
PGDATA_DIR=$DIR/data

stop() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		cp "$DIR/server.log" "$OUT_DIR/logs/server.log" 2>/dev/null || true
		lsm_as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$DIR"
	echo "bench instance stopped and $DIR removed"
	exit $rc
}
trap stop EXIT
trap 'exit 130' INT TERM

# Build and install the chosen lsm_fdw.  The postmaster loads it at start
# (shared_preload_libraries) and every backend is a fork of it, so a later
# reinstall by someone else does not change what this instance runs.
BUILT_SO=
case "$SOURCE" in
	head)
		mkdir -p "$WORK/src"
		git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src"
		(cd "$WORK/src" && lsm_build_install) || { echo "build of HEAD failed" >&2; exit 1; }
		BUILT_SO=$WORK/src/lsm_fdw.so
		SRC_DESC="git $(git -C "$ROOT" rev-parse --short HEAD) (HEAD, built from git archive)"
		;;
	tree)
		(cd "$ROOT" && lsm_build_install) || { echo "build of the working tree failed" >&2; exit 1; }
		BUILT_SO=$ROOT/lsm_fdw.so
		SRC_DESC="git $(git -C "$ROOT" rev-parse --short HEAD) + working tree ($(git -C "$ROOT" status --porcelain -- src sql | wc -l) changed files in src/, sql/)"
		;;
	installed)
		SRC_DESC="the installed $PKGLIB/lsm_fdw.so"
		;;
esac

while (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null || [ -e "/tmp/.s.PGSQL.$PORT" ]; do PORT=$((PORT + 1)); done
SERVER_OPTS="-p $PORT -k $DIR -c listen_addresses='' -c shared_preload_libraries=lsm_fdw -c max_worker_processes=16 -c shared_buffers=1GB -c max_wal_size=4GB${SERVER_EXTRA:+ $SERVER_EXTRA}"
echo "== throw-away instance in $PGDATA_DIR (port $PORT)"
lsm_as_postgres "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -E UTF8 ${LOCALE:+--locale="$LOCALE"} -U postgres >"$DIR/initdb.log" 2>&1
for try in 1 2 3; do
	if [ -n "$BUILT_SO" ] && ! cmp -s "$BUILT_SO" "$PKGLIB/lsm_fdw.so"; then
		# Someone installed another build in between: ours again.
		install -m 755 "$BUILT_SO" "$PKGLIB/lsm_fdw.so"
	fi
	lsm_as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$DIR/server.log" -w -o "$SERVER_OPTS" start >/dev/null
	if [ -z "$BUILT_SO" ] || cmp -s "$BUILT_SO" "$PKGLIB/lsm_fdw.so"; then break; fi
	lsm_as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
	[ "$try" -eq 3 ] && { echo "lsm_fdw.so keeps changing under $PKGLIB; giving up" >&2; exit 1; }
done
SO_MD5=$(md5sum "$PKGLIB/lsm_fdw.so" | cut -c1-12)

PSQL=("$PGBIN/psql" -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
PSQL+=(-d bench)
q() { PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -At "$@"; }	# q -c SQL ...: unaligned, tuples only

# now_s: seconds since the epoch, with microseconds
now_s() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# wait_idle: until no other client session is connected (so that a run
# starts on an idle instance).
wait_idle() {
	local i n
	for ((i = 0; i < 300; i++)); do
		n=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
		[ "$n" -eq 0 ] && return 0
		sleep 0.1
	done
	echo "WARNING: $n other sessions still connected after 30 s" >&2
}

# --- schema ------------------------------------------------------------------
echo "== schema and data generators"
q <<'EOF'
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;

-- The keys: 'user:' and 8 digits (kv tables), 'ctr:' and 8 digits (counters).
CREATE FUNCTION bench_key(i bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 'user:' || lpad(i::text, 8, '0') $$;

-- A 1024-byte JSON document that looks like a web session: field names,
-- user agents and paths repeat across rows (compressible), ids, timestamps,
-- addresses and tokens do not.  Each row's pseudo-random parts come from its
-- own md5/hashint8 inputs, so neighbouring rows share nothing by accident.
CREATE FUNCTION bench_value(i bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT left(j || repeat(' ', 1024), 1022) || '"}'
  FROM (SELECT format('{"session_id":"%s","user_id":%s,"email":"%s@%s","created_at":"%s","ip":"%s","agent":"%s","locale":"%s","theme":"%s","cart":[%s],"csrf":"%s","flags":%s,"history":"%s',
        h1 || h2,
        (hashint8(i * 32) & 16777215),
        substr(h3, 1, 10), (ARRAY['example.com','mail.test','corp.example','inbox.test'])[1 + (hashint8(i * 32 + 7) & 3)],
        to_char(timestamp '2026-01-01' + (hashint8(i * 32 + 1) & 33554431) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        ((hashint8(i * 32 + 2) & 255)::text || '.' || (hashint8(i * 32 + 3) & 255) || '.' || (hashint8(i * 32 + 4) & 255) || '.' || (hashint8(i * 32 + 5) & 255)),
        (ARRAY['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36',
               'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
               'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0',
               'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'])[1 + (hashint8(i * 32 + 6) & 3)],
        (ARRAY['en-US','de-DE','fr-FR','ja-JP','pt-BR'])[1 + (hashint8(i * 32 + 8) & 3)],
        (ARRAY['dark','light','system'])[1 + (hashint8(i * 32 + 9) & 1)],
        concat_ws(',', '{"sku":"SKU-' || (hashint8(i * 32 + 10) & 65535) || '","qty":' || (1 + (hashint8(i * 32 + 11) & 3)) || '}',
                       '{"sku":"SKU-' || (hashint8(i * 32 + 12) & 65535) || '","qty":' || (1 + (hashint8(i * 32 + 13) & 3)) || '}'),
        h4,
        (hashint8(i * 32 + 14) & 1023),
        '/products/' || (hashint8(i * 32 + 15) & 9999) || '?ref=' || substr(h2, 1, 6) || ' /cart /products/' || (hashint8(i * 32 + 16) & 9999) ||
        ' /search?q=' || substr(h3, 11, 8) || ' /account/orders/' || (hashint8(i * 32 + 17) & 999999) || ' /products/' || (hashint8(i * 32 + 18) & 9999) ||
        '?ref=' || substr(h4, 1, 6) || ' /checkout/shipping /checkout/payment?token=' || h5 || ' /products/' || (hashint8(i * 32 + 19) & 9999) ||
        ' /help/articles/' || (hashint8(i * 32 + 20) & 499) || ' /products/' || (hashint8(i * 32 + 21) & 9999) || '?ref=' || substr(h5, 1, 6) ||
        ' /blog/' || (hashint8(i * 32 + 22) & 2999) || ' /products/' || (hashint8(i * 32 + 23) & 9999) || ' /cart /products/' || (hashint8(i * 32 + 24) & 9999) ||
        ' /search?q=' || substr(h1, 1, 8) || ' /products/' || (hashint8(i * 32 + 25) & 9999) || '?ref=' || substr(h3, 20, 6) || ' /account/settings /products/' ||
        (hashint8(i * 32 + 26) & 9999) || ' /wishlist /products/' || (hashint8(i * 32 + 27) & 9999) || '?ref=' || substr(h4, 10, 6) ||
        ' /products/' || (hashint8(i * 32 + 28) & 9999) || '?ref=' || substr(h1, 20, 6) ||
        ' /orders/' || (hashint8(i * 32 + 29) & 999999) || '/track?carrier=ups&id=1Z' || upper(substr(h2, 10, 16)) ||
        ' /notifications /products/' || (hashint8(i * 32 + 30) & 9999) || ' /reviews/new?sku=SKU-' || (hashint8(i * 32 + 31) & 65535) ||
        ' /products/' || (hashint8(i * 32 + 3) & 9999) || '?ref=' || substr(h5, 20, 6) || ' /logout')
     AS j
     FROM (SELECT md5('a' || i) h1, md5('b' || i) h2, md5('c' || i) h3,
                  md5('d' || i) h4, md5('e' || i) h5) h) s
$$;
EOF

# make_kv VARIANT: (re)create the kv table of lsm, heap or unl
make_kv() {
	case "$1" in
		lsm) q -c "DROP FOREIGN TABLE IF EXISTS kv_lsm" \
			-c "CREATE FOREIGN TABLE kv_lsm (k text OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (on_duplicate 'overwrite')" ;;
		heap) q -c "DROP TABLE IF EXISTS kv_heap" -c "CREATE TABLE kv_heap (k text PRIMARY KEY, v text)" ;;
		unl) q -c "DROP TABLE IF EXISTS kv_unl" -c "CREATE UNLOGGED TABLE kv_unl (k text PRIMARY KEY, v text)" ;;
	esac
}
lsm_dir_of() { echo "$PGDATA_DIR/lsm_fdw/$(q -c "SELECT oid FROM pg_database WHERE datname = current_database()")/$(q -c "SELECT '$1'::regclass::oid")"; }

# --- what this lsm_fdw can do ---------------------------------------------------
LSM_SYNC_GUC=$(q -c "SELECT count(*) FROM pg_settings WHERE name = 'lsm_fdw.synchronous_commit'")
if [ "$MULTI" = auto ]; then
	# One session holds the table open; does a second one get in?  (Yes
	# with the shared engine; 55006 with the one-session-per-table stage.)
	q -c "CREATE FOREIGN TABLE probe_lsm (k int OPTIONS (key 'true')) SERVER lsm" -c "INSERT INTO probe_lsm VALUES (1)"
	wait_idle
	q -c "SELECT count(*) FROM probe_lsm" -c "SELECT pg_sleep(5)" >/dev/null 2>&1 &
	holder=$!
	sleep 1
	if q -v VERBOSITY=verbose -c "SELECT count(*) FROM probe_lsm" >"$WORK/probe.out" 2>&1; then
		MULTI=yes
	elif grep -q 55006 "$WORK/probe.out"; then
		MULTI=no
	else
		echo "multi-session probe failed unexpectedly:" >&2
		cat "$WORK/probe.out" >&2
		exit 1
	fi
	wait "$holder" || true
	wait_idle
	q -c "DROP FOREIGN TABLE probe_lsm"
	MULTI_HOW="probed"
else
	MULTI_HOW="set by --multi-session"
fi

# --- the description --------------------------------------------------------------
{
	echo "== lsm_fdw vs heap, SQL workloads (bench/sql_bench.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $NPROC CPUs," \
		"$(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'), kernel $(uname -r);" \
		"load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "data: $DIR on $(df -PT "$DATA_BASE" | awk 'NR == 2 { print $2 }') ($DATA_BASE)"
	echo "Postgres: $("$PGBIN/postgres" --version), options: $SERVER_OPTS; initdb -E UTF8, collation $(q -c "SELECT datcollate FROM pg_database WHERE datname = current_database()")"
	echo "lsm_fdw: $SRC_DESC, lsm_fdw.so md5 $SO_MD5; tables with default options" \
		"(memtable_size 32MB, 4kB blocks, LZ4 upper levels and zstd-1 bottom, bloom 10 bits);" \
		"$(q -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('lsm_fdw.memtable_memory', 'lsm_fdw.block_cache_size', 'lsm_fdw.max_transaction_memory', 'lsm_fdw.max_key_locks_per_transaction', 'lsm_fdw.wal_sync_delay')")"
	echo "pgbench: -n -M $PROTOCOL -T $DURATION, $RUNS run(s) per variant, alternating; keys $KEYS," \
		"counters $CTR_KEYS (hot $HOT_KEYS), users $USERS; 1-client runs pinned: $([ "$PIN" = one ] && [ "$NPROC" -gt 1 ] &&
		echo "pgbench and all of the instance on CPU $PIN_CPU" || echo no)"
	if [ "$MULTI" = yes ]; then
		echo "multi-session access to one lsm table: yes ($MULTI_HOW)"
	else
		echo "multi-session access to one lsm table: no ($MULTI_HOW): rows with >1 client on lsm are n/a"
	fi
	if [ "$LSM_SYNC_GUC" -eq 1 ]; then
		echo "lsm_fdw.synchronous_commit exists: the sync off rows set it off for lsm, like Postgres's"
	else
		echo "lsm_fdw has no synchronous_commit setting: it always fsyncs its WAL at commit (even on tmpfs," \
			"where fsync is nearly free); the 'sync off' rows compare that with heap at synchronous_commit=off"
	fi
} | tee "$OUT_DIR/header.txt"

# --- data ---------------------------------------------------------------------------
LOADFILE=$DIR/load.tsv
echo "== generating $KEYS rows of 1 KiB into $LOADFILE, and the other tables"
t0=$(now_s)
# Two generators in parallel (odd and even keys), each in random key order.
for part in 0 1; do
	q -c "COPY (SELECT bench_key(g), bench_value(g) FROM generate_series(1, $KEYS) g
	            WHERE g % 2 = $part ORDER BY hashint8(g)) TO '$LOADFILE.$part'" &
done
wait
lsm_as_postgres sh -c "cat '$LOADFILE.0' '$LOADFILE.1' > '$LOADFILE' && rm '$LOADFILE.0' '$LOADFILE.1'"
q <<EOF
CREATE TABLE vals (i int PRIMARY KEY, v text);
INSERT INTO vals SELECT g, bench_value(10000000 + g) FROM generate_series(1, $NVALS) g;
CREATE TABLE users (id int8 PRIMARY KEY, name text, session_key text);
INSERT INTO users SELECT g, 'user ' || g, bench_key(1 + (hashint8(g) & 1073741823) % $KEYS) FROM generate_series(1, $USERS) g;
CREATE TABLE ctr_heap (k text PRIMARY KEY, n int8);
CREATE UNLOGGED TABLE ctr_unl (k text PRIMARY KEY, n int8);
CREATE FOREIGN TABLE ctr_lsm (k text OPTIONS (key 'true'), n int8) SERVER lsm;
INSERT INTO ctr_heap SELECT 'ctr:' || lpad(g::text, 8, '0'), 0 FROM generate_series(1, $CTR_KEYS) g;
INSERT INTO ctr_unl SELECT * FROM ctr_heap;
INSERT INTO ctr_lsm SELECT * FROM ctr_heap;
CREATE TABLE sum_heap (k text PRIMARY KEY, n int8);
CREATE UNLOGGED TABLE sum_unl (k text PRIMARY KEY, n int8);
CREATE FOREIGN TABLE sum_lsm (k text OPTIONS (key 'true'), n int8) SERVER lsm OPTIONS (on_duplicate 'sum');
VACUUM ANALYZE vals; VACUUM ANALYZE users; VACUUM ANALYZE ctr_heap; VACUUM ANALYZE ctr_unl;
EOF
echo "   $(elapsed "$t0" "$(now_s)") s, load file $(du -m "$LOADFILE" | cut -f1) MiB"
# The generated file and tables (a few GB) are still being written back to
# the disk: the first runs would compete with that, whichever variant they are.
q -c "CHECKPOINT" >/dev/null
sync

RESULTS=$OUT_DIR/results.tsv		# workload clients variant run tps p99_ms first_ms ntx backend_cpu_us_per_tx backend_rq_wait_pct instance_cpu_us_per_tx max_ms stall_s
LOADRES=$OUT_DIR/load.tsv			# variant run copy_s bytes_after_copy settle_s bytes_settled log_bytes_of_copy peak_rss_kb
CMDS=$OUT_DIR/commands.txt
: >"$RESULTS"
: >"$LOADRES"
: >"$CMDS"

# --- bulk load -------------------------------------------------------------------------
# load_one VARIANT RUN: a fresh table, CHECKPOINT, timed COPY of the load file,
# its size, then the time until the data is in its final files.
load_one() {
	local v=$1 run=$2 tbl=kv_$1 t0 t1 copy_s bytes settle_s bytes2 dir lsn0 lsn1 logb
	wait_idle
	make_kv "$v"
	wait_idle
	q -c "CHECKPOINT"
	local copy_sql="COPY $tbl FROM '$LOADFILE'" hwm
	local hwm_sql="SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s*(\\d+) kB'))[1]"
	[ "$run" -eq 1 ] && echo "psql -c \"$copy_sql\" -c \"$hwm_sql\"" | sed "s#$DIR#\$DIR#g" >>"$CMDS"
	if [ "$v" = lsm ]; then lsn0=$(q -c "SELECT lsm_fdw_server_stats()->>'log_insert_lsn'")
	else lsn0=$(q -c "SELECT pg_current_wal_insert_lsn()"); fi
	t0=$(now_s)
	q -c "$copy_sql" -c "$hwm_sql" >"$OUT_DIR/logs/load-$v-run$run.out" 2>&1 || {
		echo "FAILED: $copy_sql" >&2; cat "$OUT_DIR/logs/load-$v-run$run.out" >&2; exit 1; }
	t1=$(now_s)
	hwm=$(tail -n 1 "$OUT_DIR/logs/load-$v-run$run.out")
	copy_s=$(elapsed "$t0" "$t1")
	if [ "$v" = lsm ]; then
		lsn1=$(q -c "SELECT lsm_fdw_server_stats()->>'log_insert_lsn'")
		logb=$((lsn1 - lsn0))
		dir=$(lsm_dir_of "$tbl")
		bytes=$(du -sb "$dir" | cut -f1)
		t0=$(now_s)
		q -c "SELECT lsm_fdw_flush('$tbl')" >/dev/null	# the rest of the memtable to an SSTable
		settle_s=$(elapsed "$t0" "$(now_s)")
		bytes2=$(du -sb "$dir" | cut -f1)
		[ "$run" -eq 1 ] && echo "psql -c \"SELECT lsm_fdw_flush('$tbl')\"" >>"$CMDS"
	else
		logb=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')::int8")
		bytes=$(q -c "SELECT pg_total_relation_size('$tbl')")
		t0=$(now_s)
		q -c "CHECKPOINT"
		settle_s=$(elapsed "$t0" "$(now_s)")
		bytes2=$bytes
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$run" "$copy_s" "$bytes" "$settle_s" "$bytes2" "$logb" "$hwm" >>"$LOADRES"
	printf '   run %d %-5s COPY %8.2f s  %6d MiB  log %6d MiB   then %s %7.2f s  %6d MiB (%d MiB with the log)  backend peak RSS %d MiB\n' "$run" "$v" "$copy_s" \
		$((bytes / 1048576)) $((logb / 1048576)) "$([ "$v" = lsm ] && echo "lsm_fdw_flush()" || echo "CHECKPOINT")" "$settle_s" $((bytes2 / 1048576)) \
		$(((bytes2 + logb) / 1048576)) $((${hwm:-0} / 1024))
}

LOAD_VARIANTS=(heap lsm unl)
if has "$WORKLOADS" load; then
	echo "== bulk load: COPY of $KEYS rows, $RUNS run(s), alternating"
	for ((run = 1; run <= RUNS; run++)); do
		order=("${LOAD_VARIANTS[@]:$(((run - 1) % 3))}" "${LOAD_VARIANTS[@]:0:$(((run - 1) % 3))}")
		for v in "${order[@]}"; do load_one "$v" "$run"; done
	done
else
	echo "== filling the kv tables (untimed)"
	for v in "${LOAD_VARIANTS[@]}"; do
		make_kv "$v"
		q -c "COPY kv_$v FROM '$LOADFILE'"
	done
	q -c "SELECT lsm_fdw_flush('kv_lsm')" >/dev/null
fi
rm -f "$LOADFILE"
q -c "VACUUM ANALYZE kv_heap" -c "VACUUM ANALYZE kv_unl" -c "ANALYZE kv_lsm" -c "CHECKPOINT"

# Same answers from both?  A full scan, a range, the join.
echo "== checking that lsm and heap return the same rows"
check() {
	local what=$1 sql=$2 a b
	a=$(q -c "${sql//TBL/kv_heap}")
	b=$(q -c "${sql//TBL/kv_lsm}")
	if [ "$a" != "$b" ]; then
		echo "WRONG RESULT ($what): heap '$a', lsm '$b'; query: $sql" | tee -a "$OUT_DIR/errors.txt" >&2
	else
		echo "   $what: same ($a)"
	fi
}
mid=$(q -c "SELECT bench_key($KEYS / 2)")
check "full scan" "SELECT count(*), sum(hashtext(k || v)::numeric) FROM TBL"
check "range" "SELECT count(*), md5(string_agg(k || v, '' ORDER BY k)) FROM (SELECT k, v FROM TBL WHERE k >= '$mid' ORDER BY k LIMIT 100) s"
check "join" "SELECT count(*), md5(string_agg(s.k || s.v, '' ORDER BY u.id)) FROM users u JOIN TBL s ON s.k = u.session_key WHERE u.id <= 1000"

# --- pgbench ---------------------------------------------------------------------------
# The variants: lsm, heap (synchronous_commit on), heap_async (off), unl
# (UNLOGGED heap), lsm_async (only with a lsm_fdw.synchronous_commit GUC),
# floor (no table).
table_of() {	# table_of WORKLOAD VARIANT
	local base=kv
	case "$1" in counter|hot) base=ctr ;; upsum) base=sum ;; esac
	case "$2" in lsm|lsm_async) echo "${base}_lsm" ;; heap|heap_async) echo "${base}_heap" ;; unl) echo "${base}_unl" ;; *) echo "" ;; esac
}
pgoptions_of() {
	case "$1" in
		heap) echo "-c synchronous_commit=on" ;;
		heap_async) echo "-c synchronous_commit=off" ;;
		lsm) [ "$LSM_SYNC_GUC" -eq 1 ] && echo "-c lsm_fdw.synchronous_commit=on" || true ;;
		lsm_async) echo "-c lsm_fdw.synchronous_commit=off -c synchronous_commit=off" ;;
	esac
}
KEYEXPR="'user:' || lpad(:id::text, 8, '0')"
CTREXPR="'ctr:' || lpad(:id::text, 8, '0')"
# script_of WORKLOAD VARIANT: writes the pgbench script, prints its path
script_of() {
	local w=$1 v=$2 t f
	t=$(table_of "$w" "$v")
	f=$OUT_DIR/scripts/$w-${t:-floor}.sql
	case "$w/$v" in
		select1/*) printf 'SELECT 1;\n' ;;
		get/*) printf '\\set id random(1, :nkeys)\nSELECT v FROM %s WHERE k = %s;\n' "$t" "$KEYEXPR" ;;
		range/*) printf '\\set id random(1, :nkeys)\nSELECT k, v FROM %s WHERE k >= %s ORDER BY k LIMIT 100;\n' "$t" "$KEYEXPR" ;;
		join/*) printf '\\set a random(1, :nusers - %d)\nSELECT count(*), sum(length(s.v)) FROM users u JOIN %s s ON s.k = u.session_key WHERE u.id BETWEEN :a AND :a + %d;\n' \
			$((JOIN_USERS - 1)) "$t" $((JOIN_USERS - 1)) ;;
		put/floor) printf '\\set id random(1, :nkeys)\n\\set vi random(1, :nvals)\nSELECT %s, length(v) FROM vals WHERE i = :vi;\n' "$KEYEXPR" ;;
		put/lsm*) printf '\\set id random(1, :nkeys)\n\\set vi random(1, :nvals)\nINSERT INTO %s (k, v) SELECT %s, v FROM vals WHERE i = :vi;\n' "$t" "$KEYEXPR" ;;
		put/*) printf '\\set id random(1, :nkeys)\n\\set vi random(1, :nvals)\nINSERT INTO %s (k, v) SELECT %s, v FROM vals WHERE i = :vi\n  ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;\n' "$t" "$KEYEXPR" ;;
		counter/floor) printf '\\set id random(1, :nctr)\nUPDATE ctr_heap SET n = n + 1 WHERE k = %s;\n' "'miss:' || lpad(:id::text, 8, '0')" ;;
		hot/floor) printf '\\set id random(1, :nhot)\nUPDATE ctr_heap SET n = n + 1 WHERE k = %s;\n' "'miss:' || lpad(:id::text, 8, '0')" ;;
		counter/*) printf '\\set id random(1, :nctr)\nUPDATE %s SET n = n + 1 WHERE k = %s;\n' "$t" "$CTREXPR" ;;
		hot/*) printf '\\set id random(1, :nhot)\nUPDATE %s SET n = n + 1 WHERE k = %s;\n' "$t" "$CTREXPR" ;;
		upsum/lsm*) printf '\\set id random(1, :nctr)\nINSERT INTO %s VALUES (%s, 1);\n' "$t" "$CTREXPR" ;;
		upsum/*) printf '\\set id random(1, :nctr)\nINSERT INTO %s AS t VALUES (%s, 1)\n  ON CONFLICT (k) DO UPDATE SET n = t.n + excluded.n;\n' "$t" "$CTREXPR" ;;
	esac >"$f"
	echo "$f"
}

# latstats FILES...: from the latency column (us) of pgbench logs: the
# nearest-rank 99th percentile and the maximum, in ms, and the stall time:
# the summed latency of transactions over 100 ms, in s
latstats() {
	cat "$@" | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1; if ($1 > 100000) st += $1 } END {
		if (NR == 0) { print "nan nan nan"; exit }
		i = int(0.99 * NR); if (i < 0.99 * NR) i++; if (i < 1) i = 1
		printf "%.3f %.1f %.2f", v[i] / 1000, v[NR] / 1000, st / 1e6 }'
}

# pin_instance CPULIST: the postmaster and all its processes on those CPUs
pin_instance() {
	local pm p
	pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
	for p in "$pm" $(pgrep -P "$pm"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done
}
# sleep_until T: until EPOCHREALTIME T
sleep_until() { local d; d=$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }'); sleep "$d"; }
# schedsnap: "pid on-cpu-ns runqueue-wait-ns ..." of every process of the instance
schedsnap() {
	local pm p st a b
	pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
	for p in "$pm" $(pgrep -P "$pm"); do
		st=$(cat "/proc/$p/schedstat" 2>/dev/null) || continue
		read -r a b _ <<<"$st"
		[ -n "$b" ] && printf '%s %s %s ' "$p" "$a" "$b"
	done
}

# run_one WORKLOAD CLIENTS VARIANT RUN: one pgbench run, one line in RESULTS
run_one() {
	local w=$1 c=$2 v=$3 run=$4 t script j opts cmd name out tps ntx p99 maxl stall first rc prep=""
	t=$(table_of "$w" "$v")
	script=$(script_of "$w" "$v")
	j=$((c < NPROC ? c : NPROC))
	opts=$(pgoptions_of "$v")
	name=$w-c$c-$v-run$run
	out=$OUT_DIR/logs/$name
	wait_idle
	q -c "CHECKPOINT"
	if uses_lsm "$v"; then
		local t0
		t0=$(now_s)
		q -c "SELECT lsm_fdw_flush('$t')" >/dev/null
		prep="flush $(elapsed "$t0" "$(now_s)") s"
		wait_idle
	fi
	rm -f "$WORK"/txlog.*
	local pin=()
	if [ "$PIN" = one ] && [ "$c" -eq 1 ] && [ "$NPROC" -gt 1 ]; then
		# pgbench and every process of the instance on one CPU (see --pin)
		pin=(taskset -c "$PIN_CPU")
		pin_instance "$PIN_CPU"
	fi
	cmd=("${pin[@]}" "$PGBIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" -T "$DURATION" -c "$c" -j "$j"
		"--random-seed=$((SEED + run))" -D "nkeys=$KEYS" -D "nvals=$NVALS" -D "nusers=$USERS" -D "nctr=$CTR_KEYS"
		-D "nhot=$HOT_KEYS" -f "$script" --log "--log-prefix=$WORK/txlog" bench)
	if [ "$run" -eq 1 ]; then
		{ [ ${#pin[@]} -gt 0 ] && printf "taskset -a -p -c %s <postmaster and each of its processes>; " "$PIN_CPU"
		  [ -n "$opts" ] && printf "PGOPTIONS='%s' " "$opts"; echo "${cmd[*]}"; } |
			sed "s#$DIR#\$DIR#g; s#$OUT_DIR/##g; s#-h \\\$DIR -p $PORT#-h \$DIR -p \$PORT#" >>"$CMDS"
	fi
	rc=0
	local t_start pg_pid t1 t2 bpids snap1 snap2 cpu
	t_start=$(now_s)
	PGOPTIONS="$opts" "${cmd[@]}" >"$out.out" 2>"$out.err" &
	pg_pid=$!
	# CPU accounting over the middle of the run (from 1 s after the start to
	# 1 s before the end): on-CPU and run-queue-wait time of the pgbench
	# sessions' backends and of every process of the instance, from
	# /proc/<pid>/schedstat.  Per committed transaction, it is much less
	# disturbed by other load on the machine than tps is.
	bpids=
	snap1=
	if [ "$DURATION" -ge 3 ]; then
		sleep_until "$(awk -v a="$t_start" 'BEGIN { printf "%.6f", a + 1 }')"
		bpids=$(q -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'")
		t1=$(now_s); snap1=$(schedsnap)
		sleep_until "$(awk -v a="$t_start" -v d="$DURATION" 'BEGIN { printf "%.6f", a + d - 1 }')"
		t2=$(now_s); snap2=$(schedsnap)
	fi
	wait "$pg_pid" || rc=$?
	[ ${#pin[@]} -gt 0 ] && pin_instance "0-$((NPROC - 1))"
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out.out")
	ntx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out.out")
	if [ "$rc" -ne 0 ] || [ -z "$tps" ] || grep -q "^number of failed transactions: [1-9]" "$out.out"; then
		echo "   run $run $w c=$c $v: pgbench FAILED (exit $rc), see $out.err:" >&2
		tail -5 "$out.err" >&2
		echo "pgbench failed: $w c=$c $v run $run: $(tail -1 "$out.err")" >>"$OUT_DIR/errors.txt"
		printf '%s\t%s\t%s\t%s\tERR\tERR\tERR\t0\tnan\tnan\tnan\tnan\tnan\n' "$w" "$c" "$v" "$run" >>"$RESULTS"
		return 0
	fi
	read -r p99 maxl stall <<<"$(latstats "$WORK"/txlog.*)"
	cpu="nan nan nan"
	if [ -n "$snap1" ] && [ -n "$bpids" ]; then
		# backend CPU us/tx, backend run-queue wait (% of the window), instance CPU us/tx
		cpu=$(cat "$WORK"/txlog.* | awk -v t1="$t1" -v t2="$t2" -v b=" $bpids " -v s1="$snap1" -v s2="$snap2" '
			{ t = $5 + $6 / 1e6; if (t >= t1 && t <= t2) n++ }
			END {
				split(s1, a, " "); for (i = 1; i + 2 <= length(a); i += 3) { c1[a[i]] = a[i + 1]; w1[a[i]] = a[i + 2] }
				split(s2, a, " "); for (i = 1; i + 2 <= length(a); i += 3) {
					p = a[i]; if (!(p in c1)) continue
					dc = a[i + 1] - c1[p]; all += dc
					if (index(b, " " p " ")) { bc += dc; bw += a[i + 2] - w1[p]; nb++ }
				}
				if (n == 0 || nb == 0) { print "nan nan nan"; exit }
				printf "%.1f %.1f %.1f", bc / n / 1000, 100 * bw / nb / ((t2 - t1) * 1e9), all / n / 1000 }')
	fi
	first=$(cat "$WORK"/txlog.* | awk '!seen[$1]++ { if ($3 > m) m = $3 } END { printf "%.1f", m / 1000 }')
	rm -f "$WORK"/txlog.*
	read -r bcpu bwait icpu <<<"$cpu"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$c" "$v" "$run" "$tps" "$p99" "$first" "$ntx" \
		"$bcpu" "$bwait" "$icpu" "$maxl" "$stall" >>"$RESULTS"
	printf '   run %d %-8s c=%-2d %-10s %8.0f tps  p99 %7.3f ms  max %8.1f ms  first %6.1f ms  cpu/tx %6s us (all %6s)  rq-wait %5s%%  load %s  %s\n' \
		"$run" "$w" "$c" "$v" "$tps" "$p99" "$maxl" "$first" "$bcpu" "$icpu" "$bwait" "$(cut -d' ' -f1 /proc/loadavg)" "$prep"
}

for w in select1 get range join put counter hot upsum; do
	has "$WORKLOADS" "$w" || continue
	for c in $(clients_of "$w"); do
		st=$(status_of "$w" "$c")
		vs=($(variants_of "$w"))
		case "$st" in
			skip) echo "== $w, $c clients: not in --clients-list"; continue ;;
			na)
				if [ "$HEAP_ONLY" -eq 0 ]; then
					echo "== $w, $c clients: $NA_MULTI"
					continue
				fi
				vs=($(printf '%s\n' "${vs[@]}" | grep -v '^lsm'))
				has "$CLIENTS_LIST" "$c" || { echo "== $w, $c clients: $NA_MULTI"; continue; }
				echo "== $w, $c clients: lsm $NA_MULTI; heap variants only"
				;;
			run) echo "== $w, $c clients: ${vs[*]}" ;;
		esac
		n=${#vs[@]}
		for ((run = 1; run <= RUNS; run++)); do
			s=$(((run - 1) % n))
			for v in "${vs[@]:$s}" "${vs[@]:0:$s}"; do run_one "$w" "$c" "$v" "$run"; done
		done
	done
done

# Counters: every committed increment must be there.
if has "$WORKLOADS" counter || has "$WORKLOADS" hot; then
	echo "== checking the counters"
	for t in lsm heap unl; do
		want=$(awk -F'\t' -v t="$t" '($1 == "counter" || $1 == "hot") && $8 > 0 &&
			(($3 == t) || ($3 == t "_async")) { s += $8 } END { print s + 0 }' "$RESULTS")
		got=$(q -c "SELECT sum(n) FROM ctr_$t")
		if [ "$want" != "$got" ]; then
			echo "WRONG RESULT: sum(n) of ctr_$t is $got, pgbench committed $want increments" | tee -a "$OUT_DIR/errors.txt" >&2
		else
			echo "   ctr_$t: sum(n) = $got = committed increments"
		fi
	done
fi
if has "$WORKLOADS" upsum; then
	for t in lsm heap unl; do
		want=$(awk -F'\t' -v t="$t" '$1 == "upsum" && $8 > 0 && (($3 == t) || ($3 == t "_async")) { s += $8 }
			END { print s + 0 }' "$RESULTS")
		got=$(q -c "SELECT coalesce(sum(n), 0) FROM sum_$t")
		if [ "$want" != "$got" ]; then
			echo "WRONG RESULT: sum(n) of sum_$t is $got, pgbench committed $want summing inserts" | tee -a "$OUT_DIR/errors.txt" >&2
		else
			echo "   sum_$t: sum(n) = $got = committed summing inserts"
		fi
	done
fi
if has "$WORKLOADS" put; then
	check "rows after the puts" "SELECT count(*) FROM TBL"
fi
for t in kv_lsm ctr_lsm; do
	echo "   $t: $(q -c "SELECT lsm_fdw_stats('$t') - 'levels'")" >>"$OUT_DIR/lsm_stats.txt"
	printf '   %s at the end: %s files, %s MiB on disk\n' "$t" "$(q -c "SELECT lsm_fdw_stats('$t')->>'files'")" \
		$(($(du -sb "$(lsm_dir_of "$t")" | cut -f1) / 1048576))
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); the run took $(awk -v a="$T_BEGIN" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) / 60 }') minutes" >>"$OUT_DIR/header.txt"
for v in $REPORT_PARAMS; do declare -p "$v"; done | sed 's/^declare -[-a-z]* //' >"$OUT_DIR/params.sh"
report
