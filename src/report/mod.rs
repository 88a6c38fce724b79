//! Reporting: the published baselines, tables (CSV/Markdown/HTML), figures (PNG/SVG with a bundled
//! font) and the HTML report page.

pub mod baselines;
pub mod figures;
pub mod font;
pub mod html;
pub mod tables;
