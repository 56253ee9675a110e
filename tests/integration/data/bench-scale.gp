# make bench: CPU and p99 lateness (p99 inter-poll gap minus the 1 s interval) against the
# number of failing checks, both daemons. Called by tests/integration/bench.rs as
#   gnuplot -e "data='scale.dat'; out='scale.svg'; term='svg'" bench-scale.gp
# scale.dat columns: checks; ours: CPU %, p99 lateness (s), a lower bound of it; upstream:
# the same three. NaN where there is no figure (a lateness is either exact or a bound).
if (!exists("term")) term = "svg"
if (term eq "png") {
    set terminal pngcairo size 960,600 font "sans,11"
} else {
    set terminal svg size 960,600 dynamic font "sans,12"
}
set output out
set datafile missing "NaN"
set title "Polling N failing checks at interval 1 s (stand-in vtysh): anycastd vs Python anycastd 0.1.12"
set xlabel "checks (one per service)"
set ylabel "CPU (% of one core)"
set y2label "p99 lateness (s, log scale)"
set logscale y2
set y2range [0.001:*]
set yrange [0:*]
set ytics nomirror
set y2tics
set xtics (1000, 2000, 5000)
set xrange [500:5500]
set grid
set key below
plot data using 1:2 with linespoints lw 2 pt 7 ps 1.2 lc rgb "#1f77b4" title "ours: CPU %", \
     data using 1:5 with linespoints lw 2 pt 7 ps 1.2 lc rgb "#d62728" title "upstream: CPU %", \
     data using 1:3 axes x1y2 with linespoints lw 2 dt 2 pt 5 ps 1.2 lc rgb "#1f77b4" title "ours: p99 lateness", \
     data using 1:6 axes x1y2 with linespoints lw 2 dt 2 pt 5 ps 1.2 lc rgb "#d62728" title "upstream: p99 lateness", \
     data using 1:4 axes x1y2 with points pt 8 ps 2 lc rgb "#1f77b4" title "ours: p99 lateness at least (no or too few polls)", \
     data using 1:7 axes x1y2 with points pt 8 ps 2 lc rgb "#d62728" title "upstream: p99 lateness at least (no or too few polls)"
