//! The report's view of the pipeline itself, from the run record the orchestrator hands the
//! report stage: a picture of the stage graph (one box per stage, `foreach` groups folded into
//! one box with a count, coloured by how each stage ended in the run), a timeline of the run (one
//! bar per stage from its start to its end, one lane per executor and GPU) and the table of
//! resource traces. Inline SVG and HTML, every name escaped: the page stays script-free.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::trace_record::StageTrace;

/// A stage as the run record lists it under `graph`.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphStage {
    pub name: String,
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub upstream: Vec<String>,
    /// How it ended in the run that made the record (`ran`, `cached`, `failed`, …) or empty.
    #[serde(default)]
    pub status: String,
}

/// Text for an XML/HTML text node or attribute.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn colour(status: &str) -> (&'static str, &'static str) {
    // (fill, text)
    match status {
        "ran" => ("#4c9a5f", "#ffffff"),
        "cached" => ("#a9c8e8", "#1d2b3a"),
        "failed" => ("#d9534f", "#ffffff"),
        "skipped" => ("#d6d6d6", "#444444"),
        _ => ("#f2f2f2", "#444444"),
    }
}

/// How a folded group ended: the worst of its members.
fn worst(statuses: &[&str]) -> String {
    for s in ["failed", "skipped", "ran", "cached"] {
        if statuses.contains(&s) {
            return s.to_string();
        }
    }
    statuses.first().map(|s| s.to_string()).unwrap_or_default()
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// The stage graph as inline SVG, `foreach` groups folded; `stages` in dependency order.
pub fn graph_svg(stages: &[GraphStage]) -> String {
    // Fold: one node per group, in first-seen (dependency) order.
    let mut order: Vec<String> = Vec::new();
    let mut members: BTreeMap<String, Vec<&GraphStage>> = BTreeMap::new();
    let group_of: BTreeMap<&str, &str> = stages.iter().map(|s| (s.name.as_str(), s.group.as_str())).collect();
    for s in stages {
        if !members.contains_key(&s.group) {
            order.push(s.group.clone());
        }
        members.entry(s.group.clone()).or_default().push(s);
    }
    let mut ups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for g in &order {
        let mut u: Vec<String> = members[g]
            .iter()
            .flat_map(|s| s.upstream.iter())
            .filter_map(|n| group_of.get(n.as_str()).map(|g| g.to_string()))
            .filter(|x| x != g)
            .collect();
        u.sort();
        u.dedup();
        ups.insert(g.as_str(), u);
    }
    // Columns by longest path from a source.
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &order {
        let d = ups[g.as_str()].iter().filter_map(|u| depth.get(u.as_str())).map(|d| d + 1).max().unwrap_or(0);
        depth.insert(g.as_str(), d);
    }
    let (w, h, gap_x, gap_y, pad) = (150.0, 38.0, 36.0, 12.0, 10.0);
    let mut rows_in: BTreeMap<usize, usize> = BTreeMap::new();
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for g in &order {
        let d = depth[g.as_str()];
        let r = rows_in.entry(d).or_insert(0);
        pos.insert(g.as_str(), (pad + d as f64 * (w + gap_x), pad + *r as f64 * (h + gap_y)));
        *r += 1;
    }
    let cols = rows_in.len().max(1);
    let rows = rows_in.values().copied().max().unwrap_or(1);
    let width = (pad * 2.0 + cols as f64 * w + (cols - 1) as f64 * gap_x).max(470.0);
    let legend_y = pad + rows as f64 * (h + gap_y) + 6.0;
    let height = legend_y + 24.0;
    let mut svg = format!(
        "<svg id=\"pipeline-dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"stage graph\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">\n"
    );
    for g in &order {
        let (x, y) = pos[g.as_str()];
        for u in &ups[g.as_str()] {
            if let Some(&(ux, uy)) = pos.get(u.as_str()) {
                svg += &format!(
                    "<line class=\"edge\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-width=\"1.2\"/>\n",
                    ux + w,
                    uy + h / 2.0,
                    x,
                    y + h / 2.0
                );
            }
        }
    }
    for g in &order {
        let (x, y) = pos[g.as_str()];
        let m = &members[g];
        let status = worst(&m.iter().map(|s| s.status.as_str()).collect::<Vec<_>>());
        let (fill, ink) = colour(&status);
        let label = if m.len() > 1 { format!("{} ×{}", shorten(g, 15), m.len()) } else { shorten(g, 19) };
        let title = format!("{g} ({}, {})", m[0].kind, if status.is_empty() { "not in this run" } else { &status });
        svg += &format!(
            "<g class=\"stage\" data-status=\"{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w}\" height=\"{h}\" rx=\"5\" fill=\"{fill}\" stroke=\"#555\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ink}\" font-weight=\"bold\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ink}\" font-size=\"10\">{}</text></g>\n",
            escape(&status),
            escape(&title),
            x + 8.0,
            y + 16.0,
            escape(&label),
            x + 8.0,
            y + 30.0,
            escape(&m[0].kind)
        );
    }
    let mut lx = pad;
    for (s, label) in [("ran", "ran"), ("cached", "cached"), ("failed", "failed"), ("skipped", "skipped"), ("", "not run yet")] {
        let (fill, _) = colour(s);
        svg += &format!("<rect x=\"{lx:.1}\" y=\"{legend_y:.1}\" width=\"14\" height=\"14\" fill=\"{fill}\" stroke=\"#555\"/><text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n", lx + 18.0, legend_y + 12.0);
        lx += 90.0;
    }
    svg + "</svg>\n"
}

/// The lane a stage ran in: its executor, and its GPUs where placed on some.
fn lane(t: &StageTrace) -> String {
    let exec = if t.executor.is_empty() { "local" } else { t.executor.as_str() };
    match &t.gpus {
        Some(g) if !g.is_empty() => format!("{exec} GPU {}", g.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
        _ => exec.to_string(),
    }
}

/// A timeline of the stages that ran (bars by start and end time), one lane per executor and GPU,
/// overlapping stages of a lane stacked; None when nothing ran.
pub fn timeline_svg(traces: &[StageTrace]) -> Option<String> {
    let ran: Vec<&StageTrace> = traces.iter().filter(|t| (t.status == "ran" || t.status == "failed") && t.end >= t.start).collect();
    if ran.is_empty() {
        return None;
    }
    let t0 = ran.iter().map(|t| t.start).fold(f64::INFINITY, f64::min);
    let t1 = ran.iter().map(|t| t.end).fold(f64::NEG_INFINITY, f64::max);
    let span = (t1 - t0).max(1e-3);
    // Lanes, then rows within a lane: a bar goes to the first row whose last bar has ended.
    let mut lanes: BTreeMap<String, Vec<Vec<&StageTrace>>> = BTreeMap::new();
    let mut sorted = ran.clone();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    for t in sorted {
        let rows = lanes.entry(lane(t)).or_default();
        match rows.iter_mut().find(|r| r.last().is_some_and(|l| l.end <= t.start)) {
            Some(r) => r.push(t),
            None => rows.push(vec![t]),
        }
    }
    let (left, plot_w, bar_h, gap) = (110.0, 760.0, 18.0, 4.0);
    let total_rows: usize = lanes.values().map(Vec::len).sum();
    let height = 20.0 + total_rows as f64 * (bar_h + gap) + lanes.len() as f64 * 8.0 + 30.0;
    let width = left + plot_w + 20.0;
    let mut svg = format!(
        "<svg id=\"run-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"run timeline\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"11\">\n"
    );
    let x_of = |t: f64| left + (t - t0) / span * plot_w;
    let mut y = 10.0;
    for (name, rows) in &lanes {
        let lane_h = rows.len() as f64 * (bar_h + gap);
        svg += &format!("<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\">{}</text>\n", y + 13.0, escape(name));
        svg += &format!("<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n", y + lane_h + 3.0, left + plot_w, y + lane_h + 3.0);
        for row in rows {
            for t in row {
                let (x, x2) = (x_of(t.start), x_of(t.end));
                let (fill, ink) = colour(&t.status);
                svg += &format!(
                    "<g class=\"bar\"><title>{} — {:.2} s{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{fill}\" stroke=\"#555\" stroke-width=\"0.5\"/>",
                    escape(&t.stage),
                    t.seconds,
                    if t.attempts > 1 { format!(", {} attempts", t.attempts) } else { String::new() },
                    (x2 - x).max(1.5)
                );
                // The name inside the bar when it fits, else after it.
                let inside = (x2 - x) > 7.0 * t.stage.chars().count() as f64;
                let (tx, colour_text) = if inside { (x + 4.0, ink) } else { (x2 + 3.0, "#222") };
                svg += &format!("<text x=\"{tx:.1}\" y=\"{:.1}\" fill=\"{colour_text}\">{}</text></g>\n", y + 13.0, escape(&shorten(&t.stage, 40)));
            }
            y += bar_h + gap;
        }
        y += 8.0;
    }
    // Time axis: five ticks.
    let axis_y = y + 4.0;
    svg += &format!("<line x1=\"{left}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#555\"/>\n", left + plot_w);
    for k in 0..=4 {
        let t = span * k as f64 / 4.0;
        let x = left + plot_w * k as f64 / 4.0;
        svg += &format!(
            "<line x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#555\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            axis_y + 4.0,
            axis_y + 16.0,
            crate::util::human_duration(t)
        );
    }
    Some(svg + "</svg>\n")
}

/// The resource table: one row per stage of the run.
pub fn resources_html(traces: &[StageTrace]) -> String {
    let mut out = String::from(
        "<table class=\"awmt-table\" id=\"resources-table\">\n<thead><tr><th>stage</th><th>status</th><th>attempts</th><th>wall</th><th>CPU</th><th>peak RSS</th><th>written</th><th>where</th></tr></thead>\n<tbody>\n",
    );
    for t in traces {
        let measured = t.status == "ran" || t.status == "failed";
        let cells = [
            escape(&t.stage),
            escape(&t.status),
            t.attempts.to_string(),
            if measured { crate::util::human_duration(t.seconds) } else { "-".into() },
            t.cpu_seconds.map(crate::util::human_duration).unwrap_or_else(|| "-".into()),
            t.max_rss.map(crate::util::human_bytes).unwrap_or_else(|| "-".into()),
            if t.bytes_written > 0 { crate::util::human_bytes(t.bytes_written) } else { "-".into() },
            escape(&lane(t)),
        ];
        out += "<tr>";
        for (i, c) in cells.iter().enumerate() {
            out += &format!("<td{}>{c}</td>", if (2..7).contains(&i) { " class=\"num\"" } else { "" });
        }
        out += "</tr>\n";
    }
    out + "</tbody></table>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, group: &str, up: &[&str], status: &str) -> GraphStage {
        GraphStage { name: name.into(), group: group.into(), kind: "command".into(), upstream: up.iter().map(|s| s.to_string()).collect(), status: status.into() }
    }

    #[test]
    fn foreach_groups_fold_and_names_are_escaped() {
        let stages = vec![
            stage("data", "data", &[], "cached"),
            stage("fit[1]", "fit", &["data"], "ran"),
            stage("fit[2]", "fit", &["data"], "failed"),
            stage("<b>", "<b>", &["fit[1]", "fit[2]"], "skipped"),
        ];
        let svg = graph_svg(&stages);
        assert_eq!(svg.matches("class=\"stage\"").count(), 3, "{svg}");
        assert!(svg.contains("fit ×2"));
        assert!(svg.contains("data-status=\"failed\""), "a group shows its worst member");
        assert_eq!(svg.matches("class=\"edge\"").count(), 2, "data→fit and fit→<b>, once each");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }

    #[test]
    fn timeline_stacks_overlapping_stages_and_skips_cached_ones() {
        let t = |stage: &str, s: f64, e: f64, status: &str| StageTrace {
            stage: stage.into(),
            status: status.into(),
            start: s,
            end: e,
            seconds: e - s,
            cpu_seconds: Some(1.0),
            max_rss: Some(1 << 20),
            bytes_written: 10,
            attempts: 1,
            executor: "local".into(),
            gpus: None,
            run: "r".into(),
            ..Default::default()
        };
        let traces = vec![t("a", 0.0, 4.0, "ran"), t("b", 1.0, 2.0, "ran"), t("c", 4.0, 5.0, "ran"), t("d", 5.0, 5.0, "cached")];
        let svg = timeline_svg(&traces).unwrap();
        assert_eq!(svg.matches("class=\"bar\"").count(), 3, "{svg}");
        // a and c share a row; b overlaps a and goes below: two rows' worth of y positions.
        let ys: std::collections::BTreeSet<&str> = svg.split("<rect x=\"").skip(1).filter_map(|r| r.split("y=\"").nth(1)).map(|r| r.split('"').next().unwrap()).collect();
        assert_eq!(ys.len(), 2, "{svg}");
        assert!(timeline_svg(&traces[3..]).is_none());
        let table = resources_html(&traces);
        assert_eq!(table.matches("<tr>").count(), 4 + 1);
        assert!(table.contains("1.0 MiB"));
    }
}
