/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The input format of the segment fuzz target (fuzz-segment.c), shared with
 * the seed generator (mkcorpus.c).
 *
 *   byte 0      flags (enum fuzz_flags)
 *   byte 1...   the segment file, possibly cut short (see FUZZ_PAD)
 *
 * The flags let a seed say things that raw file bytes cannot say portably:
 * "this boot" and "this PID namespace" differ on every machine, and most of
 * a segment is zeros that need not be stored.
 */
#ifndef SHMELECT_FUZZ_SEGMENT_H
#define SHMELECT_FUZZ_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

enum fuzz_flags {
	/* zero-extend the file to the size its header declares (at most
	 * FUZZ_PAD_MAX), so that seeds can omit trailing zeros */
	FUZZ_PAD       = 1 << 0,
	/* overwrite the header's boot id with this boot's: leases are live,
	 * not void (without it, a read-only open sees a stale boot and a
	 * read-write open runs the reboot recovery) */
	FUZZ_THIS_BOOT = 1 << 1,
	/* every slot whose pidns field is FUZZ_NS_HERE, and every claim
	 * word (election or slot) in CLAIMING state whose namespace field is
	 * FUZZ_NS_HERE, gets this process's PID namespace, so members and
	 * creators with dead pids are provably dead */
	FUZZ_THIS_NS   = 1 << 2,
	/* also run an elector (join, a few steps, free) in each election */
	FUZZ_ELECTOR   = 1 << 3,
	/* a hostile writer changes the file after each open (see below) */
	FUZZ_REWRITE   = 1 << 4,
};

/*
 * With FUZZ_REWRITE the input is
 *
 *   byte 0      flags
 *   bytes 1-2   n, the length of the file part (little-endian)
 *   n bytes     the file
 *   then        patches, each: offset (2 bytes, LE), length (1 byte), bytes
 *
 * and the patches are written into the file right after each successful
 * open, while the library has it mapped: what it validated at open may
 * change under it, as in a segment shared with a hostile or broken writer
 * (invariant 8 holds for the life of a mapping, not only at open).
 * Patches never extend the file.
 */
struct fuzz_patch_head {
	uint8_t offset[2];
	uint8_t len;
} __attribute__((packed));

#define FUZZ_PAD_MAX  (256u * 1024)
#define FUZZ_NS_HERE  UINT64_C(1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
