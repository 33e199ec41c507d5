#!/usr/bin/env python3
"""Turn the lab's pcaps into BGP codec test vectors.

Usage: extract.py --pcap-dir DIR --out DIR [--versions FILE] [--max N]

DIR holds the .pcap file(s) written by run.sh (tcpdump -i any -Q in on the bridge ports,
so each segment appears once, as sent). All pcaps are read together so that each
TCP connection's two OPENs are known: the negotiated capabilities (4-octet AS, ADD-PATH
per family and direction) decide how the UPDATEs are decoded and are written next to
each vector. Plain Python 3, no dependencies: pcap (Ethernet, IPv4/IPv6, TCP) is parsed
here, TCP is reassembled per direction by sequence number.

Output: <out>/<impl>.txt for impl in bird2, gobgp, frr, bird16. One message per line,
`<label> <hex>`, the hex being the whole BGP message (marker and header included).
Lines starting with '#' are comments: a header saying how the bytes were made, and,
before each vector, its session, the decode context and a decoded summary.
"""
import argparse
import glob
import ipaddress
import os
import struct
import sys

# ------------------------------------------------------------------ lab description
NODES = {  # node -> (implementation, IPv4, IPv6, AS)
    "b2": ("bird2", "10.211.0.1", "fd00:211::1", 64512),
    "gb": ("gobgp", "10.211.0.2", "fd00:211::2", 64512),
    "frr": ("frr", "10.211.0.3", "fd00:211::3", 64512),
    "b16": ("bird16", "10.211.0.4", "fd00:211::4", 64512),
    "e4": ("bird2", "10.211.0.5", "fd00:211::5", 4200000001),
    "e2": ("bird2", "10.211.0.6", "fd00:211::6", 65010),
}
ADDR2NODE = {}
for _n, (_impl, _v4, _v6, _as) in NODES.items():
    ADDR2NODE[ipaddress.ip_address(_v4)] = _n
    ADDR2NODE[ipaddress.ip_address(_v6)] = _n

IMPLS = ["bird2", "gobgp", "frr", "bird16"]

# ------------------------------------------------------------------ pcap + TCP

