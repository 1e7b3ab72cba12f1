"""`python -m snncompile ...`: the same command line as the `snncompile` script."""

from snncompile.cli import main

if __name__ == "__main__":
    main()
