# tests/fuzz: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.
#
# The syscall-free hot path (seccomp), and fuzzing of hostile segments:
#
#   test-seccomp    Criterion: is_leader/renew/observe under a seccomp
#                   filter that kills on any system call (invariant 6)
#   test-corpus     Criterion: replays corpus/segment and crashers/segment
#                   through the fuzz target built with $(CC), so also under
#                   ASan+UBSan
#   test-corpus-request  the same for the daemon's request parser
#                   (corpus/request, crashers/request)
#   smoke.sh        a short libFuzzer run of every target, then crashers/
#   make fuzz       long runs (FUZZ_TIME seconds, default 600) that grow
#                   corpus/ and save crashes in crashers/
#   make fuzz-corpus  regenerate the seeds of corpus/segment with mkcorpus
#   make fuzz-coverage  which lines of lib/ the corpus reaches (llvm-cov)
#
# The libFuzzer binaries are not automake programs: libFuzzer needs clang,
# whatever $(CC) is, so build.sh compiles them with clang straight from the
# sources listed here, into tests/fuzz/bin/ (or records why it cannot, and
# the smoke test skips).

check_PROGRAMS += tests/fuzz/test-seccomp tests/fuzz/test-corpus tests/fuzz/test-corpus-request
noinst_PROGRAMS += tests/fuzz/mkcorpus
noinst_HEADERS += tests/fuzz/fuzz-segment.h tests/fuzz/fuzz-assert.h

tests_fuzz_test_seccomp_SOURCES = tests/fuzz/test-seccomp.c
tests_fuzz_test_seccomp_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_fuzz_test_seccomp_LDADD = lib/libshmelect-private.la $(CRITERION_LIBS)

tests_fuzz_test_corpus_SOURCES = tests/fuzz/test-corpus.c tests/fuzz/fuzz-segment.c
tests_fuzz_test_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
tests_fuzz_test_corpus_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_fuzz_test_corpus_LDADD = lib/libshmelect-private.la $(CRITERION_LIBS)

# The daemon as the request target builds it: with 16 KiB instead of 1 MiB of
# unread output per client, so that back-pressure (a client that does not
# keep up) takes a few requests, not hundreds.
fuzz_request_cppflags = -DSHMELECTD_OUTPUT_MAX=16384u

# The daemon minus main.c (it has main(); the target defines the one
# function of it the others call) and config.c (the target configures the
# daemon itself).
fuzz_daemon_sources = \
	daemon/shmelectd.h \
	daemon/jsonlite.h \
	daemon/log.c \
	daemon/segments.c \
	daemon/monitor.c \
	daemon/tracker.c \
	daemon/reaper.c \
	daemon/socket.c \
	daemon/protocol.c \
	daemon/watch.c \
	daemon/metrics.c \
	daemon/notify.c

tests_fuzz_test_corpus_request_SOURCES = tests/fuzz/test-corpus.c tests/fuzz/fuzz-request.c \
	$(fuzz_daemon_sources)
tests_fuzz_test_corpus_request_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(fuzz_request_cppflags) \
	-DFUZZ_SRCDIR='"$(abs_top_srcdir)"' -DFUZZ_NAME='"request"'
