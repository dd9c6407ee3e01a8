// The dashboard's one style sheet, served as /ui/assets/style.css (a module, so the build needs no copy step).

export const STYLE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5c6670; --line: #d0d7de; --accent: #0b62c4; --bad: #b42318; --ok: #117a37; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9aa5b1; --line: #30363d; --accent: #58a6ff; --bad: #ff7b72; --ok: #56d364; } }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.1rem; }
.node, code, .mono { font-family: ui-monospace, monospace; font-size: 12px; }
nav a { margin-right: .8rem; color: var(--accent); text-decoration: none; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
.key { margin-left: auto; font-size: 12px; color: var(--muted); }
main { padding: 1rem; max-width: 1200px; }
h1 { font-size: 1.3rem; margin: .2rem 0 .8rem; } h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { color: var(--muted); } dd { margin: 0; }
pre { background: rgba(127,127,127,.1); padding: .5rem; max-height: 18rem; overflow: auto; white-space: pre-wrap; word-break: break-all; }
form, .actions { display: flex; flex-wrap: wrap; gap: .4rem .8rem; align-items: end; margin: .5rem 0; }
label { display: inline-flex; flex-direction: column; font-size: 12px; color: var(--muted); }
button { padding: .3rem .8rem; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.state-done { color: var(--ok); } .state-trapped, .state-failed, .error { color: var(--bad); }
.muted { color: var(--muted); }
svg.chart { width: 100%; height: 220px; border: 1px solid var(--line); }
svg.chart text { font-size: 11px; fill: var(--muted); }
.legend span { margin-right: 1rem; font-size: 12px; }
#status { position: fixed; bottom: 0; right: 1rem; margin: 0; padding: .3rem .6rem; font-size: 12px; }
`;
