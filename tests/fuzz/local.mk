# tests/fuzz: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.
#
# The syscall-free hot path (seccomp), and fuzzing of hostile segments:
#
#   test-seccomp    Criterion: is_leader/renew/observe under a seccomp
#                   filter that kills on any system call (invariant 6)
#   test-corpus     Criterion: replays corpus/ and crashers/ through the
#                   fuzz target built with $(CC), so also under ASan+UBSan
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

check_PROGRAMS += tests/fuzz/test-seccomp tests/fuzz/test-corpus
noinst_PROGRAMS += tests/fuzz/mkcorpus
noinst_HEADERS += tests/fuzz/fuzz-segment.h

tests_fuzz_test_seccomp_SOURCES = tests/fuzz/test-seccomp.c
tests_fuzz_test_seccomp_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_fuzz_test_seccomp_LDADD = lib/libshmelect-private.la $(CRITERION_LIBS)

tests_fuzz_test_corpus_SOURCES = tests/fuzz/test-corpus.c tests/fuzz/fuzz-segment.c
tests_fuzz_test_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
tests_fuzz_test_corpus_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_fuzz_test_corpus_LDADD = lib/libshmelect-private.la $(CRITERION_LIBS)

tests_fuzz_mkcorpus_SOURCES = tests/fuzz/mkcorpus.c
tests_fuzz_mkcorpus_LDADD = lib/libshmelect-private.la

# --- libFuzzer targets -------------------------------------------------------
# One binary per name in FUZZ_TARGETS, from fuzz_<name>_sources.  Its corpus
# is tests/fuzz/corpus/<name>/, its crashers tests/fuzz/crashers/<name>/.
#
# The request-parser target belongs here once the daemon has a parser
# (daemon/): write tests/fuzz/fuzz-request.c (LLVMFuzzerTestOneInput over
# one request), then add "request" to FUZZ_TARGETS, define
# fuzz_request_sources (the target, the parser's sources, and whatever of
# $(fuzz_lib_sources) it needs), copy the bin/fuzz-segment rule below for
# it, and put a few valid requests in tests/fuzz/corpus/request/.
FUZZ_TARGETS = segment
fuzz_lib_sources = $(shmelect_sources)
fuzz_segment_sources = tests/fuzz/fuzz-segment.c tests/fuzz/fuzz-segment.h $(fuzz_lib_sources)
fuzz_request_sources =

FUZZ_TIME = 600
FUZZ_JOBS = 1

tests/fuzz/bin/fuzz-segment: $(fuzz_segment_sources) tests/fuzz/build.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

fuzz_bins = tests/fuzz/bin/fuzz-segment

test_scripts += tests/fuzz/smoke.sh
# the smoke test runs the binaries built above
tests/fuzz/smoke.log: $(fuzz_bins)

fuzz: $(fuzz_bins)
	srcdir=$(srcdir) FUZZ_TIME=$(FUZZ_TIME) FUZZ_JOBS=$(FUZZ_JOBS) \
		$(SHELL) $(srcdir)/tests/fuzz/run.sh $(FUZZ_TARGETS)

tests/fuzz/bin/fuzz-segment-cov: $(fuzz_segment_sources) tests/fuzz/build.sh
	$(AM_V_GEN)FUZZ_COVERAGE=1 $(SHELL) $(srcdir)/tests/fuzz/build.sh $@ $^

fuzz-coverage: tests/fuzz/bin/fuzz-segment-cov
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/fuzz/coverage.sh segment

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
	tests/fuzz/bin/fuzz-segment-cov tests/fuzz/bin/fuzz-segment-cov.skip
