#!/usr/bin/env bash
# Set up a fresh Debian 12 host and run Sonde on its built-in default configuration:
# a live stream of the host's TCP flows on the terminal. Arguments go to `sonde`
# (e.g. `--config config/examples/otlp-grpc.yaml`). Needs root: it loads BPF.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "sonde loads BPF programs: run this as root (sudo $0)" >&2
  exit 1
fi
need=(clang libelf-dev zlib1g-dev pkg-config make)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing build dependencies: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release --locked -p sonde-collector --bin sonde
exec target/release/sonde "$@"
