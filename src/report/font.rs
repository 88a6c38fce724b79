//! The bundled font (DejaVu Sans, assets/DejaVuSans.ttf) registered with plotters once, so
//! figures render the same text on machines without any installed fonts.

use std::sync::OnceLock;

use anyhow::{bail, Result};
use plotters::style::{register_font, FontStyle};

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name figures ask for.
pub const FAMILY: &str = "sans-serif";

/// Registers the bundled font for every style figures use (idempotent, thread-safe).
pub fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic]
            .into_iter()
            .all(|style| register_font(FAMILY, style, DEJAVU_SANS).is_ok())
    });
    if !ok {
        bail!("the bundled font assets/DejaVuSans.ttf could not be loaded");
    }
    Ok(())
}
