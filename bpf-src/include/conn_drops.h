/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * The drops of tracked connections that had any, by socket cookie: drops.bpf.c adds to
 * them, conn.bpf.c copies them into every record of the connection and deletes the entry
 * when the socket is destroyed. An entry is allocated at a connection's first drop, so a
 * connection without drops costs one failed lookup at close. Both objects declare the
 * map; user space makes drops.bpf.c's use conn.bpf.c's (reuse_fd).
 */
#ifndef SONDE_CONN_DROPS_H
#define SONDE_CONN_DROPS_H

#include "events.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sonde_conn_drops);
} conn_drops SEC(".maps");

#endif /* SONDE_CONN_DROPS_H */
