"""The one style sheet of the generated HTML (index.html and local article pages).

The safety tests allow exactly this ``<style>`` content and no other.
"""

CSS = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --bg: #fbfbfd;
  --card: #fff; --line: #e3e3e8; --accent: #0b57d0; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --muted: #a1a1aa; --bg: #16161a;
  --card: #1f1f25; --line: #2e2e36; --accent: #8ab4f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 46rem; margin: 0 auto; padding: 1.25rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; }
header p, .subtitle, .meta, footer { color: var(--muted); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.topic { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem 1.25rem; margin-bottom: 1.25rem; }
.topic h2 { margin: 0; font-size: 1.3rem; display: flex; justify-content: space-between;
  align-items: baseline; gap: 1rem; }
.feed { font-size: .8rem; font-weight: 600; border: 1px solid var(--line);
  border-radius: 999px; padding: .1rem .6rem; white-space: nowrap; }
.subtitle { margin: .25rem 0 0; }
.headlines { list-style: none; margin: .75rem 0 0; padding: 0; }
.headlines li { padding: .45rem 0; border-top: 1px solid var(--line); }
.meta { display: block; font-size: .85rem; }
footer { font-size: .85rem; }
""".strip()
