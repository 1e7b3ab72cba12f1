#!/usr/bin/env bash
# Install the Debian packages the fpga back end and the report tests use: Icarus Verilog, Verilator
# (needs g++ and make), yosys, chromium (headless, to render the HTML report in a test) and
# espeak-ng (scripts/make_gsc_speech.py speaks the keywords committed in tests/data/gsc-espeak).
# Skips what is already installed; uses sudo when not root.
set -euo pipefail
missing=()
for tool in iverilog verilator yosys chromium espeak-ng; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-system: need root or sudo to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "setup-system: installing ${missing[*]} (apt-get)"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
