# Failover latency distributions (CDF), from the files shmelect-bench writes.
set terminal pngcairo size 1100,650 font ",10"
set output "failover.png"
set title "Failover latency on one host: who learns first that the leader is gone"
set xlabel "latency (microseconds, log scale)"
set ylabel "fraction of trials"
set logscale x
set key bottom right
set grid
files = "handover.dat futex.dat crash-shmelect-small.dat crash-robust-small.dat crash-pidfd-small.dat crash-flock-small.dat crash-shmelect-big.dat crash-robust-big.dat crash-pidfd-big.dat crash-flock-big.dat"
titles = "handover(resign) raw-futex-wake crash:shmelect crash:robust-mutex crash:pidfd crash:flock crash:shmelect(256MiB) crash:robust-mutex(256MiB) crash:pidfd(256MiB) crash:flock(256MiB)"
plot for [i=1:words(files)] word(files,i) using 1:2 with steps lw 2 title word(titles,i)
