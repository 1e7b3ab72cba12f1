"""The report's HTML: one file, inline CSS, charts as data: URIs, tables escaped."""

from __future__ import annotations

import html
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ddd;
padding:3px 7px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
.kpi{display:flex;gap:1.2em;flex-wrap:wrap}.kpi div{background:#f5f7fb;padding:.6em 1em;
border-radius:6px}.kpi b{display:block;font-size:1.3em}img{max-width:100%}
.published{color:#1a7f37}.code{color:#1a5fb4}.assumed{color:#b35900}.unverified{color:#c01c28}"""

# After load, mark each chart with its decoded width so a headless browser test can check them.
SCRIPT = """<script>window.addEventListener('load',function(){var ok=0,imgs=document.images;
for(var i=0;i<imgs.length;i++){imgs[i].setAttribute('data-decoded',imgs[i].naturalWidth);
if(imgs[i].naturalWidth>0)ok++;}document.body.setAttribute('data-charts-ok',ok+'/'+imgs.length);
});</script>"""


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(
        f"<td class='{html.escape(str(v))}'>{fmt(v)}</td>" if k == "status" else f"<td>{fmt(v)}</td>"
        for k, v in r.items()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def img(b64: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def page(title: str, kpis: dict[str, str], sections: list[tuple[str, str]]) -> str:
    k = "".join(f"<div>{html.escape(n)}<b>{html.escape(v)}</b></div>" for n, v in kpis.items())
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<div class='kpi'>{k}</div>{body}{SCRIPT}</body></html>")
