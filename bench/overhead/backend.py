#!/usr/bin/env python3
"""The proxy workload's backend: a tiny HTTP/1.0 server on loopback.

usage: backend.py PORT
Answers every GET with 200 and a 64-byte body, one connection per request (nginx's
proxy_pass speaks HTTP/1.0 upstream by default), no logging.
"""
import http.server
import sys

BODY = b"b" * 64


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server(http.server.HTTPServer):
    # nginx opens up to one upstream connection per client connection at once: a deep
    # backlog keeps a burst of them from being dropped (and retried a second later).
    request_queue_size = 4096

    def handle_error(self, request, client_address):
        # A client that goes away mid-answer (wrk stopping) is not an error here.
        pass


def main():
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
