/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The proctree system call for the course's test programs. They are built with the kernel's nolibc, on the host,
 * for the guest: <cross>gcc -static -nostdlib -include nolibc.h -I <tree>/tools/include/nolibc prog.c -lgcc.
 *
 *	long proctree(pid_t pid);
 *
 * returns the number of descendants of the process pid (0: the caller), -EINVAL for a negative pid, -ESRCH when
 * no process has that pid. The raw system call returns -errno itself; nolibc's my_syscallN() gives it unchanged.
 */
#ifndef PROCTREE_H
#define PROCTREE_H

/*
 * The number the course gives the call. The patched kernel's <asm/unistd.h> (headers_install) defines it; the
 * host's headers do not, hence the table below, one line per architecture the course builds.
 */
#ifndef __NR_proctree
#if defined(__x86_64__)
#define __NR_proctree 451	/* arch/x86/entry/syscalls/syscall_64.tbl */
#elif defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
#define __NR_proctree 451	/* include/uapi/asm-generic/unistd.h */
#else
#error "proctree: no system call number for this architecture"
#endif
#endif

static long proctree(pid_t pid)
{
	return my_syscall1(__NR_proctree, pid);
}

/* "ESRCH" for -ESRCH: the errors a proctree test can meet, named as the spec names them. */
static const char *proctree_errname(long ret)
{
	switch (-ret) {
	case EINVAL: return "EINVAL";
	case ESRCH: return "ESRCH";
	case ENOSYS: return "ENOSYS: the kernel has no proctree system call";
	case EFAULT: return "EFAULT";
	case EPERM: return "EPERM";
	default: return "an unexpected error";
	}
}

#endif
