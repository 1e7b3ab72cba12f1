"""Write the digits test split as input spikes and labels for `snncompile verify` / `run`.

    python examples/digits/make_inputs.py OUT_DIR   ->  OUT_DIR/test_x.npy (360, 16, 64), test_y.npy
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from data import load_split


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _, _, x_test, y_test = load_split()
    np.save(folder / "test_x.npy", x_test)
    np.save(folder / "test_y.npy", y_test)
    print(f"wrote {folder}/test_x.npy {x_test.shape} and test_y.npy {y_test.shape}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/digits")
