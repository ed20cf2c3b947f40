#!/usr/bin/env python3
"""Writes the seed corpus (corpus/<target>/) from the golden test data: the DNS captures,
the HTTP/1 heads and streams, crafted chunked bodies, one record of each kernel kind, and
tracker event sequences built from the same. Rerun after the golden data changes; the
output is committed.

    collector/fuzz/seed.py
"""
import os
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
TESTDATA = HERE.parent / "testdata"
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def stream(path):
    """(egress, bytes) records of a .stream file (format: testdata/http1/README.md)."""
    out, lines = [], path.read_bytes().split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line[:2] in (b"> ", b"< "):
            n = int(line.split()[2])
            body = b"\n".join(lines[i + 1:])[:n]
            out.append((line[:1] == b">", body))
            i += 1 + body.count(b"\n")
        i += 1
    return out


def main():
    dns = sorted((TESTDATA / "dns").glob("*.bin"))
    for p in dns:
        write("dns_message", p.stem, p.read_bytes())
    for p in dns[:12]:
        msg = p.read_bytes()
        framed = struct.pack(">H", len(msg)) + msg
        write("dns_tcp", p.stem, bytes([len(msg) % 64]) + framed * 2)
    # Query then answer, client side (op bits: lib.rs dns_tracker), then an expiry.
    queries = {p.stem: p.read_bytes() for p in dns if p.stem.endswith("_query")}
    for q, query in sorted(queries.items())[:10]:
        answer = TESTDATA / "dns" / f"{q[:-len('_query')]}.bin"
        if not answer.exists():
            continue
        a = answer.read_bytes()[:255]
        seq = bytes([0x03, 1, len(query[:255])]) + query[:255]
        seq += bytes([0x00, 2, len(a)]) + a + bytes([0x08, 200])
        write("dns_tracker", q, seq)
    http = sorted((TESTDATA / "http1").glob("*.bin"))
    for p in http:
        write("http_head", p.stem, p.read_bytes())
    chunked = [
        b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        b"b\r\nfirst part\r\n\r\n60;ext=1\r\n" + b"x" * 0x60 + b"\r\n0\r\nTrailer: t\r\n\r\n",
        b"0\r\n\r\n",
        b"ffffffffffffffff\r\n",
    ]
    for i, body in enumerate(chunked):
        write("http_chunked", f"body{i}", bytes([7, 0]) + body)
        write("http_chunked", f"skips{i}", bytes([3, 2]) + body)
    for p in sorted((TESTDATA / "http1").glob("*.stream")):
        seq = b""
        for egress, data in stream(p):
            for k in range(0, len(data), 255):
                piece = data[k:k + 255]
                # A client's connection 0: its requests written, its responses read.
                seq += bytes([0x13 if egress else 0x03, 1, len(piece)]) + piece + b"\x00"
        write("http_tracker", p.stem, seq + bytes([0x00, 5]))
    sizes = {1: 152, 2: 40, 3: 40, 4: 152, 5: 1584, 6: 1064, 7: 128}
    for kind, size in sizes.items():
        record = bytearray(size)
        record[0] = kind
        write("kernel_record", f"kind{kind}", bytes(record))
        write("kernel_record", f"kind{kind}_short", bytes(record[: size // 2]))


if __name__ == "__main__":
    main()
