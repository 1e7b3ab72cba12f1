#!/usr/bin/env bash
# Install snncompile and everything its tests and examples need into the current Python.
# torch is pinned (constraints.txt) so no dependency can pull a newer, CUDA-sized build.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check -c constraints.txt"
$PIP torch==2.13.0
$PIP -e ".[test,lava]"
# mypy (in the test extra too): `make lint` type-checks snncompile/ir, passes and target.py
$PIP mypy==2.4.1
# Lava: lava-nc 0.10.0 is the only release on PyPI; it declares Python < 3.11 and pins numpy < 2,
# yet runs on 3.11 with numpy 2 once snncompile/lava_compat.py's import hook fixes its one 3.11
# incompatibility (no site-packages edits). lava-dl 0.6.0 is only used for its netx reader, in
# tests that prove our netx files read back. --no-deps keeps pip from pulling old torch builds.
$PIP --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0
# NeuroBench 2.3.0 (tests cross-check our synaptic-operation counts with it): --no-deps, since it
# pins other torch/numpy versions; tqdm is the one extra module it imports on the path we use.
$PIP --no-deps neurobench==2.3.0
$PIP tqdm
# nengo-loihi 1.1.0 (tests compare the Loihi-1-like target's shared conv weight lists with its
# conv2d_loihi_weights and Synapse.bits): pure Python; it warns that nengo 4.1.0 is newer than
# it was tested with, which the two functions the tests call do not depend on.
$PIP nengo==4.1.0 nengo-loihi==1.1.0
# SpikingJelly 2.0.0 and Norse 1.1.0, whose modules the torch front end reads: --no-deps, since
# Norse would pull torchvision (which does not work here); loguru is SpikingJelly's one extra need.
$PIP --no-deps spikingjelly==2.0.0 norse==1.1.0 loguru
