"""Non-HTTP TCP traffic on loopback: N round trips of a 1000-byte message (starting like a
TLS record, so nothing mistakes it for HTTP) between a client and an echo server.

usage: echo.py ROUND_TRIPS
Prints `round_trips=N seconds=S` at the end.
"""
import socket
import sys
import threading
import time


def serve(listener):
    conn, _ = listener.accept()
    while True:
        data = conn.recv(1000)
        if not data:
            return
        conn.sendall(data)


def main():
    n = int(sys.argv[1])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    client = socket.create_connection(listener.getsockname())
    msg = b"\x16\x03\x01" + b"x" * 997
    start = time.monotonic()
    for _ in range(n):
        client.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(client.recv(1000))
    client.close()
    print(f"round_trips={n} seconds={time.monotonic() - start:.2f}", flush=True)


if __name__ == "__main__":
    main()
