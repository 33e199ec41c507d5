#!/usr/bin/env bash
# Capture real BGP messages from BIRD 2, GoBGP, FRR and BIRD 1.6 for the codec test vectors.
#
#   bash bgpd/tests/vectors/capture/run.sh            # lab, scenario, capture, extract
#   KEEP=1 bash .../run.sh                            # leave the lab running at the end (debug)
#
# Needs root and the packages from scripts/setup.sh (which also unpacks BIRD 1.6 into
# .cache/bird16). Everything runs inside network namespaces named pcap-*; nothing is
# configured in the root namespace. Work files (rendered configs, logs, sockets, pcaps)
# go to $RUN (default .cache/capture, gitignored). At the end, extract.py turns the
# pcaps into bgpd/tests/vectors/captured/*.txt.
#
# Topology: namespace pcap-br holds bridge br0; each speaker namespace has eth0 on it.
#   pcap-b2   10.211.0.1 fd00:211::1  BIRD 2    AS 64512       core, RR (cluster 10.211.0.1)
#   pcap-gb   10.211.0.2 fd00:211::2  GoBGP     AS 64512       core, RR for b16 only
#   pcap-frr  10.211.0.3 fd00:211::3  FRR       AS 64512       core, RR (cluster 10.211.0.3)
#   pcap-b16  10.211.0.4 fd00:211::4  BIRD 1.6  AS 64512       core (IPv4 only)
#   pcap-e4   10.211.0.5 fd00:211::5  BIRD 2    AS 4200000001  eBGP edge, 4-byte AS
#   pcap-e2   10.211.0.6 fd00:211::6  BIRD 2    AS 65010       eBGP edge, `enable as4 off`
# eth0 of host N has MAC 02:11:00:00:00:0N, so its link-local address is fe80::11:ff:fe00:N.
# tcpdump runs in pcap-br on all bridge ports (-i any -Q in) and writes pcap/all.pcap;
# the sender of each segment is known from its source address.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../../.." && pwd)"
RUN="${RUN:-$REPO/.cache/capture}"
OUT="${OUT:-$REPO/bgpd/tests/vectors/captured}"
B16="$REPO/.cache/bird16/root/usr/sbin"
NODES=(b2 gb frr b16 e4 e2)          # node i+1 has 10.211.0.(i+1)

