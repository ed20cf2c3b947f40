/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/* Loss counters: per-CPU u64 arrays indexed by a program's `enum sonde_*_drop`. */
#ifndef SONDE_COUNTERS_H
#define SONDE_COUNTERS_H

/* Adds one to slot `which` of the per-CPU counter array `map`. */
static __always_inline void sonde_count(void *map, __u32 which)
{
	__u64 *n = bpf_map_lookup_elem(map, &which);

	if (n)
		*n += 1;
}

#endif /* SONDE_COUNTERS_H */
