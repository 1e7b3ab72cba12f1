#!/usr/bin/env bash
# Install snncompile and everything its tests and examples need into the current Python: the demo's
# set-up, the [test] extra, and the cross-check packages that need --no-deps.
# Every resolved install comes first and every --no-deps install last, so pip's resolver never sees
# a package whose declared pins it cannot meet (it would print ERROR lines about them).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check -c constraints.txt"
$PIP torch==2.13.0
# tqdm: the one extra module NeuroBench imports on the path we use; loguru: SpikingJelly's.
# nengo-loihi 1.1.0 (tests compare the Loihi-1-like target's shared conv weight lists with its
# conv2d_loihi_weights and Synapse.bits): pure Python; it warns that nengo 4.1.0 is newer than
# it was tested with, which the two functions the tests call do not depend on.
# [all] includes the ray extra (ray==2.60.0, ~80 MB: verify/run --ray and its localhost cluster
# test); the constraints file keeps pip from touching torch for it.
$PIP -e ".[all]" tqdm loguru nengo==4.1.0 nengo-loihi==1.1.0
# Lava as in scripts/setup-demo.sh; lava-dl 0.6.0 is only used for its netx reader, in tests that
# prove our netx files read back. NeuroBench 2.3.0 (tests cross-check our synaptic-operation
# counts with it) pins other torch/numpy versions. SpikingJelly 2.0.0 and Norse 1.1.0, whose
# modules the torch front end reads: Norse would pull torchvision (which does not work here).
$PIP --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0 neurobench==2.3.0 \
  spikingjelly==2.0.0 norse==1.1.0
# lava-dl 0.6.0's own netx test networks and expected outputs (PilotNet SDNN, N-TIDIGITS,
# mnist.net): too large to commit, extracted from the wheel into tests/data/lava-dl-wheel/.
python scripts/fetch-lava-dl-tests.py