[ "$(id -u)" -eq 0 ] || { echo "run.sh: must run as root (network namespaces)" >&2; exit 1; }
for b in bird birdc gobgpd gobgp tcpdump vtysh /usr/lib/frr/bgpd /usr/lib/frr/zebra "$B16/bird"; do
  command -v "$b" >/dev/null 2>&1 || { echo "run.sh: missing $b: run scripts/setup.sh first" >&2; exit 1; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
nsx() { local n=$1; shift; ip netns exec "pcap-$n" "$@"; }
bc() { local n=$1; shift; birdc -s "$RUN/$n/bird.ctl" "$@" >/dev/null; }
bc16() { "$B16/birdc" -s "$RUN/b16/bird.ctl" "$@" >/dev/null; }
gb() { nsx gb gobgp "$@"; }
vt() { vtysh --vty_socket "$RUN/frr" "$@" >/dev/null; }

TCPDUMP_PIDS=()
cleanup() {
  set +e
  if [ -n "${KEEP:-}" ]; then log "KEEP set: lab left running"; return; fi
  for f in "$RUN"/*/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null); [ -n "$p" ] && kill "$p" 2>/dev/null
  done
  sleep 1
  for f in "$RUN"/*/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null); [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    rm -f "$f"
  done
  for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for n in "${NODES[@]}" br; do ip netns del "pcap-$n" 2>/dev/null; done
  true
}
trap cleanup EXIT

# ---------------------------------------------------------------- work dir + configs
rm -rf "$RUN"
mkdir -p "$RUN/pcap"
chmod 755 "$RUN"
for n in "${NODES[@]}"; do mkdir -p "$RUN/$n"; done
render() { sed "s#@RUN@#$RUN#g" "$HERE/conf/$1" > "$2"; }
render b2.conf "$RUN/b2/bird.conf"
for k in $(seq 0 999); do echo "  route 10.110.$((k / 250)).$((k % 250))/32 blackhole;"; done >"$RUN/b2/big4.routes"
render e4.conf "$RUN/e4/bird.conf"
render e2.conf "$RUN/e2/bird.conf"
render b16.conf "$RUN/b16/bird.conf"
render gobgpd.toml "$RUN/gb/gobgpd.toml"
render frr-zebra.conf "$RUN/frr/zebra.conf"
render frr-bgpd.conf "$RUN/frr/bgpd.conf"
{
  echo "bird2: $(bird --version 2>&1 | head -1)"
  echo "bird16: $("$B16/bird" --version 2>&1 | head -1)"
  echo "gobgp: $(gobgpd --version 2>&1 | head -1)"
  echo "frr: $(/usr/lib/frr/bgpd --version 2>&1 | head -1)"
  echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
  echo "kernel: $(uname -r)"
  echo "date: $(date -u +%F)"
} >"$RUN/versions.txt"

# ---------------------------------------------------------------- namespaces
log "lab up"
for n in "${NODES[@]}" br; do
  if ip netns list | grep -qw "pcap-$n"; then echo "run.sh: namespace pcap-$n exists (previous run?)" >&2; exit 1; fi
done
ip netns add pcap-br
ip -n pcap-br link set lo up
nsx br sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n pcap-br link add br0 type bridge
ip -n pcap-br link set br0 up
for i in "${!NODES[@]}"; do
  n=${NODES[$i]}; k=$((i + 1))
  ip netns add "pcap-$n"
  ip -n "pcap-$n" link set lo up
  nsx "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  ip -n pcap-br link add "p$k" type veth peer name eth0 netns "pcap-$n" address "02:11:00:00:00:0$k"
  ip -n pcap-br link set "p$k" master br0 up
  nsx "$n" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  ip -n "pcap-$n" addr add "10.211.0.$k/24" dev eth0
  ip -n "pcap-$n" addr add "fd00:211::$k/64" dev eth0 nodad
  ip -n "pcap-$n" link set eth0 up
done

# ---------------------------------------------------------------- capture
# One tcpdump on all bridge ports, ingress only: every segment is captured once, as it
# leaves its sender. A large buffer and no --immediate-mode: on 2 cores, per-packet wakeups
# made the kernel drop packets in bursts. It is stopped with SIGINT, which flushes the ring.
ip netns exec pcap-br nice -n -10 tcpdump -i any -Q in -U -B 65536 -s 0 -Z root \
  -w "$RUN/pcap/all.pcap" 'tcp port 179' 2>"$RUN/pcap/tcpdump.log" &
TCPDUMP_PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'listening on' "$RUN/pcap/tcpdump.log" && break; sleep 0.05; done
nsx b2 ping -c1 -W1 10.211.0.6 >/dev/null
nsx b2 ping -c1 -W1 fd00:211::6 >/dev/null

# ---------------------------------------------------------------- speakers
log "start gobgpd"
ip netns exec pcap-gb gobgpd -f "$RUN/gb/gobgpd.toml" --api-hosts 127.0.0.1:50051 --pprof-disable -p -l info \
  >"$RUN/gb/gobgpd.log" 2>&1 &
echo $! >"$RUN/gb/gobgpd.pid"
for _ in $(seq 1 100); do gb global >/dev/null 2>&1 && break; sleep 0.1; done
# 20 x /26 with one attribute set (one packed UPDATE), then single routes.
for k in $(seq 0 19); do
  gb global rib add -a ipv4 "10.102.$((k / 4)).$(((k % 4) * 64))/26" origin igp med 20 local-pref 120 \
    community 64512:200,64512:201 large-community 64512:2:1,4200000001:2:2 rt 64512:20 10.211.0.2:21 >/dev/null
done
gb global rib add -a ipv4 10.102.16.0/24 origin egp aspath 65301,65302 community 64512:216 \
  aggregator 4200000002:10.211.0.2 >/dev/null
gb global rib add -a ipv4 10.102.17.0/24 origin incomplete med 0 local-pref 80 aigp metric 7 >/dev/null
gb global rib add -a ipv4 10.102.18.0/24 origin igp community no-export,blackhole,64512:218 >/dev/null
gb global rib add -a ipv4 10.102.9.0/24 origin igp community 64512:299 >/dev/null
gb global rib add -a ipv6 fd00:102::/48 origin igp nexthop fd00:211::2 med 22 community 64512:602 \
  large-community 64512:6:2 >/dev/null
gb global rib add -a ipv6 fd00:102:1::/48 origin igp nexthop fd00:211::2 >/dev/null
gb global rib add -a ipv6 fd00:102:ff::/48 origin igp nexthop fd00:211::2 community 64512:699 >/dev/null

log "start frr, bird16, bird2 x3"
nsx frr /usr/lib/frr/zebra -d -u root -g frrvty -f "$RUN/frr/zebra.conf" -i "$RUN/frr/zebra.pid" \
  -z "$RUN/frr/zserv.api" --vty_socket "$RUN/frr" -P 0 2>>"$RUN/frr/stderr.log"
for _ in $(seq 1 50); do [ -S "$RUN/frr/zserv.api" ] && break; sleep 0.1; done
nsx frr /usr/lib/frr/bgpd -d -u root -g frrvty -f "$RUN/frr/bgpd.conf" -i "$RUN/frr/bgpd.pid" \
  -z "$RUN/frr/zserv.api" --vty_socket "$RUN/frr" -P 0 2>>"$RUN/frr/stderr.log"
nsx b16 "$B16/bird" -c "$RUN/b16/bird.conf" -s "$RUN/b16/bird.ctl" -P "$RUN/b16/bird.pid"
for n in b2 e4 e2; do
  nsx "$n" bird -c "$RUN/$n/bird.conf" -s "$RUN/$n/bird.ctl" -P "$RUN/$n/bird.pid"
done

established() { # node expected-count
  local n=$1 want=$2 c
  if [ "$n" = b16 ]; then c=$("$B16/birdc" -s "$RUN/b16/bird.ctl" show protocols | grep -c Established || true)
  else c=$(birdc -s "$RUN/$n/bird.ctl" show protocols | grep -c Established || true); fi
  [ "$c" -ge "$want" ]
}
wait_up() {
  local t=0
  until established b2 5 && established e4 3 && established e2 3 && established b16 3; do
    t=$((t + 1)); [ "$t" -le 120 ] || { log "sessions did not all come up"; return 1; }
    sleep 0.5
  done
}
wait_up
log "all sessions established"
sleep 6

# ---------------------------------------------------------------- route refresh
log "route refresh"
bc b2 reload in gobgp_s
bc b2 reload in frr_s
bc e4 reload in b2_s
bc e4 reload in frr6_s
bc16 reload in b2_s
gb neighbor 10.211.0.1 softresetin -a ipv4
gb neighbor 10.211.0.3 softresetin -a ipv6
vt -c 'clear bgp ipv4 unicast 10.211.0.1 soft in'
vt -c 'clear bgp ipv6 unicast 10.211.0.2 soft in'
vt -c 'clear bgp ipv6 unicast fd00:211::5 soft in'
sleep 4

# ---------------------------------------------------------------- withdrawals
log "withdrawals"
bc b2 disable wd4
bc b2 disable wd6
bc e4 disable wd4
bc e4 disable wd6
bc16 disable wd
gb global rib del -a ipv4 10.102.9.0/24 >/dev/null
gb global rib del -a ipv6 fd00:102:ff::/48 >/dev/null
vt -c 'conf t' -c 'router bgp 64512' -c 'address-family ipv4 unicast' \
   -c 'no network 10.103.9.0/24' -c 'no network 10.103.10.0/24' \
   -c 'exit-address-family' -c 'address-family ipv6 unicast' -c 'no network fd00:103:ff::/48'
sleep 4

# ---------------------------------------------------------------- notifications
log "notifications"
bc b2 disable frr_s '"b2 maintenance"'
bc16 disable gobgp_s '"bird16 maintenance"'
bc e4 disable gobgp_s '"e4 maintenance"'
gb neighbor 10.211.0.3 reset
gb neighbor 10.211.0.6 shutdown --reason "gobgp maintenance" || true
vt -c 'conf t' -c 'router bgp 64512' -c 'neighbor 10.211.0.4 shutdown message frr maintenance'
vt -c 'clear bgp 10.211.0.6'
bc b2 restart bird16_s
sleep 3
bc b2 enable frr_s
bc16 enable gobgp_s
bc e4 enable gobgp_s
gb neighbor 10.211.0.6 enable || true
vt -c 'conf t' -c 'router bgp 64512' -c 'no neighbor 10.211.0.4 shutdown'
wait_up || true
sleep 4

# ---------------------------------------------------------------- hold timer expiry
log "freeze gobgpd for 12 s (hold time 9 s on its sessions with b2, frr, b16)"
kill -STOP "$(cat "$RUN/gb/gobgpd.pid")"
sleep 12
kill -CONT "$(cat "$RUN/gb/gobgpd.pid")"
sleep 8
for _ in $(seq 1 60); do "$B16/birdc" -s "$RUN/b16/bird.ctl" show protocols gobgp_s | grep -q Established && break; sleep 0.5; done
log "freeze bird16 for 12 s (hold time 9 s on its session with gobgp)"
kill -STOP "$(cat "$RUN/b16/bird.pid")"
sleep 12
kill -CONT "$(cat "$RUN/b16/bird.pid")"
sleep 3

# ---------------------------------------------------------------- shutdown
log "shutdown"
bc e2 down || true
kill "$(cat "$RUN/gb/gobgpd.pid")"
sleep 2
kill "$(cat "$RUN/frr/bgpd.pid")"
sleep 2
for n in b2 e4; do bc "$n" down || true; done
bc16 down || true
sleep 2

for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
TCPDUMP_PIDS=()
log "tcpdump: $(grep -E 'captured|dropped by kernel' "$RUN/pcap/tcpdump.log" | tr '\n' ' ')"
if ! grep -q '^0 packets dropped by kernel' "$RUN/pcap/tcpdump.log"; then
  log "WARNING: tcpdump dropped packets; some TCP streams will be cut short"
fi

log "extract"
python3 "$HERE/extract.py" --pcap-dir "$RUN/pcap" --out "$OUT" --versions "$RUN/versions.txt"
log "done: $OUT"
