# tests/chaos: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.

# The chaos harness (tests/chaos/chaos.c explains what it checks and why).
# A noinst program, not a check program: TESTS runs every check program
# through the TAP driver, and this one is driven by scripts instead.
noinst_PROGRAMS += tests/chaos/chaos
tests_chaos_chaos_SOURCES = tests/chaos/chaos.c
tests_chaos_chaos_LDADD = lib/libshmelect-private.la

# make check: a short run (about 17 s), exit 1 on any violation.
test_scripts += tests/chaos/short.sh
EXTRA_DIST += tests/chaos/README.roff

# make chaos: the long run.  CHAOS_CANDIDATES (default 8), CHAOS_OPS (lease
# operations, default 1000000) or CHAOS_SECONDS (if set, the chaos phase
# ends at whichever comes first), CHAOS_SEED (default: random; printed),
# CHAOS_FLAGS (more options, see tests/chaos/chaos --help).  Each may be
# given on the make command line or in the environment.
.PHONY: chaos
chaos: tests/chaos/chaos$(EXEEXT)
	@set -e; \
	cand=$${CHAOS_CANDIDATES:-8}; ops=$${CHAOS_OPS:-1000000}; \
	set -- --candidates "$$cand" --ops "$$ops"; \
	if test -n "$${CHAOS_SECONDS}"; then set -- "$$@" --seconds "$$CHAOS_SECONDS"; fi; \
	if test -n "$${CHAOS_SEED}"; then set -- "$$@" --seed "$$CHAOS_SEED"; fi; \
	./tests/chaos/chaos$(EXEEXT) --verbose "$$@" $${CHAOS_FLAGS}
