"""The pages' stylesheet, inlined into each page (no static files to serve or cache)."""

PAGE_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 16px; color: #1a202c; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2.section { font-size: 15px; margin: 18px 0 6px; }
p.sub { color: #4a5568; margin: 0 0 10px; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; margin-bottom: 8px;
  padding: 8px 10px; background: #f7fafc; border: 1px solid #e2e8f0; border-radius: 6px; font-size: 12px; }
form.filters label { display: flex; flex-direction: column; gap: 2px; }
form.filters small { color: #718096; }
p.exports { font-size: 12px; color: #4a5568; margin: 0 0 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin-bottom: 8px; }
.chart { border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px 10px; }
.chart h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
.chart .legend { margin: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 4px 4px; text-align: left; white-space: nowrap; }
th { background: #f7fafc; font-weight: 600; position: sticky; top: 0; }
th.group { text-align: center; border-left: 2px solid #cbd5e0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.first, th.first { border-left: 2px solid #cbd5e0; }
td.planned { color: #718096; font-style: italic; }
td.drift { white-space: normal; min-width: 6em; }
td.drift.held { min-width: 11em; }
td.drift small { display: block; color: #4a5568; font-size: 11px; line-height: 1.25; }
td.drift small.off { color: #a11d1d; }
td.run-id { white-space: normal; word-break: break-all; min-width: 11em; max-width: 13em; }
tr.note td { white-space: normal; color: #4a5568; font-size: 12px; padding: 0 4px 6px 12px; border-bottom: 1px solid #e2e8f0; }
tr.has-note td { border-bottom: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.empty { padding: 24px; border: 1px dashed #cbd5e0; border-radius: 6px; color: #4a5568; }
.legend span { margin-right: 12px; font-size: 12px; color: #4a5568; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.mark { display: inline-block; width: 0; height: 0; margin-right: 4px; border-left: 5px solid transparent;
  border-right: 5px solid transparent; border-bottom: 9px solid #c53030; }
.mark.cancelled { border-bottom-color: #718096; }
nav.pager { margin: 10px 0; font-size: 13px; }
nav.pager a, nav.pager span { margin-right: 10px; }
nav.pager .off { color: #a0aec0; }
table#counts, table#api, table#records { width: auto; min-width: 480px; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }
dl.facts dt { color: #4a5568; }
a { color: #2b6cb0; text-decoration: none; } a:hover { text-decoration: underline; }
"""