def read_pcap(path):
    """Yield (ts, src_ip, sport, dst_ip, dport, seq, flags, payload)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit(f"{path}: not a pcap file (pcapng is not supported)")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet
            et = struct.unpack(">H", pkt[12:14])[0]
            p = 14
            while et in (0x8100, 0x88A8):
                et = struct.unpack(">H", pkt[p + 2:p + 4])[0]
                p += 4
        elif linktype == 113:  # Linux cooked v1 (tcpdump -i any)
            if struct.unpack(">H", pkt[0:2])[0] == 4:  # outgoing copy
                continue
            et = struct.unpack(">H", pkt[14:16])[0]
            p = 16
        elif linktype == 276:  # Linux cooked v2 (tcpdump -i any)
            if pkt[10] == 4:  # outgoing copy
                continue
            et = struct.unpack(">H", pkt[0:2])[0]
            p = 20
        else:
            raise SystemExit(f"{path}: unsupported link type {linktype}")
        if et == 0x0800:
            ihl = (pkt[p] & 0x0F) * 4
            proto = pkt[p + 9]
            tot = struct.unpack(">H", pkt[p + 2:p + 4])[0]
            src = ipaddress.ip_address(pkt[p + 12:p + 16])
            dst = ipaddress.ip_address(pkt[p + 16:p + 20])
            l4 = pkt[p + ihl:p + tot]
        elif et == 0x86DD:
            plen = struct.unpack(">H", pkt[p + 4:p + 6])[0]
            proto = pkt[p + 6]
            src = ipaddress.ip_address(pkt[p + 8:p + 24])
            dst = ipaddress.ip_address(pkt[p + 24:p + 40])
            l4 = pkt[p + 40:p + 40 + plen]
        else:
            continue
        if proto != 6:
            continue
        sport, dport, seq = struct.unpack(">HHI", l4[:8])
        doff = (l4[12] >> 4) * 4
        flags = l4[13]
        yield ts, src, sport, dst, dport, seq, flags, l4[doff:]


def reassemble(segments):
    """segments: list of (ts, seq, flags, payload) for one direction.
    Returns list of (start_offset, ts) chunks and the byte stream."""
    isn = None
    for ts, seq, flags, payload in segments:
        if flags & 0x02:  # SYN
            isn = seq
            break
    if isn is None:  # capture started mid-connection: use the lowest seq
        data_segs = [s for s in segments if s[3]]
        if not data_segs:
            return b"", []
        isn = min(s[1] for s in data_segs) - 1
    buf = bytearray()
    starts = []  # (offset, ts) where new bytes were appended
    pending = sorted(((seq - isn - 1) % (1 << 32), ts, payload)
                     for ts, seq, flags, payload in segments if payload)
    for rel, ts, payload in pending:
        if rel > len(buf):
            print(f"warning: gap of {rel - len(buf)} bytes in a TCP stream; stopping it there",
                  file=sys.stderr)
            break
        new = payload[len(buf) - rel:]
        if new:
            starts.append((len(buf), ts))
            buf += new
    return bytes(buf), starts


def split_bgp(stream, starts):
    msgs = []
    off = 0
    si = 0
    while off + 19 <= len(stream):
        if stream[off:off + 16] != b"\xff" * 16:
            print("warning: lost BGP framing in a stream", file=sys.stderr)
            break
        length = struct.unpack(">H", stream[off + 16:off + 18])[0]
        if length < 19 or off + length > len(stream):
            break
        while si + 1 < len(starts) and starts[si + 1][0] <= off:
            si += 1
        ts = starts[si][1] if starts else 0.0
        msgs.append((ts, stream[off:off + length]))
        off += length
    return msgs

# ------------------------------------------------------------------ decoding

AFI = {1: "ipv4", 2: "ipv6"}
SAFI = {1: "unicast", 2: "multicast"}
CAP_NAMES = {
    1: "multiprotocol", 2: "route-refresh", 3: "orf", 5: "extended-nexthop",
    6: "extended-message", 9: "role", 64: "graceful-restart", 65: "4-octet-as",
    66: "dynamic-capability(old)", 67: "dynamic-capability", 69: "add-path",
    70: "enhanced-route-refresh", 71: "long-lived-graceful-restart", 73: "fqdn",
    74: "software-version", 128: "route-refresh(old-cisco)", 130: "orf(old-cisco)",
}
ATTR_NAMES = {
    1: "ORIGIN", 2: "AS_PATH", 3: "NEXT_HOP", 4: "MULTI_EXIT_DISC", 5: "LOCAL_PREF",
    6: "ATOMIC_AGGREGATE", 7: "AGGREGATOR", 8: "COMMUNITIES", 9: "ORIGINATOR_ID",
    10: "CLUSTER_LIST", 14: "MP_REACH_NLRI", 15: "MP_UNREACH_NLRI",
    16: "EXTENDED_COMMUNITIES", 17: "AS4_PATH", 18: "AS4_AGGREGATOR", 26: "AIGP",
    32: "LARGE_COMMUNITY", 35: "OTC",
}
ATTR_SLUG = {
    4: "med", 5: "lp", 6: "atomic", 7: "aggr", 8: "comm", 9: "rr", 10: "rr",
    16: "ecomm", 17: "as4path", 18: "as4aggr", 26: "aigp", 32: "lcomm", 35: "otc",
}
NOTIF = {
    (1, 0): "header-error", (1, 1): "header-conn-not-synced", (1, 2): "header-bad-length",
    (1, 3): "header-bad-type", (2, 0): "open-error", (2, 1): "open-bad-version",
    (2, 2): "open-bad-peer-as", (2, 3): "open-bad-bgp-id", (2, 4): "open-unsupported-param",
    (2, 6): "open-unacceptable-hold", (2, 7): "open-unsupported-capability",
    (2, 11): "open-role-mismatch", (3, 0): "update-error", (4, 0): "hold-timer-expired",
    (5, 0): "fsm-error", (6, 0): "cease", (6, 1): "cease-max-prefixes",
    (6, 2): "cease-admin-shutdown", (6, 3): "cease-peer-deconfigured",
    (6, 4): "cease-admin-reset", (6, 5): "cease-connection-rejected",
    (6, 6): "cease-config-change", (6, 7): "cease-collision", (6, 8): "cease-out-of-resources",
    (6, 9): "cease-hard-reset", (6, 10): "cease-bfd-down",
}
RR_SUB = {0: "", 1: "-borr", 2: "-eorr"}


def parse_caps(body):
    """OPEN body (after the 19-byte header) -> dict with as, hold, id, caps list."""
    ver, my_as, hold = struct.unpack(">BHH", body[:5])
    bgp_id = str(ipaddress.ip_address(body[5:9]))
    optlen = body[9]
    p = 10
    ext = False
    if optlen == 255 and len(body) > 10 and body[10] == 255:  # RFC 9072
        ext = True
        optlen = struct.unpack(">H", body[11:13])[0]
        p = 13
    end = p + optlen
    caps = []
    while p < end:
        if ext:
            ptype = body[p]
            plen = struct.unpack(">H", body[p + 1:p + 3])[0]
            p += 3
        else:
            ptype, plen = body[p], body[p + 1]
            p += 2
        pval = body[p:p + plen]
        p += plen
        if ptype != 2:
            caps.append(("param", ptype, pval))
            continue
        q = 0
        while q + 2 <= len(pval):
            code, clen = pval[q], pval[q + 1]
            caps.append((code, pval[q + 2:q + 2 + clen]))
            q += 2 + clen
    return {"version": ver, "my_as": my_as, "hold": hold, "id": bgp_id, "caps": caps,
            "ext_params": ext}


def afs(afi, safi):
    return f"{AFI.get(afi, afi)}-{SAFI.get(safi, safi)}"


def cap_str(code, val):
    name = CAP_NAMES.get(code, f"cap{code}")
    try:
        if code == 1:
            afi, _r, safi = struct.unpack(">HBB", val)
            return f"{name}({afs(afi, safi)})"
        if code == 65:
            return f"{name}({struct.unpack('>I', val)[0]})"
        if code == 69:
            out = []
            for i in range(0, len(val), 4):
                afi, safi, sr = struct.unpack(">HBB", val[i:i + 4])
                out.append(f"{afs(afi, safi)}:{ {1: 'rx', 2: 'tx', 3: 'rx+tx'}.get(sr, sr)}")
            return f"{name}({','.join(out)})"
        if code == 64:
            fl, = struct.unpack(">H", val[:2])
            s = f"{name}(flags=0x{fl >> 12:x},time={fl & 0xfff}"
            for i in range(2, len(val), 4):
                afi, safi, f2 = struct.unpack(">HBB", val[i:i + 4])
                s += f",{afs(afi, safi)}:f=0x{f2:02x}"
            return s + ")"
        if code == 71:
            out = []
            for i in range(0, len(val), 7):
                afi, safi, f2 = struct.unpack(">HBB", val[i:i + 4])
                t = int.from_bytes(val[i + 4:i + 7], "big")
                out.append(f"{afs(afi, safi)}:f=0x{f2:02x},time={t}")
            return f"{name}({';'.join(out)})"
        if code == 73:
            hl = val[0]
            host = val[1:1 + hl].decode(errors="replace")
            dl = val[1 + hl]
            dom = val[2 + hl:2 + hl + dl].decode(errors="replace")
            return f"{name}(host={host!r},domain={dom!r})"
        if code == 9:
            return f"{name}({ {0: 'provider', 1: 'rs', 2: 'rs-client', 3: 'customer', 4: 'peer'}.get(val[0], val[0])})"
        if code == 5:
            out = []
            for i in range(0, len(val), 6):
                afi, safi, nafi = struct.unpack(">HHH", val[i:i + 6])
                out.append(f"{afs(afi, safi)}/nh-{AFI.get(nafi, nafi)}")
            return f"{name}({','.join(out)})"
    except (struct.error, IndexError):
        pass
    return f"{name}({val.hex()})" if val else name


class Ctx:
    def __init__(self, as4=True, addpath=frozenset(), ibgp=True):
        self.as4 = as4
        self.addpath = addpath  # set of (afi, safi) for which the SENDER sends path ids
        self.ibgp = ibgp


def parse_prefixes(data, afi, addpath):
    out = []
    p = 0
    alen = 4 if afi == 1 else 16
    while p < len(data):
        pid = None
        if addpath:
            pid = struct.unpack(">I", data[p:p + 4])[0]
            p += 4
        plen = data[p]
        p += 1
        nb = (plen + 7) // 8
        raw = data[p:p + nb] + b"\x00" * (alen - nb)
        p += nb
        pfx = f"{ipaddress.ip_address(raw)}/{plen}"
        out.append(pfx if pid is None else f"{pfx}#{pid}")
    return out


def parse_aspath(val, asn_len):
    segs = []
    p = 0
    while p < len(val):
        st, cnt = val[p], val[p + 1]
        p += 2
        fmt = ">H" if asn_len == 2 else ">I"
        asns = [struct.unpack(fmt, val[p + i * asn_len:p + (i + 1) * asn_len])[0] for i in range(cnt)]
        p += cnt * asn_len
        name = {1: "set", 2: "seq", 3: "confed-seq", 4: "confed-set"}.get(st, st)
        segs.append(f"{name}{asns}" if st != 2 else " ".join(map(str, asns)))
    return "[" + " | ".join(segs) + "]"


def ext_comm_str(v):
    t, st = v[0], v[1]
    if t in (0x00, 0x40):
        a, l = struct.unpack(">HI", v[2:])
        kind = {2: "rt", 3: "soo"}.get(st, f"t{t:02x}/{st:02x}")
        return f"{kind}:{a}:{l}"
    if t in (0x01, 0x41):
        ip = ipaddress.ip_address(v[2:6])
        l, = struct.unpack(">H", v[6:])
        kind = {2: "rt", 3: "soo"}.get(st, f"t{t:02x}/{st:02x}")
        return f"{kind}:{ip}:{l}"
    if t in (0x02, 0x42):
        a, l = struct.unpack(">IH", v[2:])
        kind = {2: "rt", 3: "soo"}.get(st, f"t{t:02x}/{st:02x}")
        return f"{kind}:{a}:{l}(as4)"
    return v.hex()


def comm_str(c):
    wk = {0xFFFFFF01: "NO_EXPORT", 0xFFFFFF02: "NO_ADVERTISE", 0xFFFFFF03: "NO_EXPORT_SUBCONFED",
          0xFFFF029A: "BLACKHOLE", 0xFFFF0000: "GRACEFUL_SHUTDOWN", 0xFFFF0006: "LLGR_STALE",
          0xFFFF0007: "NO_LLGR"}
    return wk.get(c, f"{c >> 16}:{c & 0xffff}")


def decode_update(body, ctx):
    """Return (summary lines, feature dict)."""
    lines = []
    feat = {"attrs": [], "v4": 0, "v4wd": 0, "v6": 0, "v6wd": 0, "nhlen": None,
            "extlen_short": [], "extlen": [], "partial": [], "eor": None, "unknown": []}
    wlen = struct.unpack(">H", body[:2])[0]
    withdrawn = body[2:2 + wlen]
    p = 2 + wlen
    alen = struct.unpack(">H", body[p:p + 2])[0]
    attrs = body[p + 2:p + 2 + alen]
    nlri = body[p + 2 + alen:]
    ap4 = (1, 1) in ctx.addpath
    if withdrawn:
        w = parse_prefixes(withdrawn, 1, ap4)
        feat["v4wd"] = len(w)
        lines.append(f"withdrawn routes ({len(w)}): {fmt_list(w)}")
    q = 0
    order = []
    while q < len(attrs):
        fl, code = attrs[q], attrs[q + 1]
        if fl & 0x10:
            ln = struct.unpack(">H", attrs[q + 2:q + 4])[0]
            q += 4
            feat["extlen"].append(code)
            if ln < 256:
                feat["extlen_short"].append(code)
        else:
            ln = attrs[q + 2]
            q += 3
        val = attrs[q:q + ln]
        q += ln
        if fl & 0x20:
            feat["partial"].append(code)
        feat["attrs"].append(code)
        order.append(code)
        name = ATTR_NAMES.get(code, f"ATTR{code}")
        flagstr = f"0x{fl:02x}"
        desc = decode_attr(code, val, ctx, feat)
        if code not in ATTR_NAMES:
            feat["unknown"].append(code)
        lines.append(f"  {name} flags={flagstr} len={ln}: {desc}")
    if nlri:
        n = parse_prefixes(nlri, 1, ap4)
        feat["v4"] = len(n)
        lines.append(f"nlri ({len(n)}): {fmt_list(n)}")
    if not withdrawn and not attrs and not nlri:
        feat["eor"] = "ipv4-unicast"
        lines.append("End-of-RIB ipv4-unicast (empty UPDATE)")
    elif not withdrawn and not nlri and order == [15] and feat["v6wd"] == 0 and feat.get("mpu_empty"):
        feat["eor"] = feat["mpu_empty"]
        lines.append(f"End-of-RIB {feat['mpu_empty']} (MP_UNREACH_NLRI without NLRI)")
    feat["order"] = order
    return lines, feat


def fmt_list(items, k=4):
    if len(items) <= k:
        return ", ".join(items)
    return ", ".join(items[:k]) + f", ... ({len(items) - k} more)"


def decode_attr(code, val, ctx, feat):
    try:
        if code == 1:
            return {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}.get(val[0], str(val[0]))
        if code == 2:
            return parse_aspath(val, 4 if ctx.as4 else 2) + ("" if ctx.as4 else " (2-byte ASNs)")
        if code == 17:
            return parse_aspath(val, 4)
        if code == 3:
            return str(ipaddress.ip_address(val))
        if code in (4, 5):
            return str(struct.unpack(">I", val)[0])
        if code == 6:
            return "(empty)"
        if code in (7, 18):
            if len(val) == 8:
                a, ip = struct.unpack(">I", val[:4])[0], ipaddress.ip_address(val[4:])
            else:
                a, ip = struct.unpack(">H", val[:2])[0], ipaddress.ip_address(val[2:])
            return f"AS {a} id {ip}"
        if code == 8:
            cs = [struct.unpack(">I", val[i:i + 4])[0] for i in range(0, len(val), 4)]
            return f"{len(cs)}: " + fmt_list([comm_str(c) for c in cs], 6)
        if code in (9, 35):
            return str(ipaddress.ip_address(val)) if code == 9 else str(struct.unpack(">I", val)[0])
        if code == 10:
            return ", ".join(str(ipaddress.ip_address(val[i:i + 4])) for i in range(0, len(val), 4))
        if code == 16:
            return ", ".join(ext_comm_str(val[i:i + 8]) for i in range(0, len(val), 8))
        if code == 32:
            ls = [struct.unpack(">III", val[i:i + 12]) for i in range(0, len(val), 12)]
            return ", ".join(f"{a}:{b}:{c}" for a, b, c in ls)
        if code == 26:
            return f"TLVs {val.hex()}"
        if code == 14:
            afi, safi, nhl = struct.unpack(">HBB", val[:4])
            nh = val[4:4 + nhl]
            feat["nhlen"] = nhl
            rest = val[4 + nhl + 1:]
            if afi == 2 and nhl in (16, 32):
                nhs = [str(ipaddress.ip_address(nh[i:i + 16])) for i in range(0, nhl, 16)]
            elif afi == 1 and nhl == 4:
                nhs = [str(ipaddress.ip_address(nh))]
            else:
                nhs = [nh.hex()]
            pf = parse_prefixes(rest, afi, (afi, safi) in ctx.addpath)
            if afi == 2:
                feat["v6"] += len(pf)
            else:
                feat["v4"] += len(pf)
            return f"{afs(afi, safi)} nexthop({nhl}) {' + '.join(nhs)}; nlri ({len(pf)}): {fmt_list(pf)}"
        if code == 15:
            afi, safi = struct.unpack(">HB", val[:3])
            pf = parse_prefixes(val[3:], afi, (afi, safi) in ctx.addpath)
            if not pf:
                feat["mpu_empty"] = afs(afi, safi)
            if afi == 2:
                feat["v6wd"] += len(pf)
            else:
                feat["v4wd"] += len(pf)
            return f"{afs(afi, safi)} withdrawn ({len(pf)}): {fmt_list(pf)}"
    except (struct.error, IndexError, ValueError) as e:
        return f"undecoded ({e}) {val.hex()}"
    return val.hex()


# ------------------------------------------------------------------ per-message analysis

def session_ctx(my_open, peer_open, src, dst):
    """Decode context for messages src -> dst, from both OPEN bodies (may be None)."""
    if my_open is None or peer_open is None:
        return Ctx(as4=True, ibgp=NODES[src][3] == NODES[dst][3]), "OPENs not both seen"
    mine = parse_caps(my_open)
    theirs = parse_caps(peer_open)

    def capset(o, code):
        return [v for c, *rest in o["caps"] if c == code for v in rest]
    as4 = bool(capset(mine, 65)) and bool(capset(theirs, 65))

    def ap(o):
        d = {}
        for v in capset(o, 69):
            for i in range(0, len(v), 4):
                afi, safi, sr = struct.unpack(">HBB", v[i:i + 4])
                d[(afi, safi)] = sr
        return d
    a_m, a_t = ap(mine), ap(theirs)
    addpath = frozenset(k for k, sr in a_m.items() if sr & 2 and a_t.get(k, 0) & 1)
    ext = bool(capset(mine, 6)) and bool(capset(theirs, 6))
    ibgp = NODES[src][3] == NODES[dst][3]
    fams = []
    for o in (mine, theirs):
        fams.append({struct.unpack(">HBB", v)[0::2] for v in capset(o, 1)})
    common = sorted(fams[0] & fams[1])
    desc = (f"{'iBGP' if ibgp else 'eBGP'}; negotiated: families "
            f"{','.join(afs(*f) for f in common) or 'none (ipv4-unicast implied)'}; "
            f"4-octet-as {'yes' if as4 else 'NO (2-byte AS_PATH)'}; "
            f"add-path sent by this side for {','.join(afs(*f) for f in sorted(addpath)) or 'none'}; "
            f"extended-message {'yes' if ext else 'no'}")
    return Ctx(as4=as4, addpath=addpath, ibgp=ibgp), desc


def analyse(src, dst, transport, msg, ctx, ctxdesc):
    mtype = msg[18]
    body = msg[19:]
    tag = f"{src}-{dst}"
    head = f"{src} ({NODES[src][1]}) -> {dst} ({NODES[dst][1]}) over {transport}"
    lines = []
    if mtype == 1:
        o = parse_caps(body)
        lines.append(f"OPEN version {o['version']} my-as {o['my_as']} hold {o['hold']} id {o['id']}"
                     + (" (RFC 9072 extended optional parameters)" if o["ext_params"] else ""))
        caps = [cap_str(c, v[0]) if c != "param" else f"param{v[0]}" for c, *v in o["caps"]]
        lines.append("capabilities: " + ", ".join(caps))
        sig = ("open", tuple(sorted(str(c) for c, *_ in o["caps"])), o["my_as"] == 23456,
               tuple(sorted(cap_str(c, v[0]) for c, *v in o["caps"] if c in (1, 69))))
        label = f"open-{tag}"
        return label, sig, head, lines, {"kind": "open", "caps": o["caps"]}
    if mtype == 4:
        return "keepalive", ("keepalive",), head, ["KEEPALIVE"], {"kind": "keepalive"}
    if mtype == 3:
        code, sub = body[0], body[1]
        data = body[2:]
        name = NOTIF.get((code, sub), f"notification-{code}-{sub}")
        s = f"NOTIFICATION code {code} subcode {sub} ({name}) data {len(data)} bytes"
        if code == 6 and sub in (2, 4) and data:
            ln = data[0]
            s += f": shutdown communication len {ln} {data[1:1 + ln].decode(errors='replace')!r}"
        elif data:
            s += f": {data.hex()}"
        return f"notification-{tag}-{name}", ("notif", code, sub, bool(data)), head, [s], {"kind": "notification"}
    if mtype == 5:
        afi, sub, safi = struct.unpack(">HBB", body[:4])
        kind = {0: "ROUTE-REFRESH", 1: "ROUTE-REFRESH BoRR (enhanced)", 2: "ROUTE-REFRESH EoRR (enhanced)"}.get(sub, f"ROUTE-REFRESH subtype {sub}")
        fam = {1: "v4", 2: "v6"}.get(afi, str(afi))
        return (f"route-refresh-{tag}-{fam}{RR_SUB.get(sub, f'-sub{sub}')}", ("rr", sub, afi),
                head, [f"{kind} {afs(afi, safi)}"], {"kind": "route-refresh"})
    if mtype == 2:
        ulines, f = decode_update(body, ctx)
        lines = ["UPDATE"] + ulines
        if f["eor"]:
            fam = "v4" if f["eor"].startswith("ipv4") else "v6"
            return f"eor-{fam}-{tag}", ("eor", fam), head, lines, {"kind": "eor"}
        parts = []
        if f["v4"] or f["v4wd"]:
            parts.append("v4")
        if f["v6"] or f["v6wd"]:
            parts.append("v6")
        if f["v4wd"] or f["v6wd"]:
            parts.append("withdraw")
        if f["v4"] or f["v6"]:
            if f["v6"]:
                parts.append("mp-reach" + ("-ll" if f["nhlen"] == 32 else ""))
        if ctx.addpath & ({(1, 1)} if f["v4"] or f["v4wd"] else set()) or \
           ctx.addpath & ({(2, 1)} if f["v6"] or f["v6wd"] else set()):
            parts.append("addpath")
        if not ctx.as4:
            parts.append("as2")
        slugs = []
        for c in f["attrs"]:
            s = ATTR_SLUG.get(c)
            if s and s not in slugs:
                slugs.append(s)
        if f["unknown"]:
            slugs.append("unknown-attr")
        parts += slugs
        n = f["v4"] + f["v6"] + f["v4wd"] + f["v6wd"]
        if n > 1:
            parts.append(f"{n}pfx")
        if f["extlen"]:
            parts.append("extlen")
        if f["partial"]:
            parts.append("partial")
        label = f"update-{tag}-" + "-".join(parts)
        sig = ("update", tuple(sorted(set(f["attrs"]))), bool(f["v4"]), bool(f["v4wd"]), bool(f["v6"]),
               bool(f["v6wd"]), f["nhlen"], n > 1, bool(ctx.addpath), ctx.as4, ctx.ibgp,
               bool(f["extlen"]), tuple(f["partial"]))
        return label, sig, head, lines, {"kind": "update", "feat": f}
    return f"type{mtype}-{tag}", ("other", mtype), head, [f"message type {mtype}"], {"kind": "other"}


# ------------------------------------------------------------------ selection

def features(msg, info, ctx):
    """What a vector exercises, for the greedy selection (each feature wants one vector)."""
    k = info["kind"]
    fs = {f"kind:{k}"}
    body = msg[19:]
    if len(msg) > 4096:
        fs.add("size:>4096 (extended message)")
    elif len(msg) > 4000:
        fs.add("size:4001..4096")
    if k == "open":
        o = parse_caps(body)
        if o["my_as"] == 23456:
            fs.add("open:my-as-trans")
        fs.add(f"open:hold:{o['hold']}")
        codes = [c for c, *_ in o["caps"]]
        if 65 not in codes:
            fs.add("open:no-as4")
        if 1 not in codes:
            fs.add("open:no-mp")
        for c, *v in o["caps"]:
            fs.add(f"cap:{c}")
            if c in (1, 69, 64, 71, 9, 5):
                fs.add("cap:" + cap_str(c, v[0]))
        fs.add("open:ncaps:" + str(len(codes)))
    elif k == "update":
        f = info["feat"]
        for c in f["attrs"]:
            fs.add(f"attr:{c}")
        q = body
        # flags per attribute code
        wlen = struct.unpack(">H", q[:2])[0]
        alen = struct.unpack(">H", q[2 + wlen:4 + wlen])[0]
        attrs = q[4 + wlen:4 + wlen + alen]
        i = 0
        while i < len(attrs):
            fl, code = attrs[i], attrs[i + 1]
            ln = struct.unpack(">H", attrs[i + 2:i + 4])[0] if fl & 0x10 else attrs[i + 2]
            fs.add(f"flags:{code}:{fl:02x}")
            if code in (7, 18):
                fs.add(f"aggr-len:{code}:{ln}")
            if code == 2 and ln == 0:
                fs.add("aspath:empty")
            i += (4 if fl & 0x10 else 3) + ln
        for fam in ("v4", "v6"):
            if f[fam]:
                fs.add(f"nlri:{fam}")
                if f[fam] > 1:
                    fs.add(f"nlri:{fam}:multi")
            if f[fam + "wd"]:
                fs.add(f"wd:{fam}")
                if f[fam + "wd"] > 1:
                    fs.add(f"wd:{fam}:multi")
        if (f["v4"] or f["v6"]) and (f["v4wd"] or f["v6wd"]):
            fs.add("announce+withdraw")
        if f["nhlen"]:
            fs.add(f"mp-nh-len:{f['nhlen']}")
        for af, fam in (((1, 1), "v4"), ((2, 1), "v6")):
            if af in ctx.addpath and (f[fam] or f[fam + "wd"]):
                fs.add(f"addpath:{fam}" + (":wd" if f[fam + "wd"] else ""))
        if not ctx.as4:
            fs.add("as2-session")
        fs.add("ibgp" if ctx.ibgp else "ebgp")
        for c in f["partial"]:
            fs.add(f"partial:{c}")
    elif k == "eor":
        fs.add("eor:" + ("v4" if msg[18] == 2 and len(body) == 4 else "v6"))
    elif k == "route-refresh":
        afi, sub, safi = struct.unpack(">HBB", body[:4])
        fs.add(f"rr:{afi}:{sub}")
    elif k == "notification":
        fs.add(f"notif:{body[0]}:{body[1]}")
        if len(body) > 2:
            fs.add(f"notif-data:{body[0]}:{body[1]}")
    return fs


def select(cands, limit):
    """Greedy cover of the features, then fill up with unseen (kind, session) pairs."""
    covered = set()
    chosen = []
    rest = list(cands)
    while rest and len(chosen) < limit:
        best = max(rest, key=lambda c: (len(c["fs"] - covered), -c["ts"]))
        if not best["fs"] - covered:
            break
        covered |= best["fs"]
        chosen.append(best)
        rest.remove(best)
    missed = set().union(*(c["fs"] for c in rest)) - covered if rest else set()
    # Fill up: first one of each (kind, sender, receiver), then one of each label.
    for keyf in (lambda c: (c["kind"], c["src"], c["dst"]), lambda c: c["label"]):
        seen = {keyf(c) for c in chosen}
        for c in list(rest):
            if len(chosen) >= limit:
                break
            if keyf(c) not in seen:
                seen.add(keyf(c))
                chosen.append(c)
                rest.remove(c)
    return chosen, missed


# ------------------------------------------------------------------ main

KIND_ORDER = {"open": 0, "keepalive": 1, "update": 2, "eor": 3, "route-refresh": 4,
              "notification": 5, "other": 6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--versions")
    ap.add_argument("--max", type=int, default=40)
    ap.add_argument("--headers", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "headers"))
    args = ap.parse_args()

    flows = {}
    for path in sorted(glob.glob(os.path.join(args.pcap_dir, "*.pcap"))):
        for ts, src, sport, dst, dport, seq, flags, payload in read_pcap(path):
            flows.setdefault((src, sport, dst, dport), []).append((ts, seq, flags, payload))

    # Split each 4-tuple into connections at each new SYN (ports get reused by reconnects).
    conns = {}  # 4-tuple -> list of (start_ts, messages)
    for key, segs in flows.items():
        segs.sort(key=lambda s: s[0])
        groups = []
        isn = None
        for sg in segs:
            if sg[2] & 0x02 and sg[1] != isn:
                isn = sg[1]
                groups.append([])
            if not groups:
                groups.append([])
            groups[-1].append(sg)
        conns[key] = []
        for g in groups:
            data, starts = reassemble(g)
            conns[key].append((g[0][0], split_bgp(data, starts)))

    def reverse_conn(key, start):
        """The other direction of the connection that started at `start`."""
        src, sport, dst, dport = key
        cands = conns.get((dst, dport, src, sport), [])
        best = None
        for st, msgs in cands:
            if abs(st - start) < 2.0 and (best is None or abs(st - start) < abs(best[0] - start)):
                best = (st, msgs)
        return best[1] if best else []

    all_msgs = []  # (ts, impl, src, dst, transport, msg, ctx, ctxdesc)
    for key, clist in conns.items():
        src, sport, dst, dport = key
        sn, dn = ADDR2NODE.get(src), ADDR2NODE.get(dst)
        if sn is None or dn is None:
            print(f"warning: unknown address in flow {src} -> {dst}", file=sys.stderr)
            continue
        for start, msgs in clist:
            if not msgs:
                continue
            rev = reverse_conn(key, start)
            my_open = next((m[19:] for _, m in msgs if m[18] == 1), None)
            peer_open = next((m[19:] for _, m in rev if m[18] == 1), None)
            ctx, ctxdesc = session_ctx(my_open, peer_open, sn, dn)
            transport = f"TCP/IPv{src.version} {src}:{sport} -> {dst}:{dport}"
            for ts, m in msgs:
                all_msgs.append((ts, NODES[sn][0], sn, dn, transport, m, ctx, ctxdesc))
    all_msgs.sort(key=lambda x: x[0])

    versions = open(args.versions).read().strip().splitlines() if args.versions and os.path.exists(args.versions) else []
    os.makedirs(args.out, exist_ok=True)
    totals = {}
    index = {}
    for impl in IMPLS:
        seen_hex = set()
        cands = []
        count = 0
        for ts, im, sn, dn, transport, m, ctx, ctxdesc in all_msgs:
            if im != impl:
                continue
            count += 1
            if m in seen_hex:
                continue
            seen_hex.add(m)
            label, sig, head, lines, info = analyse(sn, dn, transport, m, ctx, ctxdesc)
            fs = features(m, info, ctx)
            if impl == "bird2":  # three BIRD 2 instances with different roles: cover each one
                fs |= {f"{sn}:{f}" for f in fs if f.startswith(("attr:", "kind:"))}
            cands.append({"ts": ts, "label": label, "head": head, "ctxdesc": ctxdesc, "lines": lines,
                          "msg": m, "kind": info["kind"], "src": sn, "dst": dn, "fs": fs})
        picked, missed = select(cands, args.max)
        if missed:
            print(f"note: {impl}: features not covered within {args.max} vectors: {sorted(missed)}",
                  file=sys.stderr)
        picked.sort(key=lambda c: (KIND_ORDER[c["kind"]], c["ts"]))
        totals[impl] = (count, len(cands), len(picked))
        if not picked:
            print(f"warning: no messages from {impl}", file=sys.stderr)
            continue
        write_file(args, impl, picked, versions, count, len(cands))
        index[impl] = picked
    write_index(args, index, totals)
    for impl, (n, d, k) in totals.items():
        print(f"{impl}: {n} messages captured, {d} distinct, {k} vectors written")


def write_file(args, impl, picked, versions, count, distinct):
    header = []
    for name in (f"{impl}.txt", "common.txt"):
        path = os.path.join(args.headers, name)
        if os.path.exists(path):
            header += open(path).read().rstrip("\n").splitlines() + [""]
    used = {}
    with open(os.path.join(args.out, f"{impl}.txt"), "w") as f:
        for line in header:
            f.write(("# " + line if line else "#").rstrip() + "\n")
        f.write("#\n# Versions (as run): " + "; ".join(versions) + "\n")
        f.write(f"# {count} messages from {impl} were captured, {distinct} distinct; {len(picked)} are kept below,\n"
                "# chosen to cover the most message kinds, capabilities, attributes and flag forms.\n")
        f.write("# Format: '<label> <hex>', hex = the whole BGP message (16-byte marker, length, type, body).\n")
        f.write("# The comment block above each vector gives the session, the decode context negotiated from\n")
        f.write("# both OPENs (4-octet AS, ADD-PATH per family and direction), and a decoded summary.\n")
        for c in picked:
            label, head, ctxdesc, lines, m = c["label"], c["head"], c["ctxdesc"], c["lines"], c["msg"]
            n = used.get(label, 0)
            used[label] = n + 1
            if n:
                label = f"{label}-{n + 1}"
            c["label_final"] = label
            f.write("\n")
            f.write(f"# {head}\n")
            if lines[0] not in ("KEEPALIVE",):
                f.write(f"# session: {ctxdesc}\n")
            for ln in lines:
                f.write(f"#   {ln}\n")
            f.write(f"{label} {m.hex()}\n")


def short_summary(c):
    """One line for INDEX.md."""
    lines = c["lines"]
    kind = c["kind"]
    m = c["msg"]
    if kind == "open":
        return lines[1].replace("capabilities: ", "caps: ") + "; " + lines[0].split(" id ")[0].replace("OPEN version 4 ", "")
    if kind in ("update", "eor"):
        attrs = [ln.strip().split(" len=")[0].replace(" flags=", "/") for ln in lines[1:] if ln.startswith("  ")]
        rest = [ln.split(":")[0] for ln in lines[1:] if not ln.startswith("  ")]
        return ", ".join(attrs + rest) + f"; {len(m)} bytes"
    return lines[0]


def write_index(args, index, totals):
    notes_path = os.path.join(args.headers, "index-notes.md")
    notes = open(notes_path).read().rstrip("\n") + "\n" if os.path.exists(notes_path) else ""
    out = ["# Captured BGP test vectors: index", "",
           "Generated by `bgpd/tests/vectors/capture/extract.py` (do not edit the generated part by hand;",
           "the notes at the end come from `capture/headers/index-notes.md`). Each `<impl>.txt` holds",
           "`<label> <hex>` lines, the hex being a whole BGP message including the 16-byte marker; the",
           "comments above each line give the session, the negotiated decode context (4-octet AS,",
           "ADD-PATH per family and direction) and a decoded summary. Labels are",
           "`<kind>-<sender>-<receiver>-<features>` with nodes b2/e4/e2 (BIRD 2), gb (GoBGP), frr (FRR),",
           "b16 (BIRD 1.6); feature slugs: v4/v6 (family), mp-reach(-ll: 32-byte next hop with link-local),",
           "withdraw, addpath (NLRI carry 4-byte path ids), as2 (no 4-octet AS: 2-byte AS_PATH),",
           "med, lp, comm, ecomm, lcomm, atomic, aggr, as4path, as4aggr, rr (ORIGINATOR_ID/CLUSTER_LIST),",
           "otc, aigp, Npfx (prefix count), extlen (some attribute uses the Extended Length flag).", ""]
    for impl in IMPLS:
        picked = index.get(impl, [])
        n, d, k = totals.get(impl, (0, 0, 0))
        out.append(f"## {impl}.txt ({k} vectors; {n} messages captured, {d} distinct)")
        out.append("")
        caps, attrs, flags, notifs, rrs, misc = set(), set(), set(), set(), set(), set()
        for c in picked:
            for f in c["fs"]:
                if f.startswith("cap:") and not f[4:].isdigit():
                    caps.add(f[4:])
                elif f.startswith("attr:"):
                    attrs.add(ATTR_NAMES.get(int(f[5:]), "ATTR" + f[5:]))
                elif f.startswith("flags:"):
                    _, code, fl = f.split(":")
                    flags.add(f"{ATTR_NAMES.get(int(code), code)}=0x{fl}")
                elif f.startswith("notif:"):
                    a, b = map(int, f[6:].split(":"))
                    notifs.add(f"{a}/{b} {NOTIF.get((a, b), '')}")
                elif f.startswith("rr:"):
                    a, b = map(int, f[3:].split(":"))
                    rrs.add(f"{AFI.get(a, a)} {['normal', 'BoRR', 'EoRR'][b] if b < 3 else b}")
                elif f.split(":")[0] in ("addpath", "as2-session", "mp-nh-len", "size", "open", "eor",
                                         "aspath", "announce+withdraw", "partial", "aggr-len"):
                    misc.add(f)
        out.append(f"- capabilities in OPENs: {', '.join(sorted(caps)) or '-'}")
        out.append(f"- path attributes: {', '.join(sorted(attrs)) or '-'}")
        out.append(f"- attribute flag bytes seen: {', '.join(sorted(flags)) or '-'}")
        out.append(f"- NOTIFICATIONs: {', '.join(sorted(notifs)) or '-'}")
        out.append(f"- ROUTE-REFRESH: {', '.join(sorted(rrs)) or '-'}")
        out.append(f"- other: {', '.join(sorted(misc)) or '-'}")
        out.append("")
        out.append("| label | content |")
        out.append("|---|---|")
        for c in picked:
            out.append(f"| `{c['label_final']}` | {short_summary(c).replace('|', '/')} |")
        out.append("")
    with open(os.path.join(args.out, "INDEX.md"), "w") as f:
        f.write("\n".join(out) + "\n" + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
