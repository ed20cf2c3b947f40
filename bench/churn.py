#!/usr/bin/env python3
"""Open and close TCP connections on loopback at a fixed rate.

usage: churn.py RATE SECONDS [PORT]
Each connection sends 64 bytes and reads a 64-byte answer. Prints
`offered=N completed=N seconds=S rate=R` at the end.
"""
import socket
import sys
import threading
import time


def server(srv):
    while True:
        c, _ = srv.accept()
        c.recv(64)
        c.sendall(b"a" * 64)
        c.close()


def main():
    rate, seconds = int(sys.argv[1]), float(sys.argv[2])
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1024)
    port = srv.getsockname()[1]
    threading.Thread(target=server, args=(srv,), daemon=True).start()
    n = int(rate * seconds)
    done = 0
    start = time.monotonic()
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"q" * 64)
        c.recv(64)
        c.close()
        done += 1
    took = time.monotonic() - start
    print(f"offered={n} completed={done} seconds={took:.2f} rate={done / took:.0f}", flush=True)


if __name__ == "__main__":
    main()
