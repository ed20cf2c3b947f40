#!/usr/bin/env python3
"""Send DNS queries at a fixed rate, one UDP socket per lookup (as a stub resolver does),
and wait for each answer.

usage: dnsload.py SERVER RATE SECONDS
One lookup in ten asks for a name that does not exist (NXDOMAIN). Prints
`lookups=N answered=N nxdomain=N seconds=S rate=R` at the end.
"""
import random
import socket
import struct
import sys
import time


def query(name, qid):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + qname + struct.pack(">HH", 1, 1)


def main():
    server, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    n = int(rate * seconds)
    answered = nx = 0
    start = time.monotonic()
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        name = f"h{i % 500}.nx.sonde.test" if i % 10 == 0 else f"h{i % 500}.bench.sonde.test"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            qid = random.getrandbits(16)
            s.sendto(query(name, qid), (server, 53))
            try:
                reply = s.recv(512)
            except socket.timeout:
                continue
            answered += 1
            nx += (reply[3] & 0x0F) == 3
    took = time.monotonic() - start
    print(f"lookups={n} answered={answered} nxdomain={nx} seconds={took:.2f} rate={n / took:.0f}", flush=True)


if __name__ == "__main__":
    main()
