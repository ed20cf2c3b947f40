#!/usr/bin/env python3
"""Records real HTTP/1.x conversations as `<case>.stream` files for the golden tests.

Everything stays on loopback. It starts, by hand and in a temporary directory:
  - nginx (Debian `nginx-light`) on 127.0.0.1:18081 (static files, 204, 500, gzip, and a
    proxy_pass to the backend for uploads),
  - a Python backend (`backend_fixture.py`) on 127.0.0.1:18082 (chunked, until-close and
    Expect: 100-continue answers, HTTP/1.1 keep-alive),
  - `python3 -m http.server` on 127.0.0.1:18083 (HTTP/1.0),
and a recording TCP proxy on 127.0.0.1:18080 in front of whichever server a case talks to.
The proxy logs every recv() of each direction, with its time, then forwards it as is.

Usage (root not needed; `apt-get install -y nginx-light curl`):
    python3 capture.py [case ...]        # all cases by default

Stream format (see README.md): a few `#` comment lines, then records
    <dir> <microseconds since the first record> <byte count>\n<bytes>\n
where <dir> is `>` (client to server) or `<` (server to client).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = ("127.0.0.1", 18080)
NGINX = 18081
BACKEND = 18082
PYSERVER = 18083
P = "http://127.0.0.1:18080"

NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ text/html html; text/plain txt; }}
    if_modified_since before;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 0;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /empty {{ return 204; }}
        location = /error {{ return 500; }}
        location /upload {{ proxy_pass http://127.0.0.1:{backend}; proxy_http_version 1.1; }}
    }}
}}
"""


