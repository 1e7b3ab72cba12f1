"""Render the IR reference (every op's equation, from its docstring) as Markdown for docs/ir.md."""

from __future__ import annotations

import dataclasses
import inspect

from snncompile.ir import hw_ops, lowered_ops, nn_ops


def render() -> str:
    parts = ["# IR reference\n", ("Generated from the op docstrings by "
             "`python -m snncompile.ir.reference_doc > docs/ir.md`; a test keeps it current.\n")]
    for level, title, module in (("nn", "`nn` level", nn_ops),
                                 ("lowered", "Between `nn` and `hw`", lowered_ops),
                                 ("hw", "`hw` level", hw_ops)):
        parts.append(f"## {title}\n\n{inspect.cleandoc(module.__doc__ or '')}\n")
        for name, cls in module.OPS.items():
            fields = ", ".join(f.name for f in dataclasses.fields(cls))
            doc = inspect.cleandoc(cls.__doc__ or "")
            parts.append(f"### {level}.{name}({fields})\n\n```\n{doc}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
