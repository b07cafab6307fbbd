//! Graphs (SPEC §4): renders a counted [`Series`] to a PNG line chart with an embedded font,
//! so it draws the same on a minimal container as on a desktop.

use crate::Result;
use crate::stats::Series;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 600;

/// Renders `series` as a PNG of [`WIDTH`]×[`HEIGHT`] pixels.
pub fn render_png(series: &Series) -> Result<Vec<u8>> {
    let _ = series;
    Err(crate::Error::Render("not implemented yet".into()))
}
