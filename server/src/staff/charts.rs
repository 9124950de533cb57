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
    let (step, top_tick) = ticks(w.total);
    let top = top_tick as f64;
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
    // Axes and gridlines, at whole numbers of orgs.
    for n in (0..=top_tick).step_by(usize::try_from(step).unwrap_or(1)) {
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
    // The latest point as a dot, so a wave's first day (one point) shows.
    if let Some((d, n)) = w.series.last() {
        let _ = write!(
            s,
            r##"<circle class="latest" cx="{cx:.1}" cy="{cy:.1}" r="4" fill="#0b5cab"><title>{d}: {n} remaining</title></circle>"##,
            cx = x(*d),
            cy = y(*n)
        );
    }
    s.push_str("</svg>");
    s
}

/// The y-axis step and top tick for `total` orgs: at most five steps of 1, 2 or 5 × 10ⁿ, so the
/// axis reads 0, 1, 2, 3 or 0, 5, 10, 15 — never 0, 2, 3.
pub(crate) fn ticks(total: u64) -> (u64, u64) {
    let total = total.max(1);
    let mut magnitude = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let step = m.saturating_mul(magnitude);
            if total.div_ceil(step) <= 5 {
                return (step, total.div_ceil(step) * step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// A job's progress: changed, skipped and failed orgs and those still to do, each labelled.
pub(crate) fn progress_bar(done: u64, skipped: u64, failed: u64, left: u64, width: f64) -> String {
    labelled_bar(
        &[
            ("changed", "#1b7f3b", done),
            ("skipped (nothing to do)", "#9aa5b1", skipped),
            ("failed", "#b3261e", failed),
            ("not yet", "#eef1f5", left),
        ],
        width,
        "the job's orgs: changed, skipped, failed and not yet done",
    )
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
    let parts: Vec<(&str, &str, u64)> = parts
        .iter()
        .map(|(state, n)| (state.as_str(), state_colour(state), *n))
        .collect();
    labelled_bar(&parts, width, "orgs by state")
}

/// One stacked bar of `(label, colour, count)` parts, each with its label and count as a tooltip.
fn labelled_bar(parts: &[(&str, &str, u64)], width: f64, aria: &str) -> String {
    let total: u64 = parts.iter().map(|p| p.2).sum();
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="bar" viewBox="0 0 {width} 14" width="{width}" height="14" role="img" aria-label="{}">"##,
        esc(aria)
    );
    if total == 0 {
        let _ = write!(
            s,
            r##"<rect width="{width}" height="14" rx="3" fill="#eef1f5"/>"##
        );
    }
    let mut x = 0.0;
    for (label, colour, n) in parts {
        if *n == 0 {
            continue;
        }
        let w = *n as f64 / total.max(1) as f64 * width;
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" width="{w:.2}" height="14" fill="{colour}"><title>{}: {n}</title></rect>"##,
            esc(label)
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
    fn the_y_axis_ticks_are_whole_even_steps() {
        assert_eq!(ticks(3), (1, 3));
        assert_eq!(ticks(1), (1, 1));
        assert_eq!(ticks(7), (2, 8));
        assert_eq!(ticks(12), (5, 15));
        assert_eq!(ticks(100), (20, 100));
        assert_eq!(ticks(0), (1, 1));
    }

    #[test]
    fn the_burn_down_labels_its_axis_with_every_step() {
        let w = WaveProgress {
            name: "w".into(),
            starts_at: None,
            deadline: None,
            paused: false,
            total: 3,
            remaining: 3,
            by_state: Default::default(),
            series: vec![],
        };
        let svg = burn_down(&w, Utc::now());
        let labels: Vec<&str> = svg
            .split(r##"fill="#5b6675">"##)
            .skip(1)
            .map(|t| t.split('<').next().unwrap())
            .filter(|t| t.parse::<u64>().is_ok())
            .collect();
        assert_eq!(labels, ["0", "1", "2", "3"]);
    }

    #[test]
    fn the_burn_down_on_a_waves_first_day_draws_a_visible_dot() {
        let today = Utc::now();
        let w = WaveProgress {
            name: "w".into(),
            starts_at: Some(today),
            deadline: Some(today + chrono::Duration::days(14)),
            paused: false,
            total: 3,
            remaining: 3,
            by_state: Default::default(),
            series: vec![(today.date_naive(), 3)],
        };
        let svg = burn_down(&w, today);
        assert!(svg.contains(r#"<circle class="latest""#), "{svg}");
    }

    #[test]
    fn the_job_bar_is_labelled_changed_skipped_failed() {
        let svg = progress_bar(2, 1, 1, 0, 480.0);
        for label in ["changed: 2", "skipped (nothing to do): 1", "failed: 1"] {
            assert!(svg.contains(label), "{label} missing from {svg}");
        }
        assert!(!svg.contains("verified"), "{svg}");
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
