"""The report's HTML: one file, inline CSS, charts as data: URIs, tables escaped."""

from __future__ import annotations

import html
import re
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222;
padding:0 1em}h1{font-size:1.6em;margin-bottom:.3em}h2{border-bottom:1px solid #ccc;
margin-top:1.6em}p.sub{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ddd;
padding:3px 7px;text-align:right}th{background:#f3f3f3}th:first-child,td:first-child,
td.text,th.text{text-align:left}
.kpi{display:flex;gap:.8em;flex-wrap:wrap;margin:1em 0}.kpi div{background:#f5f7fb;
padding:.6em .9em;border-radius:6px;flex:1 1 0;min-width:8em}.kpi b{display:block;font-size:1.3em}
.kpi small{color:#555}img{max-width:100%}
.verdict{padding:.8em 1.2em;border-radius:8px;font-size:1.05em;margin:1em 0}
.verdict b{font-size:1.6em;margin-right:.5em}
.verdict.pass{background:#e6f4ea;border:2px solid #1a7f37}.verdict.pass b{color:#1a7f37}
.verdict.fail{background:#fdecea;border:2px solid #c01c28}.verdict.fail b{color:#c01c28}
.verdict.none{background:#f3f3f3;border:2px solid #888}
td.PASS{color:#1a7f37;font-weight:bold}td.FAIL{color:#c01c28;font-weight:bold}
.published{color:#1a7f37}.code{color:#1a5fb4}.assumed{color:#b35900}.unverified{color:#c01c28}"""

# After load, mark each chart with its decoded width so a headless browser test can check them.
SCRIPT = """<script>window.addEventListener('load',function(){var ok=0,imgs=document.images;
for(var i=0;i<imgs.length;i++){imgs[i].setAttribute('data-decoded',imgs[i].naturalWidth);
if(imgs[i].naturalWidth>0)ok++;}document.body.setAttribute('data-charts-ok',ok+'/'+imgs.length);
});</script>"""

CLASSED = ("status", "result")  # columns whose value is also the cell's CSS class


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _is_text(value: Any) -> bool:
    """Words read from the left, numbers from the right."""
    return isinstance(value, str) and not value.replace(".", "", 1).isdigit()


def _cell(key: str, value: Any) -> str:
    if key in CLASSED:
        return f"<td class='{html.escape(str(value))}'>{fmt(value)}</td>"
    if _is_text(value):
        return f"<td class='text'>{fmt(value)}</td>"
    return f"<td>{fmt(value)}</td>"


def table(rows: list[dict[str, Any]], table_id: str | None = None) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th class='text'>{html.escape(str(k))}</th>" if _is_text(v)
                   else f"<th>{html.escape(str(k))}</th>" for k, v in rows[0].items())
    body = "".join("<tr>" + "".join(_cell(k, v) for k, v in r.items()) + "</tr>" for r in rows)
    ident = f" id='{table_id}'" if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def img(b64: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def para(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def page(title: str, subtitle: str, banner: str, kpis: list[tuple[str, str, str]],
         sections: list[tuple[str, str]]) -> str:
    """The whole page: title, verdict banner (HTML), KPI cards (name, value, note), sections
    (heading, HTML) each with an id made from its heading."""
    k = "".join(f"<div>{html.escape(n)}<b>{html.escape(v)}</b><small>{html.escape(s)}</small>"
                "</div>" for n, v, s in kpis)
    body = "".join(f"<h2 id='{slug(h)}'>{html.escape(h)}</h2>{content}"
                   for h, content in sections)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='sub'>{html.escape(subtitle)}</p>{banner}"
            f"<div class='kpi' id='kpi'>{k}</div>{body}{SCRIPT}</body></html>")
