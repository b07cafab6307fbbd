//! The Insights graphs (`docs/figures.md#insights-graphs`): active chats per day as three
//! lines (DAU and the 7- and 30-day actives), and video downloads per day stacked by
//! platform or surface. They share the line charts' layout: the plot is planned from the
//! highest values per day (the 30-day line, the stacked total), then the lines or areas and
//! a legend are painted over the same grid, axes and fonts.

use tiny_skia::{ColorU8, FillRule, LineCap, LineJoin, PathBuilder, Pixmap, Stroke};

use super::plan::{Chart, Plan};
use super::raster::{self, Anchor, Style, centred, draw_axes, draw_grid, draw_text, rule, solid};
use super::ticks::{format_time, group_digits};
use super::{Error, HEIGHT, INK, LABEL_SIZE, LINE, MARGIN, Result, WIDTH};
use crate::domain::{
    ActivitySeries, ChatType, DAY, GraphKind, Period, Series, Split, StackedSeries,
};

/// Colours of the lines and areas, in order.
const PALETTE: [ColorU8; 7] = [
    LINE,
    ColorU8::from_rgba(0xff, 0x7f, 0x0e, 0xff),
    ColorU8::from_rgba(0x2c, 0xa0, 0x2c, 0xff),
    ColorU8::from_rgba(0xd6, 0x27, 0x28, 0xff),
    ColorU8::from_rgba(0x94, 0x67, 0xbd, 0xff),
    ColorU8::from_rgba(0x8c, 0x56, 0x4b, 0xff),
    ColorU8::from_rgba(0x7f, 0x7f, 0x7f, 0xff),
];

/// At most this many parts are stacked; the smaller ones are summed as `other`.
const MAX_PARTS: usize = 6;

fn who(chat: ChatType) -> &'static str {
    match chat {
        ChatType::Users => "Users",
        ChatType::Groups => "Groups",
        ChatType::All => "All Chats",
    }
}

/// A plan for daily values whose highest per day is `envelope`, with our own texts.
fn plan(
    start: i64,
    envelope: Vec<i64>,
    title: String,
    details: Option<String>,
    y_desc: &str,
) -> Result<(Plan, &'static raster::Fonts)> {
    let fonts = raster::fonts()?;
    let n = envelope.len() as i64;
    let series = Series {
        kind: GraphKind::Videos,
        period: Period::Month,
        start,
        bucket: DAY,
        points: envelope,
    };
    let mut plan = Plan::new(&series, fonts)?;
    plan.title = title;
    let range = format!(
        "{} – {} UTC",
        format_time("%-d %b %Y", start)?,
        format_time("%-d %b %Y", start + (n - 1).max(0) * DAY)?
    );
    plan.subtitle = match (details, &plan.chart) {
        (Some(d), Some(_)) => format!("{d}   ·   {range}"),
        _ => range,
    };
    if let Some(c) = plan.chart.as_mut() {
        c.y_desc = y_desc.to_string();
    }
    Ok((plan, fonts))
}

fn new_pixmap() -> Result<Pixmap> {
    let mut p = Pixmap::new(WIDTH, HEIGHT)
        .ok_or_else(|| Error::Render(format!("cannot allocate a {WIDTH}×{HEIGHT} image")))?;
    p.fill(tiny_skia::Color::WHITE);
    Ok(p)
}

/// The frame of a chart without data, as the line charts draw it.
fn empty_frame(pixmap: &mut Pixmap) {
    let (l, r) = (MARGIN, WIDTH as f32 - MARGIN);
    let (t, b) = (super::PLOT_TOP, HEIGHT as f32 - MARGIN);
    let grey = super::GRID;
    rule(pixmap, (l, t), (r, t), grey);
    rule(pixmap, (l, b), (r, b), grey);
    rule(pixmap, (l, t), (l, b), grey);
    rule(pixmap, (r, t), (r, b), grey);
}

/// The legend, right-aligned above the plot: a swatch and a name per entry.
fn legend(pixmap: &mut Pixmap, fonts: &raster::Fonts, c: &Chart, entries: &[(ColorU8, String)]) {
    let style = Style::new(&fonts.regular, LABEL_SIZE);
    let y = c.top - 14.0;
    let mut x = c.right;
    for (color, name) in entries.iter().rev() {
        style.draw(pixmap, name, x, y + style.cap / 2.0, INK, Anchor::Right);
        x -= style.width(name) + 8.0;
        if let Some(rect) = tiny_skia::Rect::from_xywh(x - 18.0, y - 5.0, 18.0, 10.0) {
            pixmap.fill_rect(
                rect,
                &solid(*color, 1.0),
                tiny_skia::Transform::identity(),
                None,
            );
        }
        x -= 18.0 + 22.0;
    }
}

