// SPDX-License-Identifier: GPL-2.0
/*
 * proctree [-e EXPECTED] [PID]: calls proctree(PID) (default 0, the caller) and prints the result.
 * Without -e it exits 0 when the call succeeds. With -e it exits 0 when the result is EXPECTED: a count
 * (e.g. -e 0) or an error name (-e ESRCH, -e EINVAL). Meant for one-line LAVA steps:
 *
 *	lava-test-case my-init-check --shell proctree 1
 *	lava-test-case my-no-such-pid --shell proctree -e ESRCH 4194304
 */
#include "proctree.h"

static long parse_expected(const char *s, int *ok)
{
	*ok = 1;
	if (!strcmp(s, "ESRCH"))
		return -ESRCH;
	if (!strcmp(s, "EINVAL"))
		return -EINVAL;
	if ((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9'))
		return atol(s);
	*ok = 0;
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1, have_expected = 0, ok;
	long expected = 0, ret;
	pid_t pid = 0;

	if (i + 1 < argc && !strcmp(argv[i], "-e")) {
		expected = parse_expected(argv[i + 1], &ok);
		if (!ok) {
			printf("proctree: -e takes a count or ESRCH or EINVAL, not '%s'\n", argv[i + 1]);
			return 2;
		}
		have_expected = 1;
		i += 2;
	}
	if (i < argc)
		pid = atol(argv[i++]);
	if (i < argc) {
		printf("usage: proctree [-e COUNT|ESRCH|EINVAL] [PID]\n");
		return 2;
	}

	ret = proctree(pid);
	if (ret >= 0)
		printf("proctree(%d) = %ld\n", pid, ret);
	else
		printf("proctree(%d) = %ld (%s)\n", pid, ret, proctree_errname(ret));

	if (!have_expected)
		return ret >= 0 ? 0 : 1;
	if (ret == expected)
		return 0;
	if (expected >= 0)
		printf("proctree: expected %ld\n", expected);
	else
		printf("proctree: expected %ld (%s)\n", expected, proctree_errname(expected));
	return 1;
}
