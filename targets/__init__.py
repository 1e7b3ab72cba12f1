"""Target descriptions (one folder per chip: target.toml); shipped in the wheel as
snncompile.targets."""
