#!/usr/bin/env bash
# Install what `make demo` needs into the current Python (create and activate a virtual environment
# first, see the README): snncompile with the [lava] extra, and Lava itself.
# torch is pinned (constraints.txt) so no dependency can pull a newer, CUDA-sized build.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check -c constraints.txt"
$PIP torch==2.13.0
$PIP -e ".[lava]"
# Lava: lava-nc 0.10.0 is the only release on PyPI; it declares Python < 3.11 and pins numpy < 2,
# yet runs on 3.11 with numpy 2 once snncompile/lava_compat.py's import hook fixes its three 3.11 /
# numpy 2 incompatibilities (no site-packages edits). --no-deps: the [lava] extra above brought
# its runtime needs, and pip must not pull old numpy or torch builds for it.
$PIP --no-deps --ignore-requires-python lava-nc==0.10.0