tests_fuzz_test_corpus_request_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(SYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_test_corpus_request_LDADD = lib/libshmelect.la $(CRITERION_LIBS) $(SYSTEMD_LIBS) $(JSONC_LIBS)

tests_fuzz_mkcorpus_SOURCES = tests/fuzz/mkcorpus.c
tests_fuzz_mkcorpus_LDADD = lib/libshmelect-private.la

# --- libFuzzer targets -------------------------------------------------------
# One binary per name in FUZZ_TARGETS, from fuzz_<name>_sources.  Its corpus
# is tests/fuzz/corpus/<name>/, its crashers tests/fuzz/crashers/<name>/.
#
#   segment   fuzz-segment.c: the library opens and uses a segment file of
#             arbitrary bytes
#   request   fuzz-request.c: the daemon (socket.c's framing, protocol.c's
#             parser and verbs with jsonlite.h's reader and writer, the rest
#             of it behind them) serves one connection of arbitrary bytes
#
# To add a target NAME: write tests/fuzz/fuzz-NAME.c (LLVMFuzzerTestOneInput),
# add NAME to FUZZ_TARGETS, define fuzz_NAME_sources (the target and the
# sources it tests: build.sh compiles the .c files among them, and the list
# is the binary's prerequisites), copy a bin/fuzz-* rule below (with
# FUZZ_LIBS if it links more than libc), add the binary to fuzz_bins and
# CLEANFILES, put seeds in tests/fuzz/corpus/NAME/, and copy the
# test-corpus-request program above so that `make check` replays them.
FUZZ_TARGETS = segment request
fuzz_lib_sources = $(shmelect_sources)
fuzz_segment_sources = tests/fuzz/fuzz-segment.c tests/fuzz/fuzz-segment.h tests/fuzz/fuzz-assert.h $(fuzz_lib_sources)
fuzz_request_sources = tests/fuzz/fuzz-request.c tests/fuzz/fuzz-assert.h $(fuzz_daemon_sources) $(fuzz_lib_sources)
fuzz_request_env = FUZZ_CPPFLAGS="$(fuzz_request_cppflags) $(SYSTEMD_CFLAGS) $(JSONC_CFLAGS)" \
	FUZZ_LIBS="$(SYSTEMD_LIBS) $(JSONC_LIBS)"

FUZZ_TIME = 600
FUZZ_JOBS = 1

tests/fuzz/bin/fuzz-segment: $(fuzz_segment_sources) tests/fuzz/build.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

tests/fuzz/bin/fuzz-request: $(fuzz_request_sources) tests/fuzz/build.sh
	$(AM_V_GEN)$(fuzz_request_env) $(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

fuzz_bins = tests/fuzz/bin/fuzz-segment tests/fuzz/bin/fuzz-request

test_scripts += tests/fuzz/smoke.sh
# the smoke test runs the binaries built above
tests/fuzz/smoke.log: $(fuzz_bins)

fuzz: $(fuzz_bins)
	srcdir=$(srcdir) FUZZ_TIME=$(FUZZ_TIME) FUZZ_JOBS=$(FUZZ_JOBS) \
		$(SHELL) $(srcdir)/tests/fuzz/run.sh $(FUZZ_TARGETS)

tests/fuzz/bin/fuzz-segment-cov: $(fuzz_segment_sources) tests/fuzz/build.sh
	$(AM_V_GEN)FUZZ_COVERAGE=1 $(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

tests/fuzz/bin/fuzz-request-cov: $(fuzz_request_sources) tests/fuzz/build.sh
	$(AM_V_GEN)FUZZ_COVERAGE=1 $(fuzz_request_env) $(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

fuzz-coverage: tests/fuzz/bin/fuzz-segment-cov tests/fuzz/bin/fuzz-request-cov
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/fuzz/coverage.sh segment
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/fuzz/coverage.sh request

fuzz-corpus: tests/fuzz/mkcorpus$(EXEEXT)
	tests/fuzz/mkcorpus$(EXEEXT) $(srcdir)/tests/fuzz/corpus/segment \
		$(srcdir)/tests/fuzz/crashers/segment

.PHONY: fuzz fuzz-corpus fuzz-coverage

EXTRA_DIST += \
	tests/fuzz/README.md \
	tests/fuzz/build.sh \
	tests/fuzz/run.sh \
	tests/fuzz/coverage.sh \
	tests/fuzz/corpus \
	tests/fuzz/crashers

CLEANFILES += $(fuzz_bins) tests/fuzz/bin/fuzz-segment.skip \
	tests/fuzz/bin/fuzz-segment-cov tests/fuzz/bin/fuzz-segment-cov.skip \
	tests/fuzz/bin/fuzz-request.skip \
	tests/fuzz/bin/fuzz-request-cov tests/fuzz/bin/fuzz-request-cov.skip
