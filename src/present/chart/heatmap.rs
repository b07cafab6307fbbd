//! The retention heat map (`docs/figures.md#retention-heat-map`): weekly cohorts as rows,
//! weeks since registration as columns, each cell's share as a shade of blue and as a
//! number. Painted with the same fonts and primitives as the line charts.

use tiny_skia::{Color, ColorU8, Pixmap, Rect, Transform};

use super::raster::{self, Anchor, Style, rule, solid};
use super::{Error, GRID, HEIGHT, INK, MARGIN, MUTED, Result, SUBTITLE_SIZE, TITLE_SIZE, WIDTH};
use crate::domain::Retention;
use crate::domain::utc_date;
use crate::present::labels;

/// Left edge of the cells, in pixels: room for the cohorts' labels.
const CELLS_LEFT: f32 = 250.0;
/// Top edge of the cells, in pixels: room for the title, subtitle and column headings.
const CELLS_TOP: f32 = 150.0;
/// Cell text and labels, in pixels.
const CELL_SIZE: f32 = 15.0;
/// The darkest shade, for a share of 1.
const FULL: ColorU8 = ColorU8::from_rgba(0x1f, 0x4e, 0x9a, 0xff);
/// A cell whose cohort is empty.
const EMPTY_CELL: ColorU8 = ColorU8::from_rgba(0xf2, 0xf2, 0xf2, 0xff);

/// White mixed with [`FULL`] by `share` (0–1).
fn shade(share: f64) -> ColorU8 {
    let s = share.clamp(0.0, 1.0);
    let mix = |full: u8| (255.0 - (255.0 - f64::from(full)) * s).round() as u8;
    ColorU8::from_rgba(mix(FULL.red()), mix(FULL.green()), mix(FULL.blue()), 0xff)
}

/// The title of the heat map: `Weekly Retention · Users`.
pub fn retention_title(r: &Retention) -> String {
    format!(
        "Weekly Retention · {}",
        labels::chat_type_heading(r.chat).trim_start_matches(|c: char| !c.is_ascii_alphabetic())
    )
}

/// Renders `r` as a PNG of [`WIDTH`]×[`HEIGHT`] pixels.
///
/// # Errors
/// [`Error::Render`] when the fonts or the PNG encoder fail.
pub fn render_retention_png(r: &Retention) -> Result<Vec<u8>> {
    let fonts = raster::fonts()?;
    let mut pixmap = Pixmap::new(WIDTH, HEIGHT)
        .ok_or_else(|| Error::Render(format!("cannot allocate a {WIDTH}×{HEIGHT} image")))?;
    pixmap.fill(Color::WHITE);
    let title = Style::new(&fonts.bold, TITLE_SIZE);
    title.draw(
        &mut pixmap,
        &retention_title(r),
        MARGIN,
        22.0 + title.cap,
        INK,
        Anchor::Left,
    );
    let sub = Style::new(&fonts.regular, SUBTITLE_SIZE);
    sub.draw(
        &mut pixmap,
        "Share of each registration week's chats with a download in week 0, 1, 2, … after it (UTC weeks from Monday)",
        MARGIN,
        64.0 + sub.cap,
        MUTED,
        Anchor::Left,
    );
    let cols = r.cohorts.len().max(1);
    let rows = r.cohorts.len().max(1);
    let cell_w = ((WIDTH as f32 - MARGIN - CELLS_LEFT) / cols as f32).floor();
    let cell_h = ((HEIGHT as f32 - MARGIN - CELLS_TOP) / rows as f32).floor();
    let text = Style::new(&fonts.regular, CELL_SIZE);
    let bold = Style::new(&fonts.bold, CELL_SIZE);
    bold.draw(
        &mut pixmap,
        "cohort (chats)",
        CELLS_LEFT - 12.0,
        CELLS_TOP - 14.0,
        INK,
        Anchor::Right,
    );
    for k in 0..cols {
        let x = CELLS_LEFT + (k as f32 + 0.5) * cell_w;
        text.draw(
            &mut pixmap,
            &format!("week {k}"),
            x,
            CELLS_TOP - 14.0,
            MUTED,
            Anchor::Center,
        );
    }
    for (i, c) in r.cohorts.iter().enumerate() {
        let top = CELLS_TOP + i as f32 * cell_h;
        let middle = top + cell_h / 2.0 + text.cap / 2.0;
        text.draw(
            &mut pixmap,
            &format!("{} ({})", utc_date(c.start), c.size),
            CELLS_LEFT - 12.0,
            middle,
            INK,
            Anchor::Right,
        );
        for k in 0..c.retained.len() {
            let left = CELLS_LEFT + k as f32 * cell_w;
            let Some(rect) = Rect::from_xywh(left + 1.0, top + 1.0, cell_w - 2.0, cell_h - 2.0)
            else {
                continue;
            };
            let (fill, label) = match c.share(k) {
                Some(s) => (shade(s), format!("{:.0}%", s * 100.0)),
                None => (EMPTY_CELL, "–".to_string()),
            };
            // A light frame, so that a 0 % cell is still a cell on the white page.
            pixmap.fill_rect(rect, &solid(GRID, 1.0), Transform::identity(), None);
            if let Some(inner) = Rect::from_xywh(left + 2.0, top + 2.0, cell_w - 4.0, cell_h - 4.0)
            {
                pixmap.fill_rect(inner, &solid(fill, 1.0), Transform::identity(), None);
            }
            let dark = c.share(k).is_some_and(|s| s > 0.45);
            let ink = if dark {
                ColorU8::from_rgba(0xff, 0xff, 0xff, 0xff)
            } else {
                INK
            };
            text.draw(
                &mut pixmap,
                &label,
                left + cell_w / 2.0,
                middle,
                ink,
                Anchor::Center,
            );
        }
    }
    let bottom = CELLS_TOP + rows as f32 * cell_h;
    rule(
        &mut pixmap,
        (CELLS_LEFT, bottom),
        (CELLS_LEFT + cols as f32 * cell_w, bottom),
        GRID,
    );
    super::raster::encode_png(&pixmap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatType, Cohort, WEEK};

    #[test]
    fn a_heat_map_of_twelve_cohorts() {
        let start = 1_772_409_600 - 11 * WEEK;
        let cohorts = (0..12)
            .map(|i| Cohort {
                start: start + i * WEEK,
                size: if i == 3 { 0 } else { 40 + i },
                retained: (0..12 - i).map(|k| (40 - 3 * k).max(0)).collect(),
            })
            .collect();
        let r = Retention {
            chat: ChatType::Users,
            at: 1_772_631_135,
            cohorts,
        };
        let png = render_retention_png(&r).unwrap();
        let img = Pixmap::decode_png(&png).unwrap();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        if let Some(dir) = std::env::var_os("TT_STATS_KEEP_GRAPH") {
            std::fs::write(std::path::Path::new(&dir).join("retention.png"), &png).unwrap();
        }
    }

    #[test]
    fn shades_go_from_white_to_blue() {
        assert_eq!(shade(0.0), ColorU8::from_rgba(255, 255, 255, 255));
        assert_eq!(shade(1.0), FULL);
    }
}
