//! `featurescope experiment …`: each experiment's results written beside
//! the dataset, then shown as a summary and a chart in the terminal.
use super::output::print_json;
use anyhow::Result;
use featurescope::experiment::{Scatter, agreement};
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};
use std::path::Path;

pub fn ratings(dataset: &Path, json: bool) -> Result<()> {
    let (summary, figure, folder) = agreement::run(dataset)?;
    if json {
        return print_json(&summary);
    }
    let rho = summary.spearman.map_or(
        "undefined (fewer than two pairs, or one side constant)".into(),
        |r| format!("{r:.3}"),
    );
    println!(
        "score against rating: Spearman's rho = {rho}, n = {} rated scores",
        summary.n
    );
    if summary.undefined_scores > 0 {
        println!(
            "  ({} rated scores with an undefined score left out)",
            summary.undefined_scores
        );
    }
    for level in &summary.by_rating {
        println!(
            "  rating {}: {:>4} scores, mean score {:.3}",
            level.rating, level.n, level.mean_score
        );
    }
    if summary.n > 0 {
        for line in chart_lines(&figure, 72, 20) {
            println!("{line}");
        }
    }
    println!(
        "points.csv, summary.json and figure.svg in {}",
        printable(&folder.display().to_string())
    );
    Ok(())
}

/// The scatter drawn by ratatui's chart into a `width`×`height` grid of
/// cells, as lines of text.
fn chart_lines(figure: &Scatter, width: u16, height: u16) -> Vec<String> {
    let labels = |(low, high): (f64, f64)| {
        vec![
            Line::from(format!("{low:.1}")),
            Line::from(format!("{:.1}", (low + high) / 2.0)),
            Line::from(format!("{high:.1}")),
        ]
    };
    let points = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Scatter)
        .data(&figure.points);
    let chart = Chart::new(vec![points])
        .x_axis(
            Axis::default()
                .title(figure.x_label.as_str())
                .bounds([figure.x_bounds.0, figure.x_bounds.1])
                .labels(labels(figure.x_bounds)),
        )
        .y_axis(
            Axis::default()
                .title(figure.y_label.as_str())
                .bounds([figure.y_bounds.0, figure.y_bounds.1])
                .labels(labels(figure.y_bounds)),
        );
    let area = Rect::new(0, 0, width, height);
    let mut buffer = Buffer::empty(area);
    chart.render(area, &mut buffer);
    (0..height)
        .map(|y| {
            let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
            line.trim_end().to_owned()
        })
        .collect()
}
