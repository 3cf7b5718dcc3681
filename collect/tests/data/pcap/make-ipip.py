#!/usr/bin/env python3
"""Hand-made IPIP captures (this kernel has no IPIP, so none could be recorded).

Writes, next to this script:
  ipip-handmade-eth0.pcap  LINKTYPE_ETHERNET: what eth0 of a Calico IPIP node
                           carries: Ethernet / IPv4 192.0.2.11 > 192.0.2.12 proto 4
                           / IPv4 10.244.1.2 > 10.244.2.3 ICMP echo request
  ipip-handmade-raw.pcap   LINKTYPE_RAW (101): the same outer packet without
                           Ethernet, as a raw-IP capture stores it
  ipip-handmade-tunl0.pcap LINKTYPE_RAW: what tunl0 itself shows, the inner
                           packet only (decapsulated)
"""
import os
import struct


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64,
                      proto, 0, bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def icmp_echo():
    body = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + bytes(range(56))
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def pcap(path, linktype, frame):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 256, linktype))
        f.write(struct.pack("<IIII", 1763786000, 0, len(frame), len(frame)))
        f.write(frame)


here = os.path.dirname(os.path.abspath(__file__))
inner = ipv4([10, 244, 1, 2], [10, 244, 2, 3], 1, icmp_echo(), 0x0101)
outer = ipv4([192, 0, 2, 11], [192, 0, 2, 12], 4, inner, 0x0202)
eth = bytes.fromhex("525400000212") + bytes.fromhex("52540000020b") + b"\x08\x00"
pcap(os.path.join(here, "ipip-handmade-eth0.pcap"), 1, eth + outer)
pcap(os.path.join(here, "ipip-handmade-raw.pcap"), 101, outer)
pcap(os.path.join(here, "ipip-handmade-tunl0.pcap"), 101, inner)
