# Latency CDFs of hot 4 KiB requests, alone and while cold streams run.
# Called by bench/run with
#   gnuplot -e "files='a.dat b.dat ...'; outfile='...'; subtitle='...'" bench/latency_cdf.gp
# Each file: latency_us cumulative_fraction, named cdf-SERVER-{alone,cold}.dat.
set terminal pngcairo size 1000,560 font ",10"
set output outfile
set title sprintf("hot 4 KiB request latency, alone and while 8 clients stream cold files (%s)", subtitle)
set logscale x
set xlabel "latency (us, log scale)"
set ylabel "fraction of requests"
set yrange [0:1]
set grid
set key bottom right
label(f) = f[strstrt(f, "cdf-") + 4:strlen(f) - 4]
plot for [f in files] f using 1:2 with lines lw 2 title label(f)
