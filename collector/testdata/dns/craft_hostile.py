#!/usr/bin/env python3
"""Write the crafted hostile DNS messages (hostile_*.bin) next to this script.

Each one aims at one limit of the parser; their .expected files say what it must answer.
Only the standard library is used. Run from anywhere: python3 craft_hostile.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def header(id_=0x1234, flags=0x8180, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", id_, flags, qd, an, ns, ar)


def name(*labels):
    out = b""
    for label in labels:
        if isinstance(label, str):
            label = label.encode()
        out += bytes([len(label)]) + label
    return out + b"\x00"


def question(qname, qtype=1, qclass=1):
    return qname + struct.pack(">HH", qtype, qclass)


def rr(owner, rtype, rdata, ttl=300, rclass=1, rdlen=None):
    if rdlen is None:
        rdlen = len(rdata)
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, rdlen) + rdata


PTR_Q = b"\xc0\x0c"  # pointer to the question name at offset 12
A = 1
CNAME = 5
TXT = 16

cases = {}
cases["hostile_empty"] = b""
cases["hostile_short_header"] = header()[:11]
# 'a' then a pointer back to the 'a': a loop made only of backward pointers.
cases["hostile_pointer_loop"] = header(flags=0x0100) + b"\x01a\xc0\x0c" + struct.pack(">HH", 1, 1)
cases["hostile_pointer_self"] = header(flags=0x0100) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)
cases["hostile_forward_pointer"] = header(flags=0x0100) + b"\xc0\x10" + struct.pack(">HH", 1, 1) + name("x")
cases["hostile_pointer_out_of_bounds"] = header(flags=0x0100) + b"\xc0\xff" + struct.pack(">HH", 1, 1)
cases["hostile_label_64"] = header(flags=0x0100) + question(name("a" * 64))
cases["hostile_bad_label_type"] = header(flags=0x0100) + b"\x80abc\x00" + struct.pack(">HH", 1, 1)
# 3 x 63 + 61 = 250 label bytes + 4 length bytes + the final zero = 255: the longest name.
cases["hostile_name_255"] = header(flags=0x0100) + question(name("a" * 63, "b" * 63, "c" * 63, "d" * 61))
cases["hostile_name_256"] = header(flags=0x0100) + question(name("a" * 63, "b" * 63, "c" * 63, "d" * 62))
cases["hostile_qdcount_65535"] = header(flags=0x0100, qd=65535)
cases["hostile_ancount_65535"] = header(an=65535) + question(name("x", "test"))
cases["hostile_truncated_rdata"] = (
    header(an=1) + question(name("x", "test")) + rr(PTR_Q, A, b"\xc0\x00", rdlen=4)
)
cases["hostile_a_rdlength_5"] = (
    header(an=1) + question(name("x", "test")) + rr(PTR_Q, A, b"\xc0\x00\x02\x01\x00")
)
cases["hostile_cname_rdata_mismatch"] = (
    header(an=1) + question(name("x", "test")) + rr(PTR_Q, CNAME, name("y", "test") + b"\x00\x00")
)
cases["hostile_chaos_class_a"] = (
    header(an=1) + question(name("x", "test"), qclass=3) + rr(PTR_Q, A, b"\x01\x02", rclass=3)
)
# a.test CNAME b.test, b.test CNAME a.test, b.test A: the chain must stop, the address stays.
q = question(name("a", "test"))
b_name = name("b", "test")
body = header(an=3) + q
b_off = len(body) + 12  # where b.test will sit: inside the first record's rdata
body += rr(PTR_Q, CNAME, b_name)
b_ptr = struct.pack(">H", 0xC000 | b_off)
body += rr(b_ptr, CNAME, PTR_Q)
body += rr(b_ptr, A, bytes([192, 0, 2, 99]), ttl=60)
cases["hostile_cname_loop"] = body
# Labels that need escaping: a dot, a backslash, a space, a 0xff, upper case.
cases["hostile_escapes"] = header(flags=0x0100) + question(name(b"a.b", b"x\\y", b"s p", b"\xffZ", "TeSt"))


def pointer_chain(jumps):
    """A TXT record whose rdata is a root name and `jumps - 1` pointers, each to the one
    before; a second record's owner points at the last, so reading it takes `jumps` jumps."""
    msg = header(an=2) + question(name("x", "test"))
    prefix = msg + PTR_Q + struct.pack(">HHIH", TXT, 1, 0, 0)  # rdlength patched below
    root_at = len(prefix)
    rdata = b"\x00"
    ptr_at = [root_at]
    for i in range(jumps - 1):
        ptr_at.append(root_at + len(rdata))
        rdata += struct.pack(">H", 0xC000 | ptr_at[-2])
    prefix = prefix[:-2] + struct.pack(">H", len(rdata))
    second = rr(struct.pack(">H", 0xC000 | ptr_at[-1]), TXT, b"")
    return prefix + rdata + second


cases["hostile_pointer_chain_32"] = pointer_chain(32)
cases["hostile_pointer_chain_33"] = pointer_chain(33)

for case, data in cases.items():
    with open(os.path.join(HERE, case + ".bin"), "wb") as f:
        f.write(data)
print(f"wrote {len(cases)} hostile cases")
