/** The console's style sheet, served as /console/static/console.css (no inline styles: the CSP forbids them). */
export const CONSOLE_CSS = `
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#dfe3e8; --bg:#f6f7f9; --card:#fff; --accent:#2456c9;
  --allow:#1d7a46; --allow-bg:#e3f4ea; --deny:#b42318; --deny-bg:#fdecea; --review:#8a5a00; --review-bg:#fff4d6; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
header.top { display:flex; align-items:center; gap:24px; padding:10px 24px; background:#162033; color:#fff; }
header.top .brand { font-weight:700; letter-spacing:.02em; color:#fff; }
header.top nav { display:flex; gap:16px; flex:1; } header.top nav a { color:#c9d6f0; } header.top nav a.on { color:#fff; font-weight:600; }
header.top .who { display:flex; align-items:center; gap:10px; color:#c9d6f0; font-size:13px; }
header.top .who form { margin:0; }
header.top button { background:transparent; color:#fff; border:1px solid #5b6b8a; border-radius:4px; padding:3px 10px; cursor:pointer; font:inherit; }
.warning { background:#fff1c2; border-bottom:2px solid #e0a800; color:#5c4100; padding:8px 24px; font-weight:600; }
main { padding:20px 24px 40px; max-width:1400px; }
h1 { font-size:20px; margin:0 0 14px; } h2 { font-size:16px; margin:22px 0 10px; }
.muted { color:var(--muted); } .small { font-size:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:16px 18px; }
.narrow { max-width:520px; margin:40px auto; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; color:#4a5565; }
tr.deny td:first-child { box-shadow:inset 3px 0 var(--deny); } tr.review td:first-child { box-shadow:inset 3px 0 var(--review); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
code, pre, .sql { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
pre.sql { margin:0; white-space:pre-wrap; word-break:break-word; max-height:16em; overflow:auto; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; text-transform:uppercase; }
.badge.allow { color:var(--allow); background:var(--allow-bg); } .badge.deny { color:var(--deny); background:var(--deny-bg); }
.badge.review { color:var(--review); background:var(--review-bg); } .badge.error { color:var(--deny); background:#fff; border:1px solid var(--deny); }
.refusal { color:var(--deny); margin-top:4px; } .err { color:var(--deny); }
form.filters { display:flex; flex-wrap:wrap; gap:10px; align-items:flex-end; margin-bottom:14px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:3px; }
input, select { font:inherit; padding:5px 8px; border:1px solid #c4cbd4; border-radius:4px; background:#fff; }
button.primary, a.button { display:inline-block; background:var(--accent); color:#fff; border:0; border-radius:4px; padding:7px 14px; font:inherit; font-weight:600; cursor:pointer; }
a.button:hover { text-decoration:none; } button.secondary { background:#fff; color:var(--fg); border:1px solid #c4cbd4; border-radius:4px; padding:6px 12px; font:inherit; cursor:pointer; }
.pager { display:flex; gap:14px; margin-top:12px; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; } dl.facts dt { color:var(--muted); }
.steps { list-style:none; margin:0; padding:0 16px; }
.step { display:grid; grid-template-columns:90px 1fr; gap:12px; padding:10px 0; border-bottom:1px solid var(--line); }
.step .t { font-variant-numeric:tabular-nums; color:var(--muted); font-family:ui-monospace,monospace; font-size:12.5px; }
.step .event { color:var(--muted); }
table.capture { width:auto; margin-top:8px; font-size:12.5px; } table.capture th { text-transform:none; letter-spacing:0; }
.devlogin { display:flex; gap:10px; flex-wrap:wrap; margin-top:10px; }
.tags span { display:inline-block; background:#eef1f5; border-radius:3px; padding:0 6px; margin-right:4px; font-size:12px; }
pre.sql .kw { color:#7a2bb5; font-weight:600; } pre.sql .str { color:#1d7a46; } pre.sql .num { color:#b35c00; }
pre.sql .com { color:#7b8594; font-style:italic; } pre.sql .id { color:#1d2330; } pre.sql .prm { color:#2456c9; }
pre.sql .ctl { color:#a3132b; background:#fde8ec; border:1px solid #f3b8c2; border-radius:2px; font-style:normal; }
pre.sql.block { background:#f6f7f9; border:1px solid var(--line); border-radius:4px; padding:10px 12px; max-height:none; }
.badge.pending { color:var(--review); background:var(--review-bg); } .badge.approved, .badge.consumed { color:var(--allow); background:var(--allow-bg); }
.badge.rejected { color:var(--deny); background:var(--deny-bg); } .badge.expired, .badge.abandoned { color:var(--muted); background:#eef1f5; }
.flash { border-radius:6px; padding:10px 14px; margin-bottom:14px; border:1px solid; }
.flash.ok { color:var(--allow); background:var(--allow-bg); border-color:#b7dfc6; } .flash.err { color:var(--deny); background:var(--deny-bg); border-color:#f3c1bb; }
form.decide textarea { width:100%; min-height:5em; font:inherit; padding:6px 8px; border:1px solid #c4cbd4; border-radius:4px; }
form.decide .actions { display:flex; gap:10px; margin-top:10px; } button.danger { background:var(--deny); color:#fff; border:0; border-radius:4px; padding:7px 14px; font:inherit; font-weight:600; cursor:pointer; }
ul.decisions { margin:0; padding-left:18px; } ul.decisions li { margin:4px 0; }
.grid2 { display:grid; grid-template-columns:minmax(0,2fr) minmax(0,1fr); gap:16px; align-items:start; }
`;
