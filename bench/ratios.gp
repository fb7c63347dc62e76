# Bar chart of bench/run's ratios (vmsend over its peer; higher is better,
# each bar's target marked).  Called by bench/run with
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" bench/ratios.gp
# datafile rows: KEY RATIO TARGET
set terminal pngcairo size 1000,520 font ",10"
set output outfile
set title sprintf("vmsend ratios, same run (%s): vmsend/nginx; objfs-*: objfs/hostfs\n{/*0.8 p99-cold-headroom = 3 / (p99 while cold / p99 alone); page-metadata = 64 B / bytes per page}", subtitle)
set style fill solid 0.6 border -1
set boxwidth 0.6
set offsets 0.5, 0.5, 0.3, 0
set yrange [0:*]
set grid ytics
set xtics rotate by -30 left font ",8"
set bmargin 9
set rmargin 14
set ylabel "ratio (higher is better)"
set key outside top center horizontal
plot datafile using 0:2:xtic(1) with boxes lc rgb "#4477aa" title "measured", \
     '' using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7 notitle, \
     '' using 0:3 with points pt 7 ps 1.5 lc rgb "#cc3311" title "target"
