# daemon: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.

sbin_PROGRAMS += daemon/shmelectd

daemon_shmelectd_SOURCES = \
	daemon/shmelectd.h \
	daemon/main.c \
	daemon/log.c \
	daemon/config.c \
	daemon/segments.c \
	daemon/monitor.c \
	daemon/tracker.c \
	daemon/reaper.c \
	daemon/socket.c \
	daemon/protocol.c \
	daemon/jsonlite.h \
	daemon/watch.c \
	daemon/metrics.c \
	daemon/notify.c
daemon_shmelectd_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(JSONC_CFLAGS)
# The daemon links the public library only, like any other client.
daemon_shmelectd_LDADD = lib/libshmelect.la $(SYSTEMD_LIBS) $(JSONC_LIBS)

dist_man_MANS += man/shmelectd.8 man/shmelectd.conf.5

# --- tests -------------------------------------------------------------------

# A candidate/client helper the shell tests drive (not a test itself).
noinst_PROGRAMS += tests/daemon-helper
tests_daemon_helper_SOURCES = tests/daemon-helper.c
tests_daemon_helper_LDADD = lib/libshmelect.la

# Unit tests of the daemon's configuration parser and UTF-8 sanitizer,
# linked with those sources directly.
check_PROGRAMS += tests/test-daemon-config
tests_test_daemon_config_SOURCES = tests/test-daemon-config.c \
	daemon/config.c daemon/log.c daemon/shmelectd.h
tests_test_daemon_config_CFLAGS = $(test_cflags) $(SYSTEMD_CFLAGS) -I$(top_srcdir)/daemon
tests_test_daemon_config_LDADD = $(test_ldadd)

# The JSON writer against json-c, which wrote the replies before it.
check_PROGRAMS += tests/test-daemon-json
tests_test_daemon_json_SOURCES = tests/test-daemon-json.c daemon/jsonlite.h
tests_test_daemon_json_CFLAGS = $(test_cflags) $(JSONC_CFLAGS) -I$(top_srcdir)/daemon
tests_test_daemon_json_LDADD = $(test_ldadd) $(JSONC_LIBS)

daemon_test_scripts = \
	tests/test-daemon.sh \
	tests/test-daemon-reaper.sh \
	tests/test-daemon-badinput.sh \
	tests/test-daemon-systemd.sh \
	tests/test-example-python.sh
test_scripts += $(daemon_test_scripts)
EXTRA_DIST += tests/daemon-lib.sh

# The shell tests run the daemon and the helper from the build tree.
tests/test-daemon.log tests/test-daemon-reaper.log tests/test-daemon-badinput.log \
tests/test-daemon-systemd.log: daemon/shmelectd$(EXEEXT) tests/daemon-helper$(EXEEXT) \
	units/shmelectd.service
tests/test-example-python.log: daemon/shmelectd$(EXEEXT) tests/daemon-helper$(EXEEXT)

# A Python client of the socket (standard library only), run by the test above.
EXTRA_DIST += examples/shmelect-watch.py
