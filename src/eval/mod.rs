//! Evaluation: predictions, per-attribute and example-based metrics, significance tests.
