#!/usr/bin/env bash
# Install snncompile and everything its tests and examples need into the current Python.
# torch is pinned (constraints.txt) so no dependency can pull a newer, CUDA-sized build.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check -c constraints.txt"
$PIP torch==2.13.0
$PIP -e ".[test]"
