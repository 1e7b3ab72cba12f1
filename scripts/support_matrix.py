"""Write docs/support.md from the code's own registries, so the support matrix cannot drift.

Back ends: snncompile.backends.support (features, each back end's SUPPORTED and WHY). Front ends:
the tables the readers dispatch on (NIR `_READERS`, the torch module maps, SpikingJelly's and
Norse's neuron lists, the ONNX reader's `op_*` methods, netx's layer readers). Run it after adding
a feature, an op or a front-end mapping; tests/test_support_matrix.py fails while the file is stale.

    python scripts/support_matrix.py           # rewrite docs/support.md
    python scripts/support_matrix.py --check   # exit 1 if docs/support.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "support.md"
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))


def _backend_table() -> list[str]:
    from snncompile.backends import support

    backends = list(support.DECLARED_IN)
    held = {b: support.supported(b) for b in backends}
    lines = ["| feature | what it is | " + " | ".join(backends) + " |",
             "|---|---|" + "---|" * len(backends)]
    for f in support.features():
        cells = ["yes" if f.name in held[b] else "no" for b in backends]
        lines.append(f"| `{f.name}` | {f.doc} | " + " | ".join(cells) + " |")
    why = [f"* {b}, `{f.name}`: {support.why_not(b, f.name)}" for f in support.features()
           for b in backends if f.name not in held[b] and support.why_not(b, f.name)]
    return lines + ([""] + why if why else [])


def _names(items) -> str:
    return ", ".join(f"`{n}`" for n in items)


def _frontend_rows() -> list[tuple[str, str, str]]:
    import snncompile.nn as own_layers
    from snncompile.frontends import (
        netx,
        nir,
        norse_modules,
        onnx_ann,
        onnx_step,
        spikingjelly,
        torch_fx,
        torch_modules,
    )

    torch_layers = [cls.__name__ for cls in torch_modules.TORCH_LAYERS]
    skipped = [cls.__name__ for cls in torch_modules.SKIPPED]
    own = [n for n in own_layers.__all__ if isinstance(getattr(own_layers, n), type)]
    onnx_ops = sorted(n[3:] for n in dir(onnx_ann.AnnReader) if n.startswith("op_"))
    return [
        ("`.nir` (nir)", "NIR node types", _names(nir._READERS)),
        ("`.pt` / `.pth` (torch_file, torch_modules)", "torch.nn layers",
         _names(["Sequential", *torch_layers]) + "; skipped: " + _names(skipped)),
        ("", "any nn.Module (forward traced by torch.fx)", "between submodules: "
         + _names(torch_fx.FUNCTIONS)),
        ("", "snncompile.nn layers", _names(own)),
        ("", "snnTorch neurons", _names(torch_modules.SNNTORCH) + "; refused by name: "
         + _names(torch_modules.SNNTORCH_REFUSED)),
        ("", "SpikingJelly neurons", _names(spikingjelly._NEURONS)
         + "; attention: `SpikingSelfAttention`, `SpikeDrivenSelfAttention` "
           "(frontends/attention.py)"),
        ("", "Norse modules", _names(norse_modules._MAPPED)),
        ("`.onnx` (onnx)", "ONNX operators (ANN, converted)", _names(onnx_ops)),
        ("", "ONNX operators (one step of a stateful SNN: onnx_step)",
         _names(onnx_step.operators()) + "; of constants only: "
         + _names(sorted(set(onnx_step.FOLD) - set(onnx_step.operators())))
         + "; state updates: " + _names(onnx_step.NEURON_FORMS)),
        ("`.net` (netx, read at the hw level)", "netx layer types",
         _names(netx.LAYER_TYPES) + "; refused by name: " + _names(netx.UNSUPPORTED_TYPES)),
    ]


def render() -> str:
    """The full text of docs/support.md."""
    lines = [
        "# Support matrix (generated: `python scripts/support_matrix.py`; do not edit)",
        "",
        "Back ends: which hw-graph features each can hold. A \"no\" is a compile-time refusal, one",
        "sentence naming the back end, the feature and the node (\"loihi2 cannot hold reset by",
        ("subtraction at node 'l2': ...\"); netx export lists it among the reasons "
        "`netx_notes.json`"),
        "gives for keeping only the exact `/snncompile` graph. Each cell is proved by",
        "`tests/test_support_matrix.py`, which writes a tiny graph with the feature on every back",
        ("end. The registry is `snncompile/backends/support.py`; each back end declares "
        "`SUPPORTED`."),
        "Sizes, shapes and values (core limits, weight ranges) are checked separately.",
        "",
        *_backend_table(),
        "",
        "## Front ends: what each reads",
        "",
        "From each reader's own dispatch table; anything else is refused in one sentence naming",
        "the node or module. Semantics of each mapping: [semantics.md](semantics.md).",
        "",
        "| front end | kind | reads |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in _frontend_rows()],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/support.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not DOC.exists() or DOC.read_text() != text
        if stale:
            print(f"{DOC} is stale: run python scripts/support_matrix.py", file=sys.stderr)
        return int(stale)
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
