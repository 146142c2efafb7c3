"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const app = document.getElementById("app");
document.getElementById("nojs").remove();
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}
function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"]; let u = 0; let v = n;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u ? v.toFixed(v < 10 ? 2 : 1) : v) + " " + units[u];
}
const total = D.summary.retained || 1;
function pct(n) { return (100 * n / total).toFixed(1) + "%"; }
function hue(s) { let h = 0; for (const c of s) h = (h * 31 + c.charCodeAt(0)) % 360; return h; }

const h = D.header;
app.append(el("div", {class: "meta"},
  [h.description, h.python && "Python " + h.python, h.pid && "pid " + h.pid, h.hostname, h.time, h.reason && "reason: " + h.reason,
   h.exception].filter(Boolean).join(" \u00b7 ")));
const cards = el("div", {class: "cards"});
for (const [label, value] of [["objects in the dump", D.summary.objects.toLocaleString()],
    ["reachable from the roots", D.summary.reachable.toLocaleString()],
    ["bytes reachable", bytes(D.summary.retained)], ["references", D.summary.references.toLocaleString()]]) {
  cards.append(el("div", {class: "card"}, el("b", {}, value), el("span", {}, label)));
}
app.append(cards);

app.append(el("h2", {id: "suspects"}, "Leak suspects (objects retaining 10% of the heap or more)"));
if (!D.suspects.length) app.append(el("p", {class: "none"}, "None: no single object retains 10% of the heap."));
for (const s of D.suspects) {
  app.append(el("div", {class: "suspect"},
    el("div", {}, el("span", {class: "size"}, bytes(s.retained) + " (" + pct(s.retained) + ")"),
       " retained by one ", el("b", {}, s.type), " @" + s.id),
    el("div", {class: "path"}, s.path)));
}

app.append(el("h2", {id: "where"}, "Where the memory is (retained sizes, the dominator tree)"));
const tm = el("div", {id: "treemap"}); app.append(tm);
function collapse(node) {  // a chain of holders that each hold nearly all of the next shows as its deepest link
  while (node.children.length && node.children[0].retained >= 0.98 * node.retained) node = node.children[0];
  return node;
}
function layout(items, x, y, w, h, out) {
  if (!items.length) return;
  if (items.length === 1) { out.push([items[0], x, y, w, h]); return; }
  const sum = items.reduce((a, b) => a + b.retained, 0); let acc = 0; let i = 0;
  while (i < items.length - 1 && acc + items[i].retained <= sum / 2) { acc += items[i].retained; i++; }
  if (i === 0) { acc = items[0].retained; i = 1; }
  const f = sum ? acc / sum : 0.5;
  if (w >= h) { layout(items.slice(0, i), x, y, w * f, h, out); layout(items.slice(i), x + w * f, y, w * (1 - f), h, out); }
  else { layout(items.slice(0, i), x, y, w, h * f, out); layout(items.slice(i), x, y + h * f, w, h * (1 - f), out); }
}
function drawTreemap() {
  tm.textContent = "";
  const W = tm.clientWidth, H = tm.clientHeight;
  const top = collapse(D.tree);
  const items = (top.children.length ? top.children : [top]).map(collapse).filter(n => n.retained > 0);
  const rest = top.retained - items.reduce((a, b) => a + b.retained, 0);
  const cells = [];
  layout(items.concat(rest > total * 0.01 ? [{type: "", via: "everything else", retained: rest, children: [], id: null}] : []),
         0, 0, W, H, cells);
  for (const [n, x, y, w, hh] of cells) {
    const label = n.id === null ? n.via : n.type + " @" + n.id;
    const box = el("div", {class: "tm", title: (n.path || n.via) + "\n" + bytes(n.retained),
      style: `left:${x}px;top:${y}px;width:${w}px;height:${hh}px;background:hsl(${hue(n.type || "x")},55%,${n.id === null ? 88 : 78}%)`},
      el("b", {}, label), el("small", {}, bytes(n.retained) + " \u00b7 " + pct(n.retained)),
      el("small", {}, n.path || n.via || ""));
    tm.append(box);
  }
}
drawTreemap();
window.addEventListener("resize", drawTreemap);

