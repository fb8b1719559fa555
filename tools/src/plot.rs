//! A small SVG bar chart of a comparison: one group of bars per phase, each
//! bar's height relative to the best engine in that phase (for rates the
//! highest is best; for times and sizes, the lowest).

use crate::shared::Row;

const COLORS: [&str; 8] = [
    "#2e7d32", "#1565c0", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#455a64",
];

/// A figure where higher is better: the rate, or the inverse of a time or
/// a size.
fn score(row: &Row) -> f64 {
    let value = row.measure.value();
    if row.measure.higher_is_better() {
        value
    } else {
        1.0 / value
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart of `results`, one (engine name, rows) pair per engine, all with
/// the same phases in the same order; at least one engine.
pub fn svg(results: &[(&str, &[Row])]) -> String {
    assert!(!results.is_empty(), "a chart of no engine");
    let phases = results[0].1.len();
    let (group_w, bar_h, left, top) = (60.0, 200.0, 60.0, 40.0);
    let bar_w = group_w / (results.len() as f64 + 1.0);
    let width = left + group_w * phases as f64 + 40.0;
    let height = top + bar_h + 170.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">oakmap bench: each phase relative to its best engine (taller is better)</text>\n"
    );
    for i in 0..phases {
        let best = results
            .iter()
            .map(|(_, rows)| score(&rows[i]))
            .fold(0.0, f64::max);
        let x0 = left + group_w * i as f64;
        for (e, (_, rows)) in results.iter().enumerate() {
            let h = bar_h * score(&rows[i]) / best.max(f64::MIN_POSITIVE);
            let x = x0 + bar_w * e as f64;
            let y = top + bar_h - h;
            s += &format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\n",
                bar_w * 0.9,
                COLORS[e % COLORS.len()]
            );
        }
        let label_y = top + bar_h + 10.0;
        s += &format!(
            "<text transform=\"translate({:.1},{label_y:.1}) rotate(60)\">{}</text>\n",
            x0 + 4.0,
            escape(&results[0].1[i].phase)
        );
    }
    for (e, (name, _)) in results.iter().enumerate() {
        let y = top + 14.0 * e as f64;
        let x = width - 110.0;
        s += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>",
            y - 9.0,
            COLORS[e % COLORS.len()]
        );
        s += &format!(
            "<text x=\"{}\" y=\"{y}\">{}</text>\n",
            x + 14.0,
            escape(name)
        );
    }
    s + "</svg>\n"
}
