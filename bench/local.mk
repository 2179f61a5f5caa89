# bench: shmelect against the alternatives, in one run (`make bench`).

noinst_PROGRAMS += bench/shmelect-bench
bench_shmelect_bench_SOURCES = bench/bench.c bench/bench.h bench/hotpath.c bench/syscount.c \
	bench/failover.c bench/scale.c bench/socket.c
bench_shmelect_bench_LDADD = lib/libshmelect.la
EXTRA_DIST += bench/plot.gp bench/run.sh

# BENCH_FLAGS=--quick for a short run; BENCH_OUT=dir for the data and plot.
BENCH_OUT ?= bench-results
.PHONY: bench
bench: bench/shmelect-bench
	$(SHELL) $(top_srcdir)/bench/run.sh "$(abs_builddir)/bench/shmelect-bench" "$(BENCH_OUT)" $(BENCH_FLAGS)
