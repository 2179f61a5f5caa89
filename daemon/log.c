/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging to stderr, one line per message, prefixed with the sd-daemon
 * priority ("<3>" ...) so that journald keeps the level when the daemon
 * runs under systemd (SyslogLevelPrefix=yes, the default).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "shmelectd.h"

static const char *const prefixes[] = {
	SD_EMERG, SD_ALERT, SD_CRIT, SD_ERR, SD_WARNING, SD_NOTICE, SD_INFO, SD_DEBUG,
};

static int max_level = 6; /* info */

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_printf(int level, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int saved = errno;

	if (level > max_level || level < 0 || level > 7)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one write per line, so lines of concurrent writers do not mix */
	fprintf(stderr, "%s%s\n", prefixes[level], buf);
	errno = saved;
}
