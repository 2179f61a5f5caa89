# units: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.

# shmelectd's units, installed where systemd.pc says (or --with-systemdsystemunitdir).
# The service is generated so that ExecStart names the installed binary.
daemonsystemdunitdir = $(systemdsystemunitdir)
dist_daemonsystemdunit_DATA = units/shmelectd.socket
nodist_daemonsystemdunit_DATA = units/shmelectd.service
EXTRA_DIST += units/shmelectd.service.in
CLEANFILES += units/shmelectd.service

units/shmelectd.service: $(top_srcdir)/units/shmelectd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) units && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(top_srcdir)/units/shmelectd.service.in > $@.tmp && \
	mv -f $@.tmp $@
