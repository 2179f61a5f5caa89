# cli: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.

# --- shmelectctl ---------------------------------------------------------------

bin_PROGRAMS += cli/shmelectctl
cli_shmelectctl_SOURCES = \
	cli/ctl.h \
	cli/run.h \
	cli/shmelectctl.c \
	cli/output.c \
	cli/direct.c \
	cli/client.c \
	cli/run-config.c \
	cli/run.c
cli_shmelectctl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(SYSTEMD_CFLAGS)
cli_shmelectctl_LDADD = lib/libshmelect.la $(JSONC_LIBS) $(SYSTEMD_LIBS)

dist_man_MANS += man/shmelectctl.1

# --- the active-passive template unit -------------------------------------------
# units/shmelect-run@.service belongs to this part (the daemon's units are
# in units/local.mk).  Generated so that ExecStart names the installed binary.

clisystemdunitdir = $(systemdsystemunitdir)
nodist_clisystemdunit_DATA = units/shmelect-run@.service
EXTRA_DIST += units/shmelect-run@.service.in
CLEANFILES += units/shmelect-run@.service

units/shmelect-run@.service: $(top_srcdir)/units/shmelect-run@.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) units && \
	sed -e 's|@bindir[@]|$(bindir)|g' $(top_srcdir)/units/shmelect-run@.service.in > $@.tmp && \
	mv -f $@.tmp $@

# --- tests ----------------------------------------------------------------------

# Helper for the run tests: a command that logs its term in a shared file.
noinst_PROGRAMS += tests/overlap-child
tests_overlap_child_SOURCES = tests/overlap-child.c
tests_overlap_child_LDADD = lib/libshmelect.la

check_PROGRAMS += tests/test-run-config
tests_test_run_config_SOURCES = tests/test-run-config.c cli/run-config.c cli/run.h
tests_test_run_config_CFLAGS = $(test_cflags) -I$(top_srcdir)/cli
tests_test_run_config_LDADD = $(test_ldadd)

cli_test_scripts = \
	tests/test-ctl.sh \
	tests/test-ctl-errors.sh \
	tests/test-ctl-daemon.sh \
	tests/test-ctl-shmelectd.sh \
	tests/test-run.sh \
	tests/test-run-systemd.sh
test_scripts += $(cli_test_scripts)
EXTRA_DIST += tests/ctl-lib.sh tests/fake-shmelectd.sh

# --- the live demo of "run" (scripts/demo.sh may call it) -----------------------------

EXTRA_DIST += examples/run-demo.sh
