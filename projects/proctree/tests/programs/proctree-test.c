// SPDX-License-Identifier: GPL-2.0
/*
 * proctree-test CASE: one reference test of the proctree system call; exits 0 when it passes, else prints each
 * check that failed and exits 1. `proctree-test` alone lists the cases. The reference test definition
 * (../proctree.yaml) runs each case as `lava-test-case CASE --shell proctree-test CASE`.
 *
 * The cases build small process trees with fork() and count them. Children wait in sleep() until the test
 * kills them with SIGKILL; a grandchild's pid comes back to the test through a pipe.
 */
#include "proctree.h"

static int failures;

/* One check: proctree(pid) must return want (a count, or -errno). */
static void expect(const char *what, pid_t pid, long want)
{
	long got = proctree(pid);

	if (got == want)
		return;
	failures++;
	printf("FAIL %s: proctree(%d) = %ld", what, pid, got);
	if (got < 0)
		printf(" (%s)", proctree_errname(got));
	if (want >= 0)
		printf(", expected %ld\n", want);
	else
		printf(", expected %ld (%s)\n", want, proctree_errname(want));
}

static void check(int ok, const char *what)
{
	if (ok)
		return;
	failures++;
	printf("FAIL %s\n", what);
}

static void die(const char *what)
{
	printf("ERROR %s (errno %d): the test could not set up its processes\n", what, errno);
	exit(2);
}

static void sleep_forever(void)
{
	for (;;)
		sleep(3600);
}

/* A child that sleeps until it is killed. */
static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		sleep_forever();
	return pid;
}

/* Kills and reaps a child of ours. */
static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
}

static void make_pipe(int fds[2])
{
	if (my_syscall2(__NR_pipe2, fds, 0) < 0)
		die("pipe2");
}

static pid_t read_pid(int fd)
{
	pid_t pid;

	if (read(fd, &pid, sizeof(pid)) != sizeof(pid))
		die("read of the grandchild's pid");
	return pid;
}

/*
 * A child that forks a sleeping grandchild and sends its pid through the pipe; then the child sleeps too
 * (or exits when `orphan`, which hands the grandchild over to init). Returns the child; *grandchild is set.
 */
static pid_t spawn_parent_of_one(pid_t *grandchild, int orphan)
{
	int fds[2];
	pid_t child, g;

	make_pipe(fds);
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(fds[0]);
		g = fork();
		if (g < 0)
			exit(3);
		if (g == 0)
			sleep_forever();
		write(fds[1], &g, sizeof(g));
		if (orphan)
			exit(0);
		sleep_forever();
	}
	close(fds[1]);
	*grandchild = read_pid(fds[0]);
	close(fds[0]);
	return child;
}

/* init (pid 1) is an ancestor of every user process, hence of our parent and of us. */
static void init_has_descendants(void)
{
	pid_t parent = getppid();
	long init_count = proctree(1);

	check(init_count >= 1, "proctree(1) must count at least this test process");
	if (init_count < 1)
		expect("init's descendants include this test", 1, 1);
	if (parent != 1) {
		long parent_count = proctree(parent);

		check(parent_count >= 1, "proctree(getppid()) must count at least this test process");
		if (init_count <= parent_count) {
			failures++;
			printf("FAIL proctree(1) = %ld must be more than proctree(%d) = %ld: init's descendants include our parent and all of its descendants\n",
			       init_count, parent, parent_count);
		}
	}
}

static void self_no_children(void)
{
	expect("a process without children, by pid 0", 0, 0);
	expect("a process without children, by its pid", getpid(), 0);
}

static void child_counted(void)
{
	pid_t child = spawn_sleeper();

	expect("one sleeping child, by pid 0", 0, 1);
	expect("one sleeping child, by our pid", getpid(), 1);
	expect("the child itself has no children", child, 0);
	reap(child);
	expect("the child was reaped", 0, 0);
}

/* us -> a -> a's child, and us -> b: three descendants, two of them children. */
static void grandchildren_counted(void)
{
	pid_t grandchild, a, b;

	a = spawn_parent_of_one(&grandchild, 0);
	b = spawn_sleeper();
	expect("two children and one grandchild", 0, 3);
	expect("child a has one child", a, 1);
	expect("child b has none", b, 0);
	expect("the grandchild has none", grandchild, 0);
	kill(grandchild, SIGKILL);
	reap(a);
	expect("after a and its child are gone, b is left", 0, 1);
	reap(b);
	expect("everything reaped", 0, 0);
}

/* When our child exits, its child is reparented to init: it is no longer our descendant. */
static void orphan_not_counted(void)
{
	pid_t grandchild, child;
	int status;

	child = spawn_parent_of_one(&grandchild, 1);
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the middle child must exit with status 0");
	expect("the orphaned grandchild is not ours any more", 0, 0);
	expect("the orphan still exists and has no children", grandchild, 0);
	kill(grandchild, SIGKILL);
}

static void bad_pid_esrch(void)
{
	pid_t child = spawn_sleeper();

	reap(child);
	expect("the pid of a child that was reaped", child, -ESRCH);
	/* PID_MAX_LIMIT is 4194304 (2^22): no pid can be that large. */
	expect("a pid above PID_MAX_LIMIT", 4194304, -ESRCH);
	expect("the largest pid_t", 0x7fffffff, -ESRCH);
}

static void negative_pid_einval(void)
{
	expect("pid -1", -1, -EINVAL);
	expect("the smallest pid_t", -0x7fffffff - 1, -EINVAL);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "init-has-descendants", init_has_descendants },
	{ "self-no-children", self_no_children },
	{ "child-counted", child_counted },
	{ "grandchildren-counted", grandchildren_counted },
	{ "orphan-not-counted", orphan_not_counted },
	{ "bad-pid-esrch", bad_pid_esrch },
	{ "negative-pid-einval", negative_pid_einval },
};

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc != 2) {
		printf("usage: proctree-test CASE\ncases:");
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf(" %s", cases[i].name);
		printf("\n");
		return 2;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		cases[i].run();
		printf("%s %s (%d failed check%s)\n", failures ? "FAIL" : "PASS", cases[i].name, failures, failures == 1 ? "" : "s");
		return failures ? 1 : 0;
	}
	printf("proctree-test: no case named '%s'\n", argv[1]);
	return 2;
}
