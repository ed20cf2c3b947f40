/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * fd → struct sock of the current task, for syscall tracepoints (which get an fd, not a
 * socket). Every read is a bpf_probe_read_kernel, so a racing close cannot fault.
 */
#ifndef SONDE_SOCK_LOOKUP_H
#define SONDE_SOCK_LOOKUP_H

#define SONDE_S_IFMT 00170000
#define SONDE_S_IFSOCK 0140000

/* The TCP socket behind `fd` in the current task, or NULL (not a socket, not TCP). */
static __always_inline struct sock *sonde_fd_tcp_sock(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u32 max_fds;
	__u16 family;

	if (fd < 0)
		return NULL;
	max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & SONDE_S_IFMT) != SONDE_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */)
		return NULL;
	return sk;
}

/* The socket's cookie if one was generated (Sonde's connection tracking does at connect
 * and accept), else 0. */
static __always_inline __u64 sonde_sk_cookie(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

#endif /* SONDE_SOCK_LOOKUP_H */
