# bench/plot.gnu: bar chart of engine/RocksDB throughput per workload, with
# a line at 1.0 (parity).  engine_vs_rocksdb.sh runs it as
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'; subtitle2='...'" \
#       bench/plot.gnu
# datafile lines: workload engine_ops rocksdb_ops ratio ('#' comments).
if (!exists("datafile")) datafile = "bench/out/engine_vs_rocksdb.dat"
if (!exists("outfile")) outfile = "docs/benchmarks-engine.png"
if (!exists("subtitle")) subtitle = ""
if (!exists("subtitle2")) subtitle2 = ""

stats datafile using 4 nooutput
ymax = (STATS_max > 1 ? STATS_max : 1) * 1.3

set terminal pngcairo size 860,540 noenhanced font "sans,11"
set output outfile
set title "LSM engine vs RocksDB db_bench: ops/s ratio (above 1 = engine faster)\n" . subtitle . "\n" . subtitle2
set ylabel "engine ops/s / RocksDB ops/s (medians)"
set yrange [0:ymax]
set xrange [-0.6:STATS_records - 0.4]
set grid ytics lc rgb "#dddddd"
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.55
set xtics nomirror scale 0
set ytics nomirror
unset key
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#cc3333" lw 2 dt 2
set label 1 "parity (1.0)" at graph 0.01, first 1 left offset 0, 0.7 tc rgb "#cc3333"
# Figures sit halfway up each bar (above a short one), clear of the 1.0 line.
plot datafile using 0:4:xtic(1) with boxes lc rgb "#8fb3de", \
     '' using 0:($4 > 0.3 * ymax ? $4 / 2 : $4 + 0.08 * ymax):(sprintf("%.2f\n%.0f vs %.0f ops/s", $4, $2, $3)) \
        with labels font "sans,11"
