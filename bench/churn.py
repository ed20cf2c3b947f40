#!/usr/bin/env python3
"""Open and close TCP connections on loopback at a fixed rate.

usage: churn.py RATE SECONDS [PORT] [WORKERS]
Each connection sends 64 bytes and reads a 64-byte answer. RATE "max" opens them as fast
as the clients can for SECONDS. WORKERS > 1 forks that many client processes (each
making RATE/WORKERS a second) and as many server processes accepting on one socket, for
rates one Python process cannot reach. Prints
`offered=N completed=N seconds=S rate=R` at the end.
"""
import os
import socket
import sys
import threading
import time


def serve(srv):
    while True:
        c, _ = srv.accept()
        c.recv(64)
        c.sendall(b"a" * 64)
        c.close()


def clients(port, rate, seconds):
    """Makes connections at `rate` a second (None: as fast as possible) for `seconds`.
    Returns (offered, completed)."""
    n = int(rate * seconds) if rate else None
    done = 0
    start = time.monotonic()
    i = 0
    while n is None or i < n:
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        elif time.monotonic() - start >= seconds:
            break
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"q" * 64)
        c.recv(64)
        c.close()
        done += 1
        i += 1
    return (n if n is not None else done), done


def main():
    rate = None if sys.argv[1] == "max" else int(sys.argv[1])
    seconds = float(sys.argv[2])
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4096)
    port = srv.getsockname()[1]
    start = time.monotonic()
    if workers <= 1:
        threading.Thread(target=serve, args=(srv,), daemon=True).start()
        offered, done = clients(port, rate, seconds)
    else:
        servers = []
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:
                try:
                    serve(srv)
                finally:
                    os._exit(0)
            servers.append(pid)
        results = []
        for _ in range(workers):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                o, d = clients(port, rate / workers if rate else None, seconds)
                os.write(w, f"{o} {d}".encode())
                os._exit(0)
            os.close(w)
            results.append((pid, r))
        offered = done = 0
        for pid, r in results:
            o, d = os.read(r, 64).decode().split()
            os.waitpid(pid, 0)
            offered += int(o)
            done += int(d)
        for pid in servers:
            os.kill(pid, 15)
            os.waitpid(pid, 0)
    took = time.monotonic() - start
    print(f"offered={offered} completed={done} seconds={took:.2f} rate={done / took:.0f}", flush=True)


if __name__ == "__main__":
    main()
