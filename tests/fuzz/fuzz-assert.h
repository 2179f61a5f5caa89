/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FZ_ASSERT(cond, fmt, ...): what a fuzz target checks of the code under
 * test. A broken contract aborts, so libFuzzer (and the corpus replay in
 * make check) reports the input as a crasher, with the file and line.
 */
#ifndef SHMELECT_FUZZ_ASSERT_H
#define SHMELECT_FUZZ_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_ASSERT(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: contract violated: %s: ",      \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
