#!/usr/bin/env python3
"""A toy upstream DNS server for capture.sh, on 127.0.0.1:5354 (UDP), so that dnsmasq
forwards to something: *.fail.test gets SERVFAIL, www.fwd.test A gets a CNAME (TTL 60) to
two A records (TTL 300), anything else NXDOMAIN. Answers at most 50 queries, then exits."""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5354))
def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
for _ in range(50):
    data, peer = s.recvfrom(4096)
    qid, flags, qd = struct.unpack(">HHH", data[:6])
    # question ends at first zero after 12, +4
    end = data.index(b"\0", 12) + 5
    q = data[12:end]
    qname = []
    i = 12
    while data[i]:
        qname.append(data[i+1:i+1+data[i]].decode()); i += data[i] + 1
    qname = ".".join(qname).lower()
    qtype = struct.unpack(">H", data[end-4:end-2])[0]
    rd = flags & 0x0100
    if qname.endswith("fail.test"):
        resp = struct.pack(">HHHHHH", qid, 0x8080 | rd | 2, 1, 0, 0, 0) + q
    elif qname == "www.fwd.test" and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(name("edge.cdn.fwd.test"))) + name("edge.cdn.fwd.test")
        ans += name("edge.cdn.fwd.test") + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([192,0,2,50])
        ans += name("edge.cdn.fwd.test") + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([192,0,2,51])
        resp = struct.pack(">HHHHHH", qid, 0x8080 | rd, 1, 3, 0, 0) + q + ans
    else:
        resp = struct.pack(">HHHHHH", qid, 0x8080 | rd | 3, 1, 0, 0, 0) + q
    s.sendto(resp, peer)
