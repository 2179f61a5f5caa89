# man: build rules of this part, included by the top-level Makefile.am.
# Append with += to: bin_PROGRAMS sbin_PROGRAMS check_PROGRAMS test_scripts
# dist_man_MANS EXTRA_DIST CLEANFILES noinst_PROGRAMS noinst_HEADERS.

# Pages of the elector, the blocking waits and the operator controls (the
# original 23 pages are listed in the top-level Makefile.am).
dist_man_MANS += \
	man/shmelect_candidate_wait.3 \
	man/shmelect_candidate_set_priority.3 \
	man/shmelect_candidate_set_lock_delay.3 \
	man/shmelect_candidate_set_advert.3 \
	man/shmelect_election_handover.3 \
	man/shmelect_election_break.3 \
	man/shmelect_election_reap.3 \
	man/shmelect_election_wait.3 \
	man/shmelect_segment_wait.3 \
	man/shmelect_segment_wake.3 \
	man/shmelect_elector_new.3 \
	man/shmelect_elector_free.3 \
	man/shmelect_elector_candidate.3 \
	man/shmelect_elector_step.3 \
	man/shmelect_elector_run.3 \
	man/shmelect_elector_start.3 \
	man/shmelect_elector_stop.3 \
	man/shmelect_elector_wait.3 \
	man/shmelect_elector_is_leader.3 \
	man/shmelect_elector_handover.3
