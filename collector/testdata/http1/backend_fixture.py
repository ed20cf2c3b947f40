#!/usr/bin/env python3
"""A small HTTP/1.1 backend for capture.py: answers that nginx and http.server do not give.

  GET /chunked            chunked body in three writes (python flushes each one)
  GET /chunked?trailers=1 the same with a trailer field after the last chunk
  GET /length             Content-Length body
  GET /close              no Content-Length: the body ends when the connection closes
  POST /upload/echo       reads the Content-Length body (Expect: 100-continue is answered
                          by http.server), answers its size
"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            if "trailers=1" in self.path:
                self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for part in (b"first part\n", b"second, longer part of the body\n" * 3, b"end\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.002)
            if "trailers=1" in self.path:
                self.wfile.write(b"0\r\nX-Checksum: 1234\r\n\r\n")
            else:
                self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/length":
            body = b"a body with a length\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(b"until close, part %d\n" % i)
                self.wfile.flush()
                time.sleep(0.002)
            self.close_connection = True
        else:
            self.send_error(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        got = self.rfile.read(n)
        body = b"%d bytes\n" % len(got)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
