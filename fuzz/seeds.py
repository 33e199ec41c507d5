#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets into fuzz/corpus/<target>/.

Each seed is a valid message (or body) in the input layout of its target:
the first four octets are the DecodeCtx that `arbitrary` reads
(four_octet_as, add_path, families, extended_message).
Run from anywhere: python3 fuzz/seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def ctx(four=1, add_path=0, families=3, ext=0):
    return bytes([four, add_path, families, ext])


def message(kind, body):
    return b"\xff" * 16 + struct.pack(">HB", 19 + len(body), kind) + body


def attr(flags, code, value):
    if len(value) > 255 or flags & 0x10:
        return struct.pack(">BBH", flags | 0x10, code, len(value)) + value
    return struct.pack(">BBB", flags, code, len(value)) + value


def update(withdrawn=b"", attrs=b"", nlri=b""):
    return struct.pack(">H", len(withdrawn)) + withdrawn + struct.pack(">H", len(attrs)) + attrs + nlri


def as_path(segments, size):
    out = b""
    for kind, asns in segments:
        out += bytes([kind, len(asns)])
        out += b"".join(a.to_bytes(size, "big") for a in asns)
    return out


def v4(prefix, length, path_id=None):
    octets = bytes(map(int, prefix.split(".")))[: (length + 7) // 8]
    head = struct.pack(">I", path_id) if path_id is not None else b""
    return head + bytes([length]) + octets


def v6(words, length, path_id=None):
    raw = b"".join(struct.pack(">H", w) for w in words).ljust(16, b"\0")
    head = struct.pack(">I", path_id) if path_id is not None else b""
    return head + bytes([length]) + raw[: (length + 7) // 8]


def caps(*cs):
    return b"".join(bytes([code, len(v)]) + v for code, v in cs)


def open_body(my_as, hold, bgp_id, capabilities, extended=False):
    head = struct.pack(">BHH", 4, my_as, hold) + bytes(bgp_id)
    if extended:
        param = struct.pack(">BH", 2, len(capabilities)) + capabilities
        return head + struct.pack(">BBH", 255, 255, len(param)) + param
    param = bytes([2, len(capabilities)]) + capabilities
    return head + bytes([len(param)]) + param


ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC, AGGREGATOR, COMMUNITIES = 1, 2, 3, 4, 5, 6, 7, 8
ORIGINATOR, CLUSTER, MP_REACH, MP_UNREACH, EXT_COMM, AS4_PATH, AS4_AGG, LARGE = 9, 10, 14, 15, 16, 17, 18, 32
T, O, OT = 0x40, 0x80, 0xC0

ALL_CAPS = caps(
    (1, b"\x00\x01\x00\x01"),
    (1, b"\x00\x02\x00\x01"),
    (2, b""),
    (70, b""),
    (6, b""),
    (65, struct.pack(">I", 4200000001)),
    (69, b"\x00\x01\x01\x03\x00\x02\x01\x01"),
    (64, b"\x80\x78\x00\x01\x01\x80\x00\x02\x01\x00"),
    (128, b"\x01\x02"),
)

OPENS = {
    "open_plain": open_body(64512, 90, [10, 0, 0, 1], caps((1, b"\x00\x01\x00\x01"))),
    "open_all_caps": open_body(23456, 240, [10, 0, 0, 2], ALL_CAPS),
    "open_rfc9072": open_body(64512, 180, [10, 0, 0, 3], ALL_CAPS, extended=True),
}

v4_attrs_4 = (
    attr(T, ORIGIN, b"\x00")
    + attr(T, AS_PATH, as_path([(2, [64512, 4200000001, 65000])], 4))
    + attr(T, NEXT_HOP, bytes([192, 0, 2, 1]))
    + attr(O, MED, struct.pack(">I", 10))
    + attr(T, LOCAL_PREF, struct.pack(">I", 100))
    + attr(OT, COMMUNITIES, struct.pack(">II", 0xFDE80001, 0xFFFFFF01))
)
v4_attrs_2 = (
    attr(T, ORIGIN, b"\x02")
    + attr(T, AS_PATH, as_path([(3, [65001]), (2, [65000, 23456, 64512]), (1, [1, 2])], 2))
    + attr(T, NEXT_HOP, bytes([192, 0, 2, 2]))
    + attr(T, ATOMIC, b"")
    + attr(OT, AGGREGATOR, struct.pack(">H", 23456) + bytes([10, 0, 0, 9]))
    + attr(OT, AS4_PATH, as_path([(2, [4200000001, 64512]), (1, [1, 2])], 4))
    + attr(OT, AS4_AGG, struct.pack(">I", 4200000009) + bytes([10, 0, 0, 9]))
)
rr_attrs = (
    attr(T, ORIGIN, b"\x00")
    + attr(T, AS_PATH, b"")
    + attr(O, ORIGINATOR, bytes([10, 0, 0, 7]))
    + attr(O, CLUSTER, bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    + attr(OT, EXT_COMM, bytes([0, 2, 0xFD, 0xE8, 0, 0, 0, 1]))
    + attr(0xE0, 99, b"opaque")
    + attr(OT, LARGE, struct.pack(">III", 4200000001, 1, 2))
)
mp6 = struct.pack(">HBB", 2, 1, 32) + bytes(range(16)) + b"\xfe\x80" + bytes(14) + b"\0"
mp6_nlri = v6([0xFD00, 0, 0, 0x40], 122, 7) + v6([0x2001, 0xDB8], 32, 8)

UPDATES = {
    "update_v4_4octet": update(attrs=v4_attrs_4, nlri=v4("10.244.1.64", 26) + v4("0.0.0.0", 0) + v4("192.0.2.1", 32)),
    "update_v4_2octet_as4": update(attrs=v4_attrs_2, nlri=v4("10.1.0.0", 16)),
    "update_v4_withdraw": update(withdrawn=v4("10.1.0.0", 16) + v4("10.2.3.0", 24)),
    "update_v4_addpath": update(
        withdrawn=v4("10.9.0.0", 16, 3),
        attrs=v4_attrs_4,
        nlri=v4("10.1.0.0", 16, 1) + v4("10.1.0.0", 16, 2),
    ),
    "update_rr_v4_mp": update(
        attrs=attr(O | 0x10, MP_REACH, struct.pack(">HBB", 1, 1, 4) + bytes([10, 0, 0, 1, 0]) + v4("10.5.0.0", 16))
        + rr_attrs
    ),
    "update_v6_addpath": update(attrs=attr(O | 0x10, MP_REACH, mp6 + mp6_nlri)
        + attr(T, ORIGIN, b"\x01")
        + attr(T, AS_PATH, as_path([(2, [4200000001])], 4))
    ),
    "update_v6_unreach": update(attrs=attr(O | 0x10, MP_UNREACH, struct.pack(">HB", 2, 1) + v6([0x2001, 0xDB8], 48))),
    "update_eor_v6": update(attrs=attr(O, MP_UNREACH, struct.pack(">HB", 2, 1))),
    "update_eor_v4": update(),
}

OTHERS = {
    "keepalive": message(4, b""),
    "notification_shutdown": message(3, b"\x06\x02\x0bmaintenance"),
    "notification_hold": message(3, b"\x04\x00"),
    "route_refresh": message(5, b"\x00\x01\x00\x01"),
    "route_refresh_borr": message(5, b"\x00\x02\x01\x01"),
}

# Which context suits which seed (add-path seeds need it on both families).
def ctx_for(name):
    if "addpath" in name:
        return ctx(four=1, add_path=3)
    if "2octet" in name:
        return ctx(four=0)
    return ctx()


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    whole = {}
    whole.update({n: message(1, b) for n, b in OPENS.items()})
    whole.update({n: message(2, b) for n, b in UPDATES.items()})
    whole.update(OTHERS)
    for name, data in whole.items():
        write("message_decode", name, ctx_for(name) + data)
        write("round_trip", name, ctx_for(name) + b"\x03" + data)
        write("codec_stream", name, ctx_for(name) + b"\x00" + data)
    for name, body in UPDATES.items():
        write("update_decode", name, ctx_for(name) + body)
        write("round_trip", name + "_body", ctx_for(name) + b"\x00" + body)
    for name, body in OPENS.items():
        write("open_decode", name, ctx_for(name) + body)
        write("round_trip", name + "_body", ctx_for(name) + b"\x02" + body)
    # A stream of several messages, cut in a few places.
    stream = b"".join(whole[n] for n in ["open_all_caps", "keepalive", "update_v4_4octet", "update_eor_v6", "notification_shutdown"])
    cuts = b"".join(struct.pack("<H", c) for c in [1, 18, 19, 20, 100, 150])
    write("codec_stream", "session", ctx() + bytes([6]) + cuts + stream)
    write("codec_stream", "session_garbage", ctx() + b"\x00" + stream[:-3] + b"\x00" * 40)


if __name__ == "__main__":
    main()
