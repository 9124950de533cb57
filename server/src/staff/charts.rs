//! Server-rendered SVG charts: the burn-down, the funnel and stacked state bars. Plain SVG with
//! presentation attributes (no inline CSS, which the Content-Security-Policy forbids); every
//! text is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use domain::staff::dashboard::{Stage, WaveProgress};

/// The colour of each org state, shared by every chart and the legend.
pub(crate) fn state_colour(state: &str) -> &'static str {
    match state {
        "pending" => "#9aa5b1",
        "notified" => "#7aa7d8",
        "opened" => "#3f7fd0",
        "consented" => "#37a56f",
        "verified" => "#1b7f3b",
        "legacy_retired" => "#0e5a2b",
        "needs_attention" => "#d98c00",
        "needs_reauth" => "#b3261e",
        _ => "#c8ccd2",
    }
}

/// Text for SVG markup, escaped as the templates escape it.
pub(crate) fn esc(s: &str) -> String {
    match askama::filters::escape(s, askama::filters::Html) {
        Ok(escaped) => escaped.to_string(),
        Err(never) => match never {},
    }
}

const W: f64 = 560.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Orgs remaining per day against the ideal line from the wave's start (all orgs) to its
/// deadline (none), with today and the deadline marked.
pub(crate) fn burn_down(w: &WaveProgress, now: DateTime<Utc>) -> String {
    let today = now.date_naive();
    let start = w
        .starts_at
        .map(|s| s.date_naive())
        .or_else(|| w.series.first().map(|p| p.0))
        .unwrap_or(today);
    let deadline = w.deadline.map(|d| d.date_naive());
    let end = [Some(today), deadline, w.series.last().map(|p| p.0)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(today)
        .max(start + chrono::Duration::days(1));
    let span = (end - start).num_days().max(1) as f64;
    let top = w.total.max(1) as f64;
    let x = |d: NaiveDate| LEFT + (d - start).num_days() as f64 / span * (W - LEFT - RIGHT);
    let y = |n: u64| TOP + (1.0 - n as f64 / top) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart burn" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-labelledby="bd-{id}"><title id="bd-{id}">Burn-down of wave {name}: {rem} of {total} orgs remaining</title>"##,
        id = esc(&w.name).replace(' ', "-"),
        name = esc(&w.name),
        rem = w.remaining,
        total = w.total
    );
    // Axes and gridlines.
    for frac in [0.0, 0.5, 1.0] {
        let n = (top * frac).round() as u64;
        let yy = y(n);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e8ee"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="#5b6675">{n}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 6.0,
            ty = yy + 4.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="{by}" font-size="11" fill="#5b6675">{start}</text><text x="{ex}" y="{by}" font-size="11" fill="#5b6675" text-anchor="end">{end}</text>"##,
        by = H - 10.0,
        ex = W - RIGHT,
    );
    // The ideal line: everyone at the start, no one at the deadline.
    if let Some(d) = deadline {
        let _ = write!(
            s,
            r##"<line class="ideal" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="#9aa5b1" stroke-width="1.5" stroke-dasharray="5 4"/>"##,
            x1 = x(start),
            y1 = y(w.total),
            x2 = x(d),
            y2 = y(0)
        );
        let _ = write!(
            s,
            r##"<line x1="{xd:.1}" x2="{xd:.1}" y1="{TOP}" y2="{yb}" stroke="#b3261e" stroke-width="1"/><text x="{xt:.1}" y="{ty}" font-size="11" fill="#b3261e" text-anchor="end">deadline {d}</text>"##,
            xd = x(d),
            yb = H - BOTTOM,
            xt = x(d) - 4.0,
            ty = TOP + 10.0,
        );
    }
    if today >= start && today <= end {
        let _ = write!(
            s,
            r##"<line x1="{xt:.1}" x2="{xt:.1}" y1="{TOP}" y2="{yb}" stroke="#5b6675" stroke-dasharray="2 3"/>"##,
            xt = x(today),
            yb = H - BOTTOM
        );
    }
    // What actually happened.
    if !w.series.is_empty() {
        let mut pts = String::new();
        for (d, n) in &w.series {
            let _ = write!(pts, "{:.1},{:.1} ", x(*d), y(*n));
        }
        let _ = write!(
            s,
            r##"<polyline class="actual" points="{}" fill="none" stroke="#0b5cab" stroke-width="2.5" stroke-linejoin="round"/>"##,
            pts.trim_end()
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars: how many orgs reached each stage, with the share of all.
pub(crate) fn funnel(stages: &[Stage]) -> String {
    let first = stages.first().map_or(0, |s| s.count).max(1) as f64;
    let row = 30.0;
    let h = row * stages.len() as f64 + 8.0;
    let label_w = 90.0;
    let bar_w = W - label_w - 120.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart funnel" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="Funnel from pending to retired">"##
    );
    for (i, st) in stages.iter().enumerate() {
        let yy = 4.0 + i as f64 * row;
        let frac = st.count as f64 / first;
        let width = (frac * bar_w).max(if st.count > 0 { 2.0 } else { 0.0 });
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty:.1}" font-size="13" fill="#1d2733" text-anchor="end">{label}</text><rect x="{label_w}" y="{yy:.1}" width="{width:.1}" height="{bh}" rx="3" fill="{fill}"/><text x="{cx:.1}" y="{ty:.1}" font-size="13" fill="#1d2733">{count} ({pct:.0}%)</text>"##,
            lx = label_w - 8.0,
            ty = yy + 16.0,
            label = esc(st.label),
            bh = row - 8.0,
            fill = state_colour(if st.label == "retired" {
                "legacy_retired"
            } else {
                st.label
            }),
            cx = label_w + width + 8.0,
            count = st.count,
            pct = frac * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

/// One stacked bar of orgs by state (in the given order), `width` pixels wide.
pub(crate) fn state_bar(parts: &[(String, u64)], width: f64) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="bar" viewBox="0 0 {width} 14" width="{width}" height="14" role="img" aria-label="orgs by state">"##
    );
    if total == 0 {
        let _ = write!(
            s,
            r##"<rect width="{width}" height="14" rx="3" fill="#eef1f5"/>"##
        );
    }
    let mut x = 0.0;
    for (state, n) in parts {
        if *n == 0 {
            continue;
        }
        let w = *n as f64 / total.max(1) as f64 * width;
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" width="{w:.2}" height="14" fill="{}"><title>{}: {n}</title></rect>"##,
            state_colour(state),
            esc(state)
        );
        x += w;
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_charts_is_escaped() {
        let w = WaveProgress {
            name: "<script>alert(1)</script>".into(),
            starts_at: None,
            deadline: None,
            paused: false,
            total: 3,
            remaining: 1,
            by_state: Default::default(),
            series: vec![],
        };
        let svg = burn_down(&w, Utc::now());
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&#60;script&#62;"), "{svg}");
    }

    #[test]
    fn the_burn_down_draws_the_ideal_line_to_the_deadline() {
        let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = WaveProgress {
            name: "w1".into(),
            starts_at: Some(start),
            deadline: Some(start + chrono::Duration::days(30)),
            paused: false,
            total: 100,
            remaining: 40,
            by_state: Default::default(),
            series: (0..10)
                .map(|i| {
                    (
                        start.date_naive() + chrono::Duration::days(i),
                        100 - 6 * i as u64,
                    )
                })
                .collect(),
        };
        let svg = burn_down(&w, start + chrono::Duration::days(9));
        assert!(svg.contains(r#"class="ideal""#));
        assert!(svg.contains("deadline 2026-12-01"));
        // Ten points on the actual line.
        let pts = svg
            .split(r#"points=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(pts.split(' ').count(), 10);
    }

    #[test]
    fn funnel_bars_shrink_with_the_stages() {
        let svg = funnel(&[
            Stage {
                label: "pending",
                count: 100,
            },
            Stage {
                label: "notified",
                count: 50,
            },
        ]);
        assert!(svg.contains("100 (100%)"));
        assert!(svg.contains("50 (50%)"));
    }
}