const dt = el("div", {class: "dt"});
function treeNode(n, open) {
  const row = [el("span", {class: "r"}, bytes(n.retained)), el("span", {class: "pct"}, pct(n.retained)),
               el("span", {class: "ty"}, n.id === null ? "" : n.type + " @" + n.id), el("span", {class: "via"}, n.via)];
  if (!n.children.length && !n.more) return el("div", {class: "leaf", title: n.path || ""}, el("span", {class: "leafmark"}), ...row);
  const d = el("details", open ? {open: ""} : {}, el("summary", {title: n.path || ""}, ...row));
  // Opened down the holders of at least a third of the heap: where a leak is, the page shows it without a click.
  for (const c of n.children) d.append(treeNode(c, c.retained * 3 >= total));
  if (n.more) d.append(el("div", {class: "leaf"}, el("span", {class: "r"}, bytes(n.more.retained)),
    el("span", {class: "pct"}, pct(n.more.retained)),
    `\u2026 ${n.more.count.toLocaleString("en")} smaller ${n.more.count === 1 ? "one" : "ones"} not listed`));
  return d;
}
app.append(el("h2", {id: "tree"}, "Dominator tree (what each object keeps alive; click to expand)"), dt);
dt.append(treeNode(D.tree, true));

app.append(el("h2", {id: "top"}, "Objects retaining the most"));
const tt = el("table", {}, el("tr", {}, el("th", {}, "retained"), el("th", {}, "shallow"), el("th", {}, "type"), el("th", {}, "path")));
for (const r of D.top) tt.append(el("tr", {}, el("td", {class: "num"}, bytes(r.retained)), el("td", {class: "num"}, bytes(r.shallow)),
  el("td", {}, r.type + " @" + r.id), el("td", {class: "path"}, r.path)));
app.append(tt);

app.append(el("h2", {id: "types"}, "Types (histogram)"));
const maxType = Math.max(1, ...D.types.map(t => t.retained));
const ty = el("table", {}, el("tr", {}, el("th", {}, "type"), el("th", {}, "objects"), el("th", {}, "shallow"), el("th", {}, "retained"), el("th", {style: "width:30%"}, "")));
for (const t of D.types) ty.append(el("tr", {}, el("td", {}, t.type), el("td", {class: "num"}, t.count.toLocaleString()),
  el("td", {class: "num"}, bytes(t.shallow)), el("td", {class: "num"}, bytes(t.retained)),
  el("td", {}, el("div", {class: "bar", style: `width:${100 * t.retained / maxType}%`}))));
app.append(ty);

app.append(el("h2", {id: "threads"}, "Threads, their frames and locals"));
if (!D.threads.length) app.append(el("p", {}, "No frames in this dump."));
for (const t of D.threads) {
  const d = el("details", {class: "thread", open: ""}, el("summary", {}, t.name + " (" + t.frames.length + " frames, innermost first)"));
  for (const f of t.frames) {
    const fr = el("div", {class: "frame"}, el("span", {class: "fn"}, f.name), " retains " + bytes(f.retained));
    if (f.locals.length) {
      const lt = el("table", {}, el("tr", {}, el("th", {}, "local"), el("th", {}, "type"), el("th", {}, "retained")));
      for (const v of f.locals.slice().sort((a, b) => b.retained - a.retained))
        lt.append(el("tr", {}, el("td", {class: "path"}, v.name), el("td", {}, v.type + " @" + v.id), el("td", {class: "num"}, bytes(v.retained))));
      fr.append(lt);
    }
    d.append(fr);
  }
  app.append(d);
}
if (D.warnings.length) {
  app.append(el("h2", {}, "Warnings"));
  for (const w of D.warnings) app.append(el("p", {class: "warn"}, w));
}
