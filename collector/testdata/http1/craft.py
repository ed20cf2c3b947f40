#!/usr/bin/env python3
"""Writes the single-message cases `req_*.bin` and `resp_*.bin` (parsed as a request or a
response by their name). `real_*` ones are cut out of the captured `.stream` files; the
others are crafted, one parser rule or limit each. Run after capture.py: python3 craft.py
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def records(case):
    d = open(os.path.join(HERE, f"{case}.stream"), "rb").read()
    i = 0
    while d[i:i + 1] == b"#":
        i = d.index(b"\n", i) + 1
    out = []
    while i < len(d):
        j = d.index(b"\n", i)
        direction, _, n = d[i:j].decode().split()
        n = int(n)
        out.append((direction, d[j + 1:j + 1 + n]))
        i = j + 1 + n + 1
    return out


def head(data):
    return data[: data.index(b"\r\n\r\n") + 4]


def req(*lines, target=b"/", method=b"GET", version=b"HTTP/1.1"):
    return method + b" " + target + b" " + version + b"\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"


def resp(status, *lines, version=b"HTTP/1.1"):
    return version + b" " + status + b"\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"


def cases():
    keepalive = records("nginx_keepalive")
    traced = records("nginx_traceparent")
    chunked = records("backend_chunked")
    upload = records("nginx_chunked_upload")
    yield "req_real_curl_get", keepalive[0][1]
    yield "req_real_curl_query", keepalive[4][1]
    yield "req_real_traceparent", traced[0][1]
    yield "req_real_chunked_upload", head(upload[0][1])
    yield "resp_real_nginx_200", keepalive[1][1]
    yield "resp_real_nginx_404", keepalive[3][1]
    yield "resp_real_python_chunked", chunked[1][1]
    yield "resp_real_python_http10", records("python_http10")[1][1]
    yield "req_minimal", req(b"Host: a")
    yield "req_empty", b""
    yield "req_partial_request_line", b"GET /index.ht"
    yield "req_partial_headers", b"GET /a HTTP/1.1\r\nHost: example.test\r\nAccept: */"
    yield "req_partial_before_blank_line", b"GET /a HTTP/1.1\r\nHost: example.test\r\n"
    yield "req_too_many_headers", req(*[b"X-H%d: v" % i for i in range(65)])
    yield "req_64_headers", req(*[b"X-H%d: v" % i for i in range(64)])
    yield "req_too_many_headers_partial", req(*[b"X-H%d: v" % i for i in range(70)])[:-60]
    yield "req_conflicting_content_length", req(b"Host: a", b"Content-Length: 5", b"Content-Length: 6")
    yield "req_repeated_content_length", req(b"Host: a", b"Content-Length: 5", b"content-length: 5")
    yield "req_content_length_list", req(b"Host: a", b"Content-Length: 7, 7")
    yield "req_content_length_list_conflict", req(b"Host: a", b"Content-Length: 7, 8")
    yield "req_content_length_negative", req(b"Host: a", b"Content-Length: -1")
    yield "req_content_length_empty", req(b"Host: a", b"Content-Length: ")
    yield "req_content_length_overflow", req(b"Host: a", b"Content-Length: 18446744073709551616")
    yield "req_content_length_max", req(b"Host: a", b"Content-Length: 18446744073709551615")
    yield "req_chunked_wins_over_length", req(b"Host: a", b"Content-Length: 10", b"Transfer-Encoding: chunked")
    yield "req_te_gzip", req(b"Host: a", b"Transfer-Encoding: gzip")
    yield "req_te_gzip_chunked", req(b"Host: a", b"Transfer-Encoding: gzip", b"Transfer-Encoding: Chunked")
    yield "req_te_chunked_gzip", req(b"Host: a", b"Transfer-Encoding: chunked, gzip")
    yield "req_http10", req(b"Host: a", version=b"HTTP/1.0")
    yield "req_http10_keepalive", req(b"Host: a", b"Connection: Keep-Alive", version=b"HTTP/1.0")
    yield "req_connection_close", req(b"Host: a", b"Connection: upgrade, close")
    yield "req_absolute_form", req(b"Host: other.test", target=b"http://user:pw@Example.TEST:8080/p/q?x=1")
    yield "req_absolute_form_no_path", req(target=b"https://example.test")
    yield "req_connect", req(b"Host: example.test:443", method=b"CONNECT", target=b"example.test:443")
    yield "req_options_star", req(b"Host: a", method=b"OPTIONS", target=b"*")
    yield "req_other_method", req(b"Host: a", b"Depth: 1", method=b"PROPFIND", target=b"/dav/")
    yield "req_lowercase_method", req(b"Host: a", method=b"get")
    yield "req_method_too_long", req(b"Host: a", method=b"X" * 33)
    yield "req_long_path", req(b"Host: a", target=b"/" + b"p" * 600 + b"?q=1")
    yield "req_utf8_path_cut", req(b"Host: a", target=b"/" + b"a" * 510 + "é".encode() + b"/rest")
    yield "req_fragment", req(b"Host: a", target=b"/page#section")
    yield "req_host_uppercase_port", req(b"Host:  Example.TEST:8080 ")
    yield "req_host_twice", req(b"Host: first.test", b"Host: second.test")
    yield "req_host_long", req(b"Host: " + b"h" * 300)
    yield "req_expect_continue", req(b"Host: a", b"Expect: 100-Continue", b"Content-Length: 1048576", method=b"POST", target=b"/upload")
    yield "req_traceparent_tracestate", req(b"Host: a", b"traceparent: " + TP, b"tracestate: a=1, b=2", b"TraceState: c=3,,")
    yield "req_traceparent_uppercase", req(b"Host: a", b"traceparent: " + TP.upper(), b"tracestate: a=1")
    yield "req_traceparent_twice", req(b"Host: a", b"traceparent: " + TP, b"traceparent: " + TP)
    yield "req_traceparent_zero_trace", req(b"Host: a", b"traceparent: 00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")
    yield "req_traceparent_zero_parent", req(b"Host: a", b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-" + b"0" * 16 + b"-01")
    yield "req_traceparent_version_ff", req(b"Host: a", b"traceparent: ff" + TP[2:])
    yield "req_traceparent_future_version", req(b"Host: a", b"traceparent: cc" + TP[2:] + b"-what-comes-next")
    yield "req_traceparent_00_too_long", req(b"Host: a", b"traceparent: " + TP + b"-extra")
    yield "req_tracestate_long", req(b"Host: a", b"traceparent: " + TP, *[b"tracestate: k%02d=%s" % (i, b"v" * 40) for i in range(40)])
    yield "req_bare_lf", b"GET /lf HTTP/1.1\nHost: a\n\n"
    yield "req_leading_blank_lines", b"\r\n\r\nGET /after-blank HTTP/1.1\r\nHost: a\r\n\r\n"
    yield "req_obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"
    yield "req_control_in_value", req(b"Host: a", b"X-Bad: a\x01b")
    yield "req_space_in_header_name", req(b"Host: a", b"X Bad: v")
    yield "req_http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    yield "req_http09", b"GET /\r\n"
    yield "req_tls_client_hello", bytes.fromhex("16030100f4010000f00303") + bytes(range(40))
    yield "req_space_in_target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"
    yield "req_with_body", req(b"Host: a", b"Content-Length: 11", method=b"POST") + b"hello=world"
    yield "resp_minimal", resp(b"200 OK", b"Content-Length: 0")
    yield "resp_no_reason", resp(b"200", b"Content-Length: 2") + b"ok"
    yield "resp_partial_status", b"HTTP/1.1 2"
    yield "resp_partial_headers", b"HTTP/1.1 200 OK\r\nContent-Len"
    yield "resp_bad_status", resp(b"20 OK")
    yield "resp_status_below_100", resp(b"099 Odd")
    yield "resp_status_999", resp(b"999 Request Denied", b"Content-Length: 0")
    yield "resp_http2", b"HTTP/2 200\r\n\r\n"
    yield "resp_100_continue", resp(b"100 Continue")
    yield "resp_101_switching", resp(b"101 Switching Protocols", b"Upgrade: websocket", b"Connection: Upgrade")
    yield "resp_103_early_hints", resp(b"103 Early Hints", b"Link: </style.css>; rel=preload")
    yield "resp_204_with_length", resp(b"204 No Content", b"Content-Length: 10")
    yield "resp_304_with_length", resp(b"304 Not Modified", b"Content-Length: 1234")
    yield "resp_until_close", resp(b"200 OK", b"Content-Type: text/plain")
    yield "resp_http10_keepalive", resp(b"200 OK", b"Connection: keep-alive", b"Content-Length: 3", version=b"HTTP/1.0")
    yield "resp_http10_close", resp(b"200 OK", b"Content-Length: 3", version=b"HTTP/1.0")
    yield "resp_chunked_wins_over_length", resp(b"200 OK", b"Content-Length: 3", b"Transfer-Encoding: chunked")
    yield "resp_te_chunked_gzip", resp(b"200 OK", b"Transfer-Encoding: chunked, gzip")
    yield "resp_conflicting_content_length", resp(b"200 OK", b"Content-Length: 3", b"Content-Length: 4")
    yield "resp_connection_close", resp(b"500 Internal Server Error", b"Connection: close", b"Content-Length: 0")
    yield "resp_obs_fold", b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n"
    yield "resp_garbage", b"\x00\x01binary garbage\xff\xfe"


def main():
    for name in os.listdir(HERE):
        if (name.startswith("req_") or name.startswith("resp_")) and name.endswith(".bin"):
            os.remove(os.path.join(HERE, name))
    n = 0
    for name, data in cases():
        with open(os.path.join(HERE, f"{name}.bin"), "wb") as f:
            f.write(data)
        n += 1
    print(f"{n} cases")


if __name__ == "__main__":
    main()
