/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/* Ring-buffer wake-ups: one per batch of records, not one per record. */
#ifndef SONDE_WAKEUP_H
#define SONDE_WAKEUP_H

/*
 * The flag to submit a record with, to ring buffer `rb` whose reader is woken once
 * `threshold` bytes wait (0: the kernel's default, a wake-up whenever the reader has caught
 * up). `woken` is the ring's own global: the reader's position at the last forced
 * wake-up, plus one (0: never).
 *
 * Below the threshold, no wake-up: the reader's poll timeout bounds the wait. At or above
 * it, a forced wake-up, but only once the reader has consumed `threshold` bytes since the
 * last one. A reader that sleeps has drained the ring, past everything that was waiting at
 * the last wake-up, so it is always woken again; a reader that is busy is not woken again
 * for every record it has not reached yet. (Forcing a wake-up per record above the
 * threshold raised an irq_work, a self-IPI, on every record while the reader was behind:
 * 2 % of every CPU sample under nginx keep-alive with HTTP capture.) Two CPUs may both
 * force one at the same moment: harmless.
 */
static __always_inline __u64 sonde_wakeup(void *rb, __u64 *woken, __u64 threshold)
{
	__u64 cons, last;

	if (!threshold)
		return 0;
	if (bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) < threshold)
		return BPF_RB_NO_WAKEUP;
	cons = bpf_ringbuf_query(rb, BPF_RB_CONS_POS);
	last = *woken;
	if (last && cons + 1 - last < threshold)
		return BPF_RB_NO_WAKEUP;
	*woken = cons + 1;
	return BPF_RB_FORCE_WAKEUP;
}

#endif /* SONDE_WAKEUP_H */
