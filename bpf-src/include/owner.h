/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * Connection state and the owner of an accepted socket, shared by conn.bpf.c (which
 * tracks connections), data.bpf.c (whose receive program takes an accepted socket's
 * owner when HTTP capture is on), dns.bpf.c (the same, for DNS seen on sockets) and
 * drops.bpf.c (which finds the connection a drop belongs to). Each object declares the
 * maps; user space makes the others use conn.bpf.c's (reuse_fd), so there is one of each.
 */
#ifndef SONDE_OWNER_H
#define SONDE_OWNER_H

#include "events.h"
#include "task.h"

/* Per-connection state, kernel side only. */
struct conn {
	__u64 sk;	/* the struct sock, for periodic reports; valid until tcp_destroy_sock */
	__u64 start_ns;
	__u64 close_ns; /* 0 until TCP_CLOSE */
	__u64 last_report_ns;
	struct sonde_owner owner;
	__u16 flags;
	__u8 direction;
	__u8 last_state; /* the state TCP_CLOSE was entered from */
	__u8 http_looks; /* operations data.bpf.c looked at for an HTTP start, none found */
	__u8 _pad;
	/*
	 * The remote port when tracking began, host order: a connect() that fails (refused, or
	 * reset before connect() returned) disconnects the socket, which zeroes its port
	 * before the close record is read.
	 */
	__u16 rport;
};

/*
 * Accepted sockets whose owner is not yet taken in process context: every one, with its
 * listener's owner as a fallback or none (socket storage, freed with the socket, deleted
 * once the owner is known). The receive hook's whole cost on every other socket is
 * finding none.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} owner_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by user space before load */
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

static __always_inline void fill_owner(struct sonde_owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	o->pid = id >> 32;
	o->tid = (__u32)id;
	o->ppid = BPF_CORE_READ(task, real_parent, tgid);
	o->start = sonde_start_ticks(task);
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* `c` (an accepted connection) is owned by the current task from now on. */
static __always_inline void take_owner(struct conn *c)
{
	fill_owner(&c->owner);
	c->flags = (c->flags & ~SONDE_F_OWNER_LISTENER) | SONDE_F_OWNER_ACCEPT;
}

/*
 * A receive on `sk`: if the socket's owner is not yet taken, the task receiving is
 * the one accept() returned the socket to (or the one it was handed on to), and owns it
 * from now on. A kernel thread's receive (an in-kernel server) leaves the listener's
 * owner. On every other socket the cost is finding no storage.
 */
static __always_inline void sonde_owner_first_recv(struct sock *sk)
{
	struct conn *c;
	__u64 cookie;

	if (!bpf_sk_storage_get(&owner_pending, sk, 0, 0))
		return;
	if (sonde_is_kthread(bpf_get_current_task_btf()))
		return;
	cookie = bpf_get_socket_cookie(sk);
	c = bpf_map_lookup_elem(&conns, &cookie);
	if (c)
		take_owner(c);
	bpf_sk_storage_delete(&owner_pending, sk);
}

#endif /* SONDE_OWNER_H */
