//! Δm, the standard multi-task summary (Maninis et al., CVPR 2019; docs/STATISTICS.md):
//! the mean relative gain of a multi-task method over the single-task baseline across the M
//! attributes, Δm = (100 / M) Σ_j (−1)^{l_j} (M_m,j − M_b,j) / M_b,j, l_j = 1 where lower is
//! better. Accuracies are higher-is-better, so here l_j = 0. Positive Δm: the multi-task method
//! beats the separate models.

/// Δm in percent of `method` over `baseline` (per-attribute accuracies in the same order) over
/// the attributes where both have a value and the baseline's is non-zero; `None` when none do.
pub fn delta_m(method: &[Option<f64>], baseline: &[Option<f64>]) -> Option<f64> {
    let gains: Vec<f64> = method
        .iter()
        .zip(baseline)
        .filter_map(|(m, b)| match (m, b) {
            (Some(m), Some(b)) if *b != 0.0 => Some((m - b) / b),
            _ => None,
        })
        .collect();
    (!gains.is_empty()).then(|| 100.0 * gains.iter().sum::<f64>() / gains.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_gain_by_hand() {
        // (0.9 − 0.8)/0.8 = 0.125, (0.6 − 0.75)/0.75 = −0.2; the third attribute has no baseline.
        let d = delta_m(&[Some(0.9), Some(0.6), Some(0.7)], &[Some(0.8), Some(0.75), None]).unwrap();
        assert!((d - 100.0 * (0.125 - 0.2) / 2.0).abs() < 1e-12, "{d}");
        assert_eq!(delta_m(&[Some(0.5)], &[Some(0.5)]), Some(0.0));
        assert_eq!(delta_m(&[None], &[Some(0.5)]), None);
    }
}