/// Renders active chats per day: DAU, 7-day and 30-day actives as three lines.
///
/// # Errors
/// [`Error::Render`] when the fonts, the dates or the PNG encoder fail.
pub fn render_activity_png(a: &ActivitySeries) -> Result<Vec<u8>> {
    let last = |v: &[i64]| v.last().copied().unwrap_or(0);
    let details = format!(
        "today {} · 7 days {} · 30 days {} active",
        group_digits(last(&a.dau)),
        group_digits(last(&a.wau)),
        group_digits(last(&a.mau))
    );
    let envelope: Vec<i64> = (0..a.mau.len())
        .map(|i| a.mau[i].max(a.wau[i]).max(a.dau[i]))
        .collect();
    let (plan, fonts) = plan(
        a.start,
        envelope,
        format!("Active Chats per Day · {}", who(a.chat)),
        Some(details),
        "active chats",
    )?;
    let mut pixmap = new_pixmap()?;
    match &plan.chart {
        Some(c) => {
            draw_grid(&mut pixmap, c, super::GRID);
            draw_axes(&mut pixmap, c);
            let lines = [
                (&a.mau, PALETTE[2], "30-day active"),
                (&a.wau, PALETTE[1], "7-day active"),
                (&a.dau, PALETTE[0], "active on the day (DAU)"),
            ];
            for (values, color, _) in lines {
                let mut pb = PathBuilder::new();
                for (i, &v) in values.iter().enumerate() {
                    let (x, y) = (c.px_x(a.start + i as i64 * DAY), c.px_y(v));
                    if i == 0 {
                        pb.move_to(x, y);
                    } else {
                        pb.line_to(x, y);
                    }
                }
                if let Some(path) = pb.finish() {
                    let stroke = Stroke {
                        width: 2.5,
                        line_cap: LineCap::Round,
                        line_join: LineJoin::Round,
                        ..Stroke::default()
                    };
                    pixmap.stroke_path(&path, &solid(color, 1.0), &stroke, centred(), None);
                }
            }
            let entries: Vec<(ColorU8, String)> = lines
                .iter()
                .rev()
                .map(|(_, c, n)| (*c, n.to_string()))
                .collect();
            legend(&mut pixmap, fonts, c, &entries);
        }
        None => empty_frame(&mut pixmap),
    }
    draw_text(&mut pixmap, &plan, fonts);
    super::raster::encode_png(&pixmap)
}

/// Renders video downloads per day stacked by platform or surface, the largest part at the
/// bottom; past six parts the rest are summed as `other`.
///
/// # Errors
/// [`Error::Render`] when the fonts, the dates or the PNG encoder fail.
pub fn render_stacked_png(s: &StackedSeries) -> Result<Vec<u8>> {
    let n = crate::domain::GRAPH_DAYS as usize;
    let mut parts: Vec<(String, Vec<i64>)> = s
        .parts
        .iter()
        .take(MAX_PARTS)
        .map(|(name, v)| {
            let name = if name.is_empty() { "unknown" } else { name };
            (name.to_string(), v.clone())
        })
        .collect();
    if s.parts.len() > MAX_PARTS {
        let mut other = vec![0; n];
        for (_, v) in &s.parts[MAX_PARTS..] {
            for (o, x) in other.iter_mut().zip(v) {
                *o += x;
            }
        }
        parts.push(("other".to_string(), other));
    }
    let totals: Vec<i64> = (0..n)
        .map(|i| {
            parts
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let sum: i64 = totals.iter().sum();
    let by = match s.split {
        Split::Platform => "Platform",
        Split::Surface => "Surface",
    };
    let (plan, fonts) = plan(
        s.start,
        totals,
        format!("Video Downloads by {by} · {}", who(s.chat)),
        Some(format!("{} videos downloaded", group_digits(sum))),
        "videos downloaded per day",
    )?;
    let mut pixmap = new_pixmap()?;
    match &plan.chart {
        Some(c) => {
            draw_grid(&mut pixmap, c, super::GRID);
            let mut below = vec![0i64; n];
            let mut entries = Vec::new();
            for (k, (name, values)) in parts.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()];
                let above: Vec<i64> = (0..n)
                    .map(|i| below[i] + values.get(i).copied().unwrap_or(0))
                    .collect();
                let x = |i: usize| c.px_x(s.start + i as i64 * DAY);
                let mut pb = PathBuilder::new();
                pb.move_to(x(0), c.px_y(above[0]));
                for (i, &v) in above.iter().enumerate().skip(1) {
                    pb.line_to(x(i), c.px_y(v));
                }
                for i in (0..n).rev() {
                    pb.line_to(x(i), c.px_y(below[i]));
                }
                pb.close();
                if let Some(path) = pb.finish() {
                    pixmap.fill_path(
                        &path,
                        &solid(color, 0.8),
                        FillRule::Winding,
                        centred(),
                        None,
                    );
                }
                entries.push((color, name.clone()));
                below = above;
            }
            draw_axes(&mut pixmap, c);
            legend(&mut pixmap, fonts, c, &entries);
        }
        None => empty_frame(&mut pixmap),
    }
    draw_text(&mut pixmap, &plan, fonts);
    super::raster::encode_png(&pixmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_772_582_400 - 29 * DAY;

    fn keep(name: &str, png: &[u8]) {
        if let Some(dir) = std::env::var_os("TT_STATS_KEEP_GRAPH") {
            std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
        }
    }

    #[test]
    fn activity_and_stacked_graphs_render() {
        let dau: Vec<i64> = (0..30).map(|i| 300 + (i * 37 % 90)).collect();
        let wau: Vec<i64> = (0..30).map(|i| 1_200 + i * 8).collect();
        let mau: Vec<i64> = (0..30).map(|i| 1_500 + i * 12).collect();
        let a = ActivitySeries {
            chat: ChatType::All,
            start: START,
            dau,
            wau,
            mau,
        };
        let png = render_activity_png(&a).unwrap();
        let img = Pixmap::decode_png(&png).unwrap();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        keep("activity.png", &png);
        let parts = [
            "tiktok",
            "instagram",
            "",
            "youtube",
            "x",
            "reddit",
            "vk",
            "pin",
        ]
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let v = (0..30)
                .map(|i| (200 >> k) + (i * (k as i64 + 3)) % 40)
                .collect();
            (p.to_string(), v)
        })
        .collect();
        let st = StackedSeries {
            chat: ChatType::Users,
            split: Split::Platform,
            start: START,
            parts,
        };
        let png = render_stacked_png(&st).unwrap();
        keep("stacked.png", &png);
        let empty = StackedSeries {
            parts: vec![],
            ..st
        };
        keep("stacked-empty.png", &render_stacked_png(&empty).unwrap());
    }
}
