//! Mean ± standard deviation of one number measured over several seeds (runs sharing a method).

use serde::{Deserialize, Serialize};

/// Summary over seeds. `std` is the sample standard deviation (n − 1 denominator); `None` with a
/// single seed, where no spread can be estimated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverSeeds {
    pub mean: f64,
    pub std: Option<f64>,
    pub seeds: usize,
}

/// `None` for no values.
pub fn over_seeds(values: &[f64]) -> Option<OverSeeds> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(OverSeeds { mean, std, seeds: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std_by_hand() {
        // mean 0.9; deviations −0.02, 0, 0.02: variance 0.0008/2 = 0.0004, std 0.02.
        let s = over_seeds(&[0.88, 0.90, 0.92]).unwrap();
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(s.seeds, 3);
        let one = over_seeds(&[0.7]).unwrap();
        assert_eq!((one.mean, one.std), (0.7, None));
        assert_eq!(over_seeds(&[]), None);
    }
}
