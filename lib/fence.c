/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fence: check-and-advance on the highest token seen.
 *
 * A resource that several leaders may touch keeps one 64-bit word.  A
 * leader passes its token with every request; the resource accepts it iff
 * it is at least the highest token accepted so far, and raises the mark.
 * A leader that was paused past its lease and comes back with an older
 * token is refused: Chubby's sequencers, Kleppmann's fencing tokens.
 *
 * Lock-free, no system call, async-signal-safe: one load and CAS loop.
 * Equal tokens are accepted: the same leader passes its token many times.
 */
#include "internal.h"

_public_ int shmelect_fence_check(struct shmelect_fence *f, uint64_t token)
{
	uint64_t seen;

	if (!f || token == 0)
		return -EINVAL;
	seen = __atomic_load_n(&f->highest, __ATOMIC_ACQUIRE);
	for (;;) {
		if (token < seen)
			return 0;
		if (token == seen)
			return 1;
		/* seq_cst: the caller's access to the resource that follows
		 * is ordered after the mark is raised, and a later caller
		 * that sees our mark sees what we did before it. */
		if (__atomic_compare_exchange_n(&f->highest, &seen, token, false, __ATOMIC_SEQ_CST,
						__ATOMIC_ACQUIRE))
			return 1;
		/* seen now holds the newer value: decide again */
	}
}

_public_ uint64_t shmelect_fence_highest(const struct shmelect_fence *f)
{
	return f ? __atomic_load_n(&f->highest, __ATOMIC_ACQUIRE) : 0;
}
