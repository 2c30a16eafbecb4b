//! Charts drawn on the server as inline SVG: readable without JavaScript,
//! printable, and themed by the stylesheet (series carry classes, never
//! colours, so dark mode and print follow `app.css`). Hand-written rather
//! than a plotting crate: a few dozen elements each, and no inline styles
//! for the CSP to refuse. Every text from data is escaped here.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 42.0;
const PLOT_H: f64 = H - TOP - BOTTOM;

/// Chart markup for a template (`|safe`: built here, data escaped).
#[derive(Debug, Clone, Default)]
pub struct Svg(pub String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One named series of values, one per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<i64>,
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round top for the y axis: 1, 2 or 5 times a power of ten.
fn nice_max(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step *= 10;
    }
}

fn open(out: &mut String, title: &str, kind: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart chart-{kind}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
}

/// The y axis with three gridlines, and the category labels below.
fn axes(out: &mut String, top: i64, labels: &[String]) {
    let plot_h = PLOT_H;
    for i in 0..=2 {
        let v = top * i / 2;
        let y = H - BOTTOM - plot_h * i as f64 / 2.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{v}</text>",
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0
        );
    }
    let slot = slot(labels);
    // Long runs of labels (weeks) show every other one.
    let every = if labels.len() > 16 { 2 } else { 1 };
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{x:.1}\" y=\"{y}\" text-anchor=\"middle\">{}</text>",
            esc(&shorten(l, slot)),
            y = H - BOTTOM + 14.0
        );
    }
}

/// A label cut to what fits its slot (about 6 px a character).
fn shorten(label: &str, slot: f64) -> String {
    let fits = ((slot / 6.2) as usize).max(3);
    if label.chars().count() <= fits {
        label.to_string()
    } else {
        let cut: String = label.chars().take(fits.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn legend(out: &mut String, names: &[&str], classes: &[&str]) {
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x:.1}\" y=\"{y}\" width=\"10\" height=\"10\"/>\
             <text class=\"legend\" x=\"{tx:.1}\" y=\"{ty}\">{}</text>",
            classes.get(i).copied().unwrap_or("s0"),
            esc(name),
            y = H - 16.0,
            tx = x + 14.0,
            ty = H - 7.0
        );
        x += 22.0 + 6.5 * name.chars().count() as f64;
    }
}

const CLASSES: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];

/// The width of one category's slot.
fn slot(categories: &[String]) -> f64 {
    (W - LEFT - RIGHT) / categories.len().max(1) as f64
}

fn highest(series: &[Series<'_>]) -> i64 {
    series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
}

/// The opening tag, title, axes and labels every chart shares.
fn frame(title: &str, kind: &str, top: i64, categories: &[String]) -> String {
    let mut out = String::new();
    open(&mut out, title, kind);
    axes(&mut out, top, categories);
    out
}

/// The legend and the closing tag.
fn finish(mut out: String, series: &[Series<'_>], classes: &[&str]) -> Svg {
    legend(
        &mut out,
        &series.iter().map(|s| s.name).collect::<Vec<_>>(),
        classes,
    );
    out.push_str("</svg>");
    Svg(out)
}

/// Bars stacked by series for each category (age buckets by queue).
pub fn stacked_bars(title: &str, categories: &[String], series: &[Series<'_>]) -> Svg {
    stacked_bars_in(title, categories, series, &CLASSES)
}

/// [`stacked_bars`] with a class per series (breached in the warning colour).
pub fn stacked_bars_in(
    title: &str,
    categories: &[String],
    series: &[Series<'_>],
    classes: &[&str],
) -> Svg {
    let totals: Vec<i64> = (0..categories.len())
        .map(|c| {
            series
                .iter()
                .map(|s| s.values.get(c).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().copied().max().unwrap_or(0));
    let mut out = frame(title, "stacked", top, categories);
    let (plot_h, slot) = (PLOT_H, slot(categories));
    let width = (slot * 0.7).min(48.0);
    for (c, category) in categories.iter().enumerate() {
        let x = LEFT + slot * (c as f64 + 0.5) - width / 2.0;
        let mut base = H - BOTTOM;
        for (i, s) in series.iter().enumerate() {
            let v = s.values.get(c).copied().unwrap_or(0);
            if v <= 0 {
                continue;
            }
            let h = plot_h * v as f64 / top as f64;
            base -= h;
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{x:.1}\" y=\"{base:.1}\" width=\"{width:.1}\" \
                 height=\"{h:.1}\"><title>{} · {}: {v}</title></rect>",
                classes.get(i).copied().unwrap_or("s0"),
                esc(category),
                esc(s.name)
            );
        }
    }
    finish(out, series, classes)
}

/// Bars side by side per category (median and p90 by queue).
pub fn grouped_bars(title: &str, categories: &[String], series: &[Series<'_>]) -> Svg {
    let top = nice_max(highest(series));
    let mut out = frame(title, "grouped", top, categories);
    let (plot_h, slot) = (PLOT_H, slot(categories));
    let n = series.len().max(1) as f64;
    let width = (slot * 0.8 / n).min(28.0);
    for (c, category) in categories.iter().enumerate() {
        let start = LEFT + slot * (c as f64 + 0.5) - width * n / 2.0;
        for (i, s) in series.iter().enumerate() {
            let v = s.values.get(c).copied().unwrap_or(0).max(0);
            let h = plot_h * v as f64 / top as f64;
            let _ = write!(
                out,
                "<rect class=\"s{i}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" \
                 height=\"{h:.1}\"><title>{} · {}: {v}</title></rect>",
                esc(category),
                esc(s.name),
                x = start + width * i as f64,
                y = H - BOTTOM - h
            );
        }
    }
    finish(out, series, &CLASSES)
}

/// Lines over categories in order (weeks).
pub fn lines(title: &str, categories: &[String], series: &[Series<'_>]) -> Svg {
    let top = nice_max(highest(series));
    let mut out = frame(title, "lines", top, categories);
    let (plot_h, slot) = (PLOT_H, slot(categories));
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let x = LEFT + slot * (c as f64 + 0.5);
                let y = H - BOTTOM - plot_h * (*v).max(0) as f64 / top as f64;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"l{i}\" fill=\"none\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            esc(s.name)
        );
        for (c, p) in points.iter().enumerate() {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                out,
                "<circle class=\"s{i}\" cx=\"{x}\" cy=\"{y}\" r=\"2.5\"><title>{} · {}: {}</title></circle>",
                esc(categories.get(c).map_or("", String::as_str)),
                esc(s.name),
                s.values[c]
            );
        }
    }
    finish(out, series, &CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_names_and_scale_to_a_round_top() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(120), 200);
        let svg = stacked_bars(
            "Open by age",
            &["<script>".to_string(), "ops".to_string()],
            &[
                Series {
                    name: "<1d",
                    values: vec![1, 2],
                },
                Series {
                    name: ">4w",
                    values: vec![3, 0],
                },
            ],
        )
        .0;
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert_eq!(
            svg.matches("<rect class=\"s").count(),
            3 + 2,
            "three bars and two legend keys"
        );
        let l = lines(
            "Flow",
            &["w1".into(), "w2".into()],
            &[Series {
                name: "created",
                values: vec![1, 4],
            }],
        )
        .0;
        assert!(l.contains("<polyline class=\"l0\""));
        assert!(
            !l.contains("style="),
            "no inline style for the CSP to refuse"
        );
    }
}
