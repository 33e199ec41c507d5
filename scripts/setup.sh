#!/usr/bin/env bash
# scripts/setup.sh - install what podroute's build and tests need on Debian 12.
#
# The one install script: README commands and .ci/run call it. Run it as root:
#     bash scripts/setup.sh
# - Idempotent: when everything is present it prints nothing and exits 0 at once
#   (one dpkg-query per package, no apt-get at all).
# - Otherwise it runs `apt-get update` once and installs only the missing packages
#   with --no-install-recommends, non-interactively (works with no tty / no stdin).
# - BIRD 1.6 (Debian package `bird`) conflicts with `bird2`, so it is not installed:
#   it is downloaded and unpacked into $REPO/.cache/bird16/root; run it as
#   $REPO/.cache/bird16/root/usr/sbin/bird (and birdc, bird6, birdc6 beside it).
# - kubernetes-validate (PyPI), which carries the Kubernetes schemas the tests
#   check deploy/ against offline, goes into a virtualenv at $REPO/.cache/venv.
# - Packaged services are never started: none of the tests use them. If the host
#   has no /usr/sbin/policy-rc.d, a temporary one (exit 101) is put in place for
#   the install and removed afterwards; on a systemd host the units of the
#   packages it installed are also disabled.
# - On failure it prints one line naming what could not be installed, and keeps
#   apt's output in $REPO/.cache/setup.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache"
LOG="$CACHE/setup.log"
BIRD16="$CACHE/bird16"
VENV="$CACHE/venv"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"

PACKAGES=(
  protobuf-compiler   # protoc, for tonic/prost builds
  libprotobuf-dev     # google/protobuf/*.proto well-known types, imported by our .proto files
  etcd-server         # etcd 3.4, the Calico datastore in tests
  etcd-client         # etcdctl
  bird2               # BIRD 2 peer
  gobgpd              # GoBGP peer (gobgpd and the gobgp CLI)
  frr                 # FRR peer (zebra, bgpd, vtysh)
  iproute2            # ip netns / link / route for test topologies
  iputils-ping        # data-plane checks
  tcpdump             # captures (tests/vectors/capture)
  procps              # ps, pgrep, pkill
  openssl             # test certificates for etcd over TLS
  python3             # helper scripts
  python3-venv        # .cache/venv for kubernetes-validate
  make                # builds jemalloc, bgpd's allocator (tikv-jemalloc-sys)
  podman              # runs bgpd's image in tests (scripts/image.sh builds it)
  runc                # podman's runtime here (crun refuses this kernel's hybrid cgroups)
  debootstrap         # the image's Debian 12 base, from Debian's packages (no image registry)
  prometheus          # scrapes bgpd in the sidecar test; promtool checks /metrics
)

die() { echo "setup.sh: error: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  die "must be run as root (it installs Debian packages with apt-get); try: sudo bash $0"
fi
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
  || die "needs a Debian system with apt-get and dpkg-query (Debian 12 expected)"

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}
bird16_ok() {
  "$BIRD16/root/usr/sbin/bird" --version 2>&1 | grep -q '^BIRD version 1\.6\.'
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
need_bird16=0
bird16_ok || need_bird16=1
venv_ok() {
  "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q '^1\.37\.'
}
need_venv=0
venv_ok || need_venv=1

if [ "${#missing[@]}" -eq 0 ] && [ "$need_bird16" -eq 0 ] && [ "$need_venv" -eq 0 ]; then
  exit 0
fi

mkdir -p "$CACHE"
: >"$LOG"
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -y -o DPkg::Lock::Timeout=300
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Never start packaged services during the install.
created_policy=0
tmpdir=""
cleanup() {
  if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ -n "$tmpdir" ]; then rm -rf "$tmpdir"; fi
}
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary, from podroute scripts/setup.sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi

update_failed=""
echo "setup.sh: apt-get update" >>"$LOG"
if ! apt-get "${APT_OPTS[@]}" update </dev/null >>"$LOG" 2>&1; then
  update_failed=" (apt-get update failed too)"
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  echo "setup.sh: apt-get install ${missing[*]}" >>"$LOG"
  rc=0
  apt-get "${APT_OPTS[@]}" install --no-install-recommends "${missing[@]}" </dev/null >>"$LOG" 2>&1 || rc=$?
  still=()
  for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
  if [ "$rc" -ne 0 ] || [ "${#still[@]}" -gt 0 ]; then
    [ "${#still[@]}" -gt 0 ] || still=("${missing[@]}")
    die "could not install ${still[*]}: apt-get install exited $rc${update_failed}; see $LOG"
  fi
  # On a systemd host, keep the new packages' services off (they are never used).
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    units=()
    for p in "${missing[@]}"; do
      case "$p" in
        bird2) units+=(bird.service) ;;
        frr) units+=(frr.service) ;;
        gobgpd) units+=(gobgpd.service) ;;
        etcd-server) units+=(etcd.service) ;;
        prometheus) units+=(prometheus.service) ;;
      esac
    done
    if [ "${#units[@]}" -gt 0 ]; then
      systemctl disable --now "${units[@]}" >>"$LOG" 2>&1 || true
    fi
  fi
fi

if [ "$need_bird16" -eq 1 ]; then
  echo "setup.sh: unpacking BIRD 1.6 into $BIRD16/root"
  tmpdir="$(mktemp -d)"
  chmod 755 "$tmpdir"
  chown _apt "$tmpdir" 2>/dev/null || true  # let apt's sandbox user write the download
  echo "setup.sh: apt-get download bird" >>"$LOG"
  (cd "$tmpdir" && apt-get -q -o DPkg::Lock::Timeout=300 download bird </dev/null) >>"$LOG" 2>&1 \
    || die "could not download BIRD 1.6 (apt-get download bird failed${update_failed}); see $LOG"
  deb="$(ls "$tmpdir"/bird_*.deb 2>/dev/null | head -n1)"
  [ -n "$deb" ] || die "could not download BIRD 1.6 (no bird_*.deb after apt-get download); see $LOG"
  rm -rf "$BIRD16/root"
  mkdir -p "$BIRD16"
  dpkg-deb -x "$deb" "$BIRD16/root" >>"$LOG" 2>&1 \
    || die "could not unpack BIRD 1.6 ($deb) into $BIRD16/root; see $LOG"
  bird16_ok || die "BIRD 1.6 unpacked into $BIRD16/root but '$BIRD16/root/usr/sbin/bird --version' does not print 1.6.x; see $LOG"
fi

if [ "$need_venv" -eq 1 ]; then
  echo "setup.sh: installing $KUBERNETES_VALIDATE into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >>"$LOG" 2>&1 || die "could not create the virtualenv $VENV; see $LOG"
  "$VENV/bin/pip" install -q "$KUBERNETES_VALIDATE" </dev/null >>"$LOG" 2>&1 \
    || die "could not install $KUBERNETES_VALIDATE from PyPI; see $LOG"
  venv_ok || die "$VENV/bin/kubernetes-validate does not run; see $LOG"
fi
