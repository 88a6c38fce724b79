//! Reporting: tables (CSV/Markdown/HTML), figures, the HTML report.
