//! The report page: one self-contained HTML file (inline CSS, figures as data URIs or relative
//! links, no network) rendered with minijinja under HTML auto-escaping, and the Markdown summary.
//!
//! Every string that comes from data (pipeline, stage and method names, titles, captions, paths)
//! is escaped for where it lands: HTML text and attributes by auto-escaping, URLs (`src`, `href`)
//! by [`attr_url`], Markdown by [`escape_md`] / [`md_url`]. The page runs no script at all: its
//! Content-Security-Policy allows only inline styles and images from data URIs or beside it.
//! (The headless-browser test injects its own checking script into a copy.)

use anyhow::{Context as _, Result};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// A table already rendered as an HTML fragment by `report::tables` (every cell escaped there).
#[derive(Debug, Clone, Serialize)]
pub struct TableSection {
    pub id: String,
    pub title: String,
    pub caption: String,
    pub html: String,
    pub markdown: String,
    /// Data rows; long tables are folded away in the page.
    pub rows: usize,
}

/// A figure: `src` is a data URI or a relative path; `svg` an optional relative link.
#[derive(Debug, Clone, Serialize)]
pub struct FigureEntry {
    pub id: String,
    pub title: String,
    pub caption: String,
    pub src: String,
    pub svg: Option<String>,
    /// Relative path for the Markdown summary.
    pub file: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReportPage {
    pub title: String,
    pub pipeline: String,
    pub stage: String,
    pub synthetic: bool,
    pub sources: Vec<String>,
    pub headline: Vec<TableSection>,
    pub tables: Vec<TableSection>,
    pub figures: Vec<FigureEntry>,
    pub contact_sheets: Vec<FigureEntry>,
    /// `(key, value)` rows of the provenance table.
    pub provenance: Vec<(String, String)>,
    /// Runs: stage, method, format, source, split, models, training.
    pub runs: Vec<Vec<String>>,
    /// `(key, value)` rows from the run record, when one was given.
    pub run_record: Vec<(String, String)>,
    /// From the run record: the stage graph and the run's timeline (inline SVG) and resource
    /// table (HTML), built escaped by `report::dag`.
    pub pipeline_svg: Option<String>,
    pub timeline_svg: Option<String>,
    pub resources_html: Option<String>,
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<title>{{ page.title }}</title>
<style>
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 24px 48px; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin: 24px 0 4px; }
h2 { font-size: 1.3em; margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 22px 0 6px; }
.banner { padding: 12px 16px; border-radius: 6px; margin: 16px 0; font-weight: bold; }
.banner.synthetic { background: #fff3cd; border: 2px solid #e0a800; color: #5c4400; }
.banner.real { background: #e8f4ea; border: 1px solid #6bb37a; color: #1d4d27; }
.caption { color: #555; font-size: 0.92em; margin: 4px 0 10px; }
.scroll { overflow-x: auto; }
table.awmt-table, table.kv { border-collapse: collapse; font-size: 0.88em; margin: 6px 0 12px; }
table.awmt-table th, table.awmt-table td, table.kv th, table.kv td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
table.awmt-table th { background: #f0f0f0; position: sticky; top: 0; }
table.awmt-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.awmt-table tr.published td { background: #f3f6fb; color: #345; font-style: italic; }
table.awmt-table th.published, table.awmt-table td.published { background: #f3f6fb; color: #345; font-style: italic; }
figure { margin: 18px 0 28px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: 0.92em; }
code { background: #f4f4f4; padding: 0 3px; }
nav ul { columns: 2; font-size: 0.92em; }
</style>
</head>
<body>
<h1>{{ page.title }}</h1>
<p class="caption">Pipeline <code>{{ page.pipeline }}</code>, report stage <code>{{ page.stage }}</code>.</p>
{% if page.synthetic %}
<div class="banner synthetic" id="synthetic-banner">Synthetic data: every measured number on this page comes from procedurally rendered images, not from the real datasets. Rows and bars marked “published” are other authors' numbers on the real data; they are shown for orientation and are not comparable with the measured ones.</div>
{% else %}
<div class="banner real">Measured on real data ({{ page.sources|join(", ") }}). Rows marked “published” are numbers reported by their authors.</div>
{% endif %}
<nav><ul>
{% for t in page.headline %}<li><a href="#{{ t.id }}">{{ t.title }}</a></li>{% endfor %}
{% if page.figures %}<li><a href="#figures">Figures</a></li>{% endif %}
{% for t in page.tables %}<li><a href="#{{ t.id }}">{{ t.title }}</a></li>{% endfor %}
{% if page.contact_sheets %}<li><a href="#datasets">Dataset examples</a></li>{% endif %}
{% if page.pipeline_svg %}<li><a href="#pipeline">Pipeline and run</a></li>{% endif %}
<li><a href="#provenance">Provenance</a></li>
</ul></nav>
{% for t in page.headline %}
<h2 id="{{ t.id }}">{{ t.title }}</h2>
<p class="caption">{{ t.caption }}</p>
<div class="scroll">{{ t.html|safe }}</div>
{% endfor %}
{% if page.figures %}
<h2 id="figures">Figures</h2>
{% for f in page.figures %}
<figure id="{{ f.id }}">
<h3>{{ f.title }}</h3>
<img src="{{ f.src|url }}" alt="{{ f.title }}">
<figcaption>{{ f.caption }}{% if f.svg %} <a href="{{ f.svg|url }}">SVG</a>{% endif %}</figcaption>
</figure>
{% endfor %}
{% endif %}
{% for t in page.tables %}
<h2 id="{{ t.id }}">{{ t.title }}</h2>
<p class="caption">{{ t.caption }}</p>
{% if t.rows > 40 %}<details><summary>Show all {{ t.rows }} rows</summary>{% endif %}
<div class="scroll">{{ t.html|safe }}</div>
{% if t.rows > 40 %}</details>{% endif %}
{% endfor %}
{% if page.contact_sheets %}
<h2 id="datasets">Dataset examples</h2>
{% for f in page.contact_sheets %}
<figure id="{{ f.id }}">
<h3>{{ f.title }}</h3>
<img src="{{ f.src|url }}" alt="{{ f.title }}">
<figcaption>{{ f.caption }}</figcaption>
</figure>
{% endfor %}
{% endif %}
{% if page.pipeline_svg %}
<h2 id="pipeline">Pipeline and run</h2>
<p class="caption">The stages, <code>foreach</code> groups folded into one box with their count, coloured by how they ended in the run that made this report (up to the report itself).</p>
<div class="scroll">{{ page.pipeline_svg|safe }}</div>
{% if page.timeline_svg %}
<h3>Timeline</h3>
<p class="caption">One bar per stage that ran, from its start to its end, one lane per executor and GPU; cached stages took no time.</p>
<div class="scroll">{{ page.timeline_svg|safe }}</div>
{% endif %}
{% if page.resources_html %}
<h3>Resources</h3>
<p class="caption">Wall time, CPU time and peak resident memory of each stage's process tree, and the bytes it published.</p>
<div class="scroll">{{ page.resources_html|safe }}</div>
{% endif %}
{% endif %}
<h2 id="provenance">Provenance</h2>
<table class="kv" id="provenance-table">
{% for row in page.provenance %}<tr><th>{{ row[0] }}</th><td>{{ row[1] }}</td></tr>
{% endfor %}</table>
{% if page.runs %}
<h3>Evaluated runs</h3>
<div class="scroll"><table class="awmt-table" id="runs-table">
<thead><tr><th>run</th><th>method</th><th>dataset</th><th>data</th><th>split</th><th>models</th><th>training</th></tr></thead>
<tbody>
{% for r in page.runs %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% endif %}
{% if page.run_record %}
<h3>Run record</h3>
<table class="kv" id="run-record">
{% for row in page.run_record %}<tr><th>{{ row[0] }}</th><td>{{ row[1] }}</td></tr>
{% endfor %}</table>
{% else %}
<p class="caption">No run record was given to this stage (durations, versions and host are shown when the orchestrator provides one).</p>
{% endif %}
</body>
</html>
"##;

/// The page's Content-Security-Policy: nothing may run or load except inline styles and images
/// that are data URIs or files beside the page; no script, no frames, no forms, no base URL.
pub const CSP: &str = "default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; \
                       script-src 'none'; object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'";

/// A URL for a `src`/`href` attribute, from data: a `data:image/…;base64,` URI is kept when it is
/// well formed; anything else is treated as a relative path and percent-encoded (so it can
/// neither close the attribute nor name a scheme such as `javascript:`).
pub fn attr_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("data:image/") {
        if rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=;,.-".contains(&b)) {
            return url.to_string();
        }
    }
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renders the page.
pub fn render(page: &ReportPage) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("url", |v: String| minijinja::Value::from_safe_string(attr_url(&v)));
    env.add_template("report.html", TEMPLATE).context("report template")?;
    let template = env.get_template("report.html").context("report template")?;
    template.render(minijinja::context! { page => page, csp => minijinja::Value::from_safe_string(CSP.to_string()) }).context("rendering the report page")
}

/// Text from data for Markdown prose: HTML is shown, not interpreted (escaped as in HTML), and
/// Markdown's own markup characters are backslash-escaped.
pub fn escape_md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in super::tables::escape_html(text).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    // `#` only matters at the start of a line (a heading); inside, it is part of `&#39;`.
    if out.starts_with('#') {
        out.insert(0, '\\');
    }
    out
}

/// A link target for Markdown (`![…](here)`): percent-encoded like [`attr_url`].
pub fn md_url(url: &str) -> String {
    attr_url(url)
}

/// The Markdown summary next to the page.
pub fn summary_markdown(page: &ReportPage) -> String {
    let mut md = format!("# {}\n\n", escape_md(&page.title));
    md.push_str(&format!("Pipeline {}, report stage {}.\n\n", escape_md(&page.pipeline), escape_md(&page.stage)));
    if page.synthetic {
        md.push_str("> **Synthetic data:** every measured number here comes from procedurally rendered images, not from the real datasets. Rows marked `published` are other authors' real-data numbers and are not comparable.\n\n");
    } else {
        let sources: Vec<String> = page.sources.iter().map(|s| escape_md(s)).collect();
        md.push_str(&format!("Measured on real data ({}).\n\n", sources.join(", ")));
    }
    for t in page.headline.iter().chain(&page.tables) {
        md.push_str(&format!("## {}\n\n{}\n\n{}\n", escape_md(&t.title), escape_md(&t.caption), t.markdown));
    }
    if !page.figures.is_empty() {
        md.push_str("## Figures\n\n");
        for f in &page.figures {
            let title = escape_md(&f.title);
            md.push_str(&format!("### {title}\n\n![{title}]({})\n\n{}\n\n", md_url(&f.file), escape_md(&f.caption)));
        }
    }
    md
}

/// Standard base64 (RFC 4648, with padding), for data URIs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    fn page() -> ReportPage {
        ReportPage {
            title: "r <script>alert(1)</script>".into(),
            pipeline: "p&q".into(),
            stage: "report".into(),
            synthetic: true,
            sources: vec!["synthetic".into()],
            headline: vec![TableSection {
                id: "table1".into(),
                title: "Table 1".into(),
                caption: "c".into(),
                html: "<table class=\"awmt-table\"><tr><td>x</td></tr></table>".into(),
                markdown: "| a |\n|---|\n| x |\n".into(),
                rows: 1,
            }],
            tables: vec![],
            figures: vec![],
            contact_sheets: vec![],
            provenance: vec![("attribute".into(), "<img src=x onerror=alert(1)>".into())],
            runs: vec![vec!["eval[<b>]".into()]],
            run_record: vec![],
            pipeline_svg: None,
            timeline_svg: None,
            resources_html: None,
        }
    }

    #[test]
    fn urls_and_markdown_from_data_cannot_inject() {
        let mut p = page();
        p.figures = vec![FigureEntry {
            id: "f".into(),
            title: "<b>t</b>".into(),
            caption: "c".into(),
            src: "x\" onerror=\"alert(1)".into(),
            svg: Some("javascript:alert(1)".into()),
            file: "figures/a b).png".into(),
        }];
        p.contact_sheets = vec![FigureEntry {
            id: "g".into(),
            title: "ok".into(),
            caption: "c".into(),
            src: "data:image/png;base64,iVBORw0KGgo=".into(),
            svg: None,
            file: "x.png".into(),
        }];
        let html = render(&p).unwrap();
        assert!(html.contains("<img src=\"x%22%20onerror%3D%22alert%281%29\""), "{html}");
        assert!(html.contains("href=\"javascript%3Aalert%281%29\""), "{html}");
        assert!(html.contains("<img src=\"data:image/png;base64,iVBORw0KGgo=\""), "a data URI is kept");
        assert!(!html.contains("<script"), "no script in the page");
        assert!(html.contains("script-src 'none'") && html.contains("default-src 'none'"), "{html}");
        let md = summary_markdown(&p);
        assert!(md.contains("# r &lt;script&gt;alert\\(1\\)&lt;/script&gt;"), "{md}");
        assert!(md.contains("![&lt;b&gt;t&lt;/b&gt;](figures/a%20b%29.png)"), "{md}");
        assert!(!md.contains("<script") && !md.contains("<b>"), "{md}");
    }

    #[test]
    fn text_from_data_is_escaped_and_tables_are_kept() {
        let html = render(&page()).unwrap();
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("r &lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("p&amp;q"));
        assert!(html.contains("eval[&lt;b&gt;]"));
        assert!(html.contains("<table class=\"awmt-table\"><tr><td>x</td></tr></table>"));
        assert!(html.contains("id=\"synthetic-banner\""));
        let md = summary_markdown(&page());
        assert!(md.contains("**Synthetic data:**"));
        assert!(md.contains("| x |"));
    }
}
