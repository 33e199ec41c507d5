#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, then the format
# check, clippy with warnings denied, and every test of the workspace. It ends
# with one line totalling every test binary's results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Network namespaces need root: become it through sudo when not already.
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"; fi

bash scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# Each test binary prints "test result: ok. P passed; F failed; I ignored; ...".
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