class Recorder:
    """One proxied connection: every recv() of both directions, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.t0 = None

    def log(self, direction, data):
        with self.lock:
            now = time.monotonic_ns()
            if self.t0 is None:
                self.t0 = now
            self.records.append((direction, (now - self.t0) // 1000, data))

    def write(self, path, case, comment):
        with open(path, "wb") as f:
            f.write(b"# sonde http1 stream v1\n")
            f.write(f"# case: {case}\n".encode())
            for line in comment.strip().splitlines():
                f.write(f"# {line}\n".encode())
            for direction, micros, data in self.records:
                f.write(f"{direction} {micros} {len(data)}\n".encode())
                f.write(data)
                f.write(b"\n")


def pump(src, dst, direction, rec):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        rec.log(direction, data)
        try:
            dst.sendall(data)
        except OSError:
            return


def proxy_once(listener, upstream_port, rec, done):
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", upstream_port))
    a = threading.Thread(target=pump, args=(client, server, ">", rec))
    b = threading.Thread(target=pump, args=(server, client, "<", rec))
    a.start()
    b.start()
    a.join()
    b.join()
    client.close()
    server.close()
    done.set()


def run_case(case, upstream_port, client, comment):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(PROXY)
    listener.listen(1)
    rec = Recorder()
    done = threading.Event()
    t = threading.Thread(target=proxy_once, args=(listener, upstream_port, rec, done), daemon=True)
    t.start()
    client()
    if not done.wait(10):
        sys.exit(f"{case}: connection did not finish")
    listener.close()
    rec.write(os.path.join(HERE, f"{case}.stream"), case, comment)
    print(f"{case}: {len(rec.records)} records")


def curl(*args):
    return lambda: subprocess.run(["curl", "-sS", *args], check=True, stdout=subprocess.DEVNULL)


def raw(payload, shut=False):
    """Sends `payload` in one write, then reads until the server closes."""

    def go():
        s = socket.create_connection(PROXY)
        s.sendall(payload)
        if shut:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        while s.recv(65536):
            pass
        s.close()

    return go


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def cases(d):
    big = os.path.join(d, "upload.bin")
    with open(big, "wb") as f:
        f.write(bytes(range(256)) * 64)  # 16 KiB
    ims = "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"
    pipelined = (
        b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: pipeline\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: pipeline\r\n\r\n"
        b"HEAD /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: pipeline\r\n\r\n"
        b"GET /empty HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nConnection: close\r\n\r\n"
    )
    # A TLS ClientHello start, then noise: what a confused client sends to a plaintext port.
    garbage = bytes.fromhex("16030100f4010000f00303") + bytes(range(7, 200, 3)) + b"\r\n\r\n"
    return {
        "nginx_keepalive": (NGINX, curl(f"{P}/", f"{P}/missing", f"{P}/hello.txt?lang=en&x=1"),
                            "curl, three GETs on one keep-alive connection: 200, 404, 200 (query)"),
        "nginx_head": (NGINX, curl("-I", f"{P}/hello.txt", "--next", "-sS", f"{P}/hello.txt"),
                       "curl -I then GET on the same connection: HEAD's Content-Length has no body"),
        "nginx_304_204": (NGINX, curl("-H", ims, f"{P}/hello.txt", f"{P}/empty", "--next", "-sS", f"{P}/"),
                          "304 (If-Modified-Since), 204, then 200, one connection"),
        "nginx_chunked_gzip": (NGINX, curl("--compressed", f"{P}/big.txt", f"{P}/big.txt"),
                               "gzip makes nginx answer chunked; twice on one connection"),
        "nginx_pipelined": (NGINX, raw(pipelined),
                            "four requests in one write (python raw socket): GET, GET 404, HEAD, GET 204 + close"),
        "nginx_expect_continue": (NGINX, curl("-H", "Expect: 100-continue", "--data-binary", f"@{big}", f"{P}/upload/echo"),
                                  "curl POST 16 KiB with Expect: 100-continue; nginx answers 100, reads, proxies to the backend"),
        "nginx_chunked_upload": (NGINX, curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{big}", f"{P}/upload/echo", "--next", "-sS", f"{P}/error"),
                                 "curl POST with a chunked request body, then a 500 on the same connection"),
        "nginx_traceparent": (NGINX, curl("-H", f"traceparent: {TRACEPARENT}", "-H", "tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", f"{P}/"),
                              "curl GET with a W3C traceparent and tracestate"),
        "nginx_http10": (NGINX, curl("-0", f"{P}/hello.txt"),
                         "curl -0: an HTTP/1.0 request; nginx answers and closes"),
        "nginx_garbage": (NGINX, raw(garbage),
                          "a TLS ClientHello start and noise on the plaintext port; nginx answers 400 and closes"),
        "python_http10": (PYSERVER, curl(f"{P}/hello.txt"),
                          "python3 -m http.server: an HTTP/1.0 answer, then the server closes"),
        "backend_chunked": (BACKEND, curl(f"{P}/chunked", f"{P}/chunked?trailers=1", f"{P}/length"),
                            "python backend: chunked answer in several writes, one with trailers, then a Content-Length one"),
        "backend_until_close": (BACKEND, curl(f"{P}/close"),
                                "python backend: HTTP/1.1 200 without Content-Length, body until close"),
    }


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    d = tempfile.mkdtemp(prefix="sonde-http1-")
    procs = []
    try:
        os.makedirs(f"{d}/www")
        with open(f"{d}/www/index.html", "w") as f:
            f.write("<html><body><h1>sonde</h1></body></html>\n")
        with open(f"{d}/www/hello.txt", "w") as f:
            f.write("hello, sonde\n")
        with open(f"{d}/www/big.txt", "w") as f:
            f.write("".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(2000)))
        os.utime(f"{d}/www/hello.txt", (1_700_000_000, 1_700_000_000))
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(d=d, port=NGINX, backend=BACKEND))
        procs.append(subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d]))
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "backend_fixture.py"), str(BACKEND)]))
        procs.append(subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(PYSERVER)],
                                      cwd=f"{d}/www", stderr=subprocess.DEVNULL))
        for port in (NGINX, BACKEND, PYSERVER):
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.05)
        wanted = set(sys.argv[1:])
        for case, (port, client, comment) in cases(d).items():
            if not wanted or case in wanted:
                run_case(case, port, client, comment)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
