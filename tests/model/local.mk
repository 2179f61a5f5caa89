# tests/model: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.
#
# The spin model of the lease protocol (shmelect.pml), checked exhaustively
# by check.sh in every configuration, with witnesses that each configuration
# reaches what it is for (see shmelect(7), TESTING, "Model checking"):
#
#   check.sh              run by make check (about 2-3 min on 2 CPUs)
#   make model-check-bugs every configuration, then every planted bug,
#                         each of which must fail (as in C before a fix)
#
# check.sh needs spin and a C compiler for pan; without them it skips.

test_scripts += tests/model/check.sh
EXTRA_DIST += tests/model/shmelect.pml

model-check-bugs:
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/model/check.sh --bugs

.PHONY: model-check-bugs
