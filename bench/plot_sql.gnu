# bench/plot_sql.gnu: bar chart of lsm_fdw vs heap per SQL workload, with a
# line at 1.0 (parity).  sql_bench.sh runs it as
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" bench/plot_sql.gnu
# datafile lines: "label" ratio lsm_value other_value kind cpu_ratio ('#'
# comments).  ratio: lsm_fdw tps / heap tps (medians); for the bulk load
# heap seconds / lsm seconds, a throughput ratio too.  kind 0: against heap
# with synchronous_commit on (dark bars); 1: against a reference, heap with
# synchronous_commit off or UNLOGGED heap (light bars).  cpu_ratio: heap
# backend CPU per transaction / lsm_fdw backend CPU per transaction (orange
# bars; NaN when not measured), less sensitive to other load on the machine.
if (!exists("datafile")) datafile = "bench/out/sql_bench.dat"
if (!exists("outfile")) outfile = "docs/benchmarks-sql.png"
if (!exists("subtitle")) subtitle = ""

stats datafile using 2 nooutput
ymax1 = STATS_max
n = STATS_records
stats datafile using 6 nooutput
ymax2 = (exists("STATS_max") ? STATS_max : 0)
ymax = (ymax1 > ymax2 ? ymax1 : ymax2)
ymax = (ymax > 1 ? ymax : 1) * 1.25

# wider with more bars (the multi-client matrix has ~60)
width = (n * 42 + 200 > 1200 ? n * 42 + 200 : 1200)
set terminal pngcairo size width,620 noenhanced font "sans,10"
set output outfile
set title "lsm_fdw vs heap (PRIMARY KEY) in SQL, per workload: above 1 = lsm_fdw better\n" . subtitle
set ylabel "ratio"
set yrange [0:ymax]
set xrange [-0.6:n - 0.4]
set grid ytics lc rgb "#dddddd"
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.38
set xtics nomirror scale 0 rotate by 30 right
set ytics nomirror
set bmargin 9
set key top left reverse Left samplen 1.5 box opaque
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#cc3333" lw 2 dt 2 front
set label 1 "parity (1.0)" at graph 0.99, first 1 right offset 0, 0.7 tc rgb "#cc3333"
plot datafile using ($0 - 0.2):2:($5 == 0 ? 0x4477aa : 0xa6c4e0):xtic(1) with boxes lc rgb variable \
        title "throughput: lsm_fdw tps / heap tps (dark: heap synchronous_commit on; light: heap sync off / UNLOGGED)", \
     '' using ($0 - 0.2):2:(sprintf("%.2f", $2)) with labels offset 0, 0.7 font "sans,8" notitle, \
     '' using ($0 + 0.2):6:($5 == 0 ? 0xdd8833 : 0xf2c48f) with boxes lc rgb variable \
        title "CPU cost: heap backend CPU per tx / lsm_fdw backend CPU per tx", \
     '' using ($0 + 0.2):6:(sprintf("%.2f", $6)) with labels offset 0, 0.7 font "sans,8" notitle
