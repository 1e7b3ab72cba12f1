"""Lava processes and fixed_pt process models that snncompile ships inside every loihi2 build.

Lava 0.10.0 (the last release; Lava is archived) has no model for some neurons trained networks
use. A generated program brings its own: these modules import only numpy and Lava (never
snncompile), because they are copied verbatim into the build folder beside run_lava.py.
"""
