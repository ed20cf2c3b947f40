#!/usr/bin/env python3
"""A backend that misbehaves on purpose, for bench/outage.sh.

usage: relay.py PORT blackhole        accept every connection on 127.0.0.1:PORT, then never
                                      read or answer (the kernel's buffers fill, the
                                      client's requests time out)
       relay.py PORT forward HOST:P   forward every connection to HOST:P, both ways; prints
                                      `first-answer EPOCH` when the first bytes come back
"""
import socket
import sys
import threading
import time


def pump(src, dst, answer):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if answer is not None and not answer.is_set():
                answer.set()
                print(f"first-answer {time.time():.3f}", flush=True)
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    print("listening", flush=True)
    held, answer = [], threading.Event()
    while True:
        c, _ = srv.accept()
        if mode == "blackhole":
            held.append(c)
            continue
        host, p = sys.argv[3].rsplit(":", 1)
        up = socket.create_connection((host, int(p)))
        threading.Thread(target=pump, args=(c, up, None), daemon=True).start()
        threading.Thread(target=pump, args=(up, c, answer), daemon=True).start()


if __name__ == "__main__":
    main()
