//! Holm's step-down correction for testing several attributes at once
//! (docs/STATISTICS.md): with p-values sorted p_(1) ≤ … ≤ p_(M), the adjusted
//! p_(k) = max over l ≤ k of min(1, (M − l + 1) · p_(l)). It controls the family-wise error rate
//! at the chosen level without assuming the tests independent.

/// Holm-adjusted p-values, in the order of `p`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusted_by_hand() {
        // Sorted: 0.01 (×4 = 0.04), 0.02 (×3 = 0.06), 0.03 (×2 = 0.06), 0.5 (×1 = 0.5).
        let adj = holm(&[0.03, 0.5, 0.01, 0.02]);
        let want = [0.06, 0.5, 0.04, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        // The running maximum: a smaller raw p later in the order cannot lower the adjusted one,
        // and nothing exceeds 1.
        let adj = holm(&[0.04, 0.045, 0.9]);
        assert!((adj[0] - 0.12).abs() < 1e-15 && (adj[1] - 0.12).abs() < 1e-15 && adj[2] == 0.9, "{adj:?}");
        assert_eq!(holm(&[0.7, 0.6]), [1.0, 1.0]);
        assert_eq!(holm(&[0.7]), [0.7]);
        assert!(holm(&[]).is_empty());
    }
}
