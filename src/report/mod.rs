//! Reporting: the published baselines, the comparison tables (`comparison`), the files the results
//! kinds exchange (`files`), tables as CSV/Markdown/HTML, figures (PNG/SVG with a bundled font)
//! and the HTML report page.

pub mod baselines;
pub mod comparison;
pub mod dag;
pub mod figures;
pub mod files;
pub mod font;
pub mod html;
pub mod tables;
