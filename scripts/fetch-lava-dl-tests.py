"""Extract lava-dl 0.6.0's own netx test networks (with their expected outputs) for the tests.

The lava-dl wheel ships them under tests/lava/lib/dl/netx/ (BSD-3-Clause, Intel): PilotNet SDNN,
N-TIDIGITS, tinynet SDNN, mnist.net and tiny.net. They are too large to commit, so set-up downloads
the wheel once (pip download --no-deps), checks its sha256 and copies just those files into
tests/data/lava-dl-wheel/ (git-ignored). Tests read them through the `lava_dl_wheel` fixture.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "lava_dl-0.6.0-py3-none-any.whl"
SHA256 = "bcb448f2bb85dc0da4b4dbbbae16543d2a978c1da7279acc522ad621fc68c437"
PREFIX = "tests/lava/lib/dl/netx/"
WANTED = ("gts/pilotnet_sdnn/", "gts/ntidigits/", "gts/tinynet_sdnn/", "mnist.net", "tiny.net")
DEST = Path(__file__).resolve().parent.parent / "tests" / "data" / "lava-dl-wheel"


def main() -> int:
    if (DEST / "COMPLETE").exists():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--ignore-requires-python", "--disable-pip-version-check", "lava-dl==0.6.0",
             "-d", tmp],
            check=True,
        )
        wheel = Path(tmp) / WHEEL
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SHA256:
            print(f"fetch-lava-dl-tests: {WHEEL} has sha256 {digest}, expected {SHA256}")
            return 1
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                rel = name[len(PREFIX):] if name.startswith(PREFIX) else None
                if rel and rel.startswith(WANTED) and not name.endswith("/"):
                    target = DEST / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))
            (DEST / "LICENSE").write_bytes(archive.read("lava_dl-0.6.0.dist-info/LICENSE"))
    (DEST / "COMPLETE").write_text(f"{WHEEL} sha256 {SHA256}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
