//! Charts drawn as vector graphics: rectangles, lines and text, nothing rasterised.

use super::{Canvas, Face, GREY, LIGHT};

/// A series of a chart: a label, its colour and one value per category.
pub struct Series<'a> {
    pub label: &'a str,
    pub rgb: (f32, f32, f32),
    pub values: Vec<f64>,
}

/// A value axis maximum that reads well (1, 2 or 5 times a power of ten) and its tick step.
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|step| *step >= rough).unwrap_or(rough);
    let step = step.max(1.0);
    ((max / step).ceil() * step, step)
}

fn format_tick(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 10_000.0 {
        format!("{:.0}k", value / 1_000.0)
    } else {
        format!("{value:.0}")
    }
}

/// Draws the title, gridlines and value ticks of a chart whose plot area is `(x, bottom)`,
/// `width` by `height`; returns the axis maximum.
fn frame(canvas: &mut Canvas, title: &str, x: f32, bottom: f32, width: f32, height: f32, max: f64) -> f64 {
    canvas.text_at(x, bottom + height + 10.0, 9.5, Face::Bold, super::BLACK, title);
    let (axis_max, step) = nice_axis(max);
    let mut tick = 0.0;
    while tick <= axis_max + step / 2.0 {
        let y = bottom + (tick / axis_max) as f32 * height;
        canvas.hline(x + 30.0, x + width, y, LIGHT, 0.6);
        canvas.text_right(x + 26.0, y - 2.5, 6.5, Face::Regular, GREY, &format_tick(tick));
        tick += step;
    }
    axis_max
}

fn legend(canvas: &mut Canvas, x: f32, y: f32, series: &[Series<'_>]) {
    let mut pen = x;
    for entry in series {
        canvas.rect(pen, y, 7.0, 7.0, entry.rgb);
        canvas.text_at(pen + 10.0, y + 0.5, 7.0, Face::Regular, GREY, entry.label);
        pen += 18.0 + canvas.width(Face::Regular, 7.0, entry.label);
    }
}

/// Stacked columns, one per category, with the series stacked bottom up.
pub fn stacked_columns(
    canvas: &mut Canvas,
    title: &str,
    (x, top, width, height): (f32, f32, f32, f32),
    categories: &[String],
    series: &[Series<'_>],
) {
    let plot_bottom = top - height + 28.0;
    let plot_height = height - 52.0;
    let totals: Vec<f64> =
        (0..categories.len()).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let axis_max = frame(canvas, title, x, plot_bottom, width, plot_height, max);
    let plot_x = x + 32.0;
    let plot_width = width - 32.0;
    let n = categories.len().max(1);
    let slot = plot_width / n as f32;
    let bar = (slot * 0.7).max(0.5);
    let label_every = (n as f32 / (plot_width / 38.0)).ceil().max(1.0) as usize;
    for (i, category) in categories.iter().enumerate() {
        let bar_x = plot_x + slot * i as f32 + (slot - bar) / 2.0;
        let mut y = plot_bottom;
        for entry in series {
            let value = entry.values.get(i).copied().unwrap_or(0.0);
            if value > 0.0 {
                let h = (value / axis_max) as f32 * plot_height;
                canvas.rect(bar_x, y, bar, h, entry.rgb);
                y += h;
            }
        }
        if i % label_every == 0 {
            let label = canvas.fit(Face::Regular, 6.0, category, slot * label_every as f32 - 2.0);
            canvas.text_at(plot_x + slot * i as f32, plot_bottom - 9.0, 6.0, Face::Regular, GREY, &label);
        }
    }
    legend(canvas, x + 32.0, top - height + 4.0, series);
}

/// Lines, one per series, over the categories.
pub fn lines(
    canvas: &mut Canvas,
    title: &str,
    (x, top, width, height): (f32, f32, f32, f32),
    categories: &[String],
    series: &[Series<'_>],
) {
    let plot_bottom = top - height + 28.0;
    let plot_height = height - 52.0;
    let max = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max);
    let axis_max = frame(canvas, title, x, plot_bottom, width, plot_height, max);
    let plot_x = x + 32.0;
    let plot_width = width - 32.0;
    let n = categories.len().max(1);
    let slot = plot_width / n as f32;
    for entry in series {
        let points: Vec<(f32, f32)> = entry
            .values
            .iter()
            .enumerate()
            .map(|(i, value)| (plot_x + slot * (i as f32 + 0.5), plot_bottom + (value / axis_max) as f32 * plot_height))
            .collect();
        if points.len() == 1 {
            let (px, py) = points[0];
            canvas.rect(px - 1.5, py - 1.5, 3.0, 3.0, entry.rgb);
        }
        canvas.polyline(&points, entry.rgb, 1.4);
    }
    let label_every = (n as f32 / (plot_width / 38.0)).ceil().max(1.0) as usize;
    for (i, category) in categories.iter().enumerate().step_by(label_every) {
        let label = canvas.fit(Face::Regular, 6.0, category, slot * label_every as f32 - 2.0);
        canvas.text_at(plot_x + slot * i as f32, plot_bottom - 9.0, 6.0, Face::Regular, GREY, &label);
    }
    legend(canvas, x + 32.0, top - height + 4.0, series);
}

/// Horizontal bars, largest first, labelled with their names and values.
pub fn bars(
    canvas: &mut Canvas,
    title: &str,
    (x, top, width, height): (f32, f32, f32, f32),
    items: &[(String, u64)],
    rgb: (f32, f32, f32),
) {
    canvas.text_at(x, top - 10.0, 9.5, Face::Bold, super::BLACK, title);
    if items.is_empty() {
        canvas.text_at(x, top - 28.0, 8.0, Face::Regular, GREY, "No events in the period.");
        return;
    }
    let label_width = width * 0.42;
    let bar_x = x + label_width + 4.0;
    let bar_space = width - label_width - 40.0;
    let row = ((height - 20.0) / items.len() as f32).min(16.0);
    let max = items.iter().map(|(_, count)| *count).max().unwrap_or(1).max(1) as f32;
    for (i, (name, count)) in items.iter().enumerate() {
        let y = top - 22.0 - row * (i as f32 + 1.0) + 3.0;
        let label = canvas.fit(Face::Regular, 7.0, name, label_width - 4.0);
        canvas.text_at(x, y + 2.0, 7.0, Face::Regular, super::BLACK, &label);
        let w = (*count as f32 / max * bar_space).max(0.8);
        canvas.rect(bar_x, y, w, row * 0.65, rgb);
        canvas.text_at(bar_x + w + 3.0, y + 2.0, 7.0, Face::Regular, GREY, &count.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::nice_axis;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(93.0), (100.0, 50.0));
        let (max, step) = nice_axis(1234.0);
        assert!(max >= 1234.0 && (max / step) <= 5.0, "{max} {step}");
    }
}
