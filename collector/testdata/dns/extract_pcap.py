#!/usr/bin/env python3
"""Extract DNS messages from a loopback pcap into golden inputs.

usage: extract_pcap.py CASE PCAP OUTDIR [--queries]

UDP: the server's reply becomes CASE.bin; with --queries the client's query also becomes
CASE_query.bin. TCP: each direction's payload, in sequence order, is written as
CASE.client.stream / CASE.server.stream (length-prefixed, as on the wire), and each
framed server message becomes CASE_tcpN.bin. Only the standard library is used.
"""
import struct
import sys

SERVER_PORT = 5353


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if linktype == 1:  # Ethernet (what Linux uses for lo)
            ethertype = struct.unpack(">H", frame[12:14])[0]
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked
            ethertype = struct.unpack(">H", frame[14:16])[0]
            ip = frame[16:]
        else:
            raise SystemExit(f"unsupported linktype {linktype}")
        if ethertype == 0x0800:
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            proto = ip[9]
            l4 = ip[ihl:total]
        elif ethertype == 0x86DD:
            proto = ip[6]
            l4 = ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
        else:
            continue
        yield proto, l4


def main():
    case, pcap, outdir = sys.argv[1:4]
    queries = "--queries" in sys.argv
    streams = {}
    for proto, l4 in packets(pcap):
        sport, dport = struct.unpack(">HH", l4[:4])
        if proto == 17:
            payload = l4[8:]
            if sport == SERVER_PORT:
                open(f"{outdir}/{case}.bin", "wb").write(payload)
            elif queries:
                open(f"{outdir}/{case}_query.bin", "wb").write(payload)
        elif proto == 6:
            seq = struct.unpack(">I", l4[4:8])[0]
            doff = (l4[12] >> 4) * 4
            payload = l4[doff:]
            if payload:
                side = "server" if sport == SERVER_PORT else "client"
                streams.setdefault(side, {})[seq] = payload
    for side, segs in streams.items():
        stream = b"".join(segs[s] for s in sorted(segs))
        open(f"{outdir}/{case}.{side}.stream", "wb").write(stream)
        if side == "server":
            i, n = 0, 0
            while i + 2 <= len(stream):
                ln = struct.unpack(">H", stream[i:i + 2])[0]
                open(f"{outdir}/{case}_tcp{n}.bin", "wb").write(stream[i + 2:i + 2 + ln])
                i += 2 + ln
                n += 1


if __name__ == "__main__":
    main()
