//! Small dense numerics for the gradient methods' M-dimensional subproblems (M ≤ a few dozen):
//! Euclidean projection onto the probability simplex, the min-norm point of a convex hull by
//! Frank–Wolfe, a linear solve with partial pivoting, and a symmetric eigen-decomposition by
//! cyclic Jacobi rotations. Everything row-major f64.

use super::Gram;

/// Euclidean projection of `v` onto {x ≥ 0, Σx = 1} (sort-based, Held et al. / Duchi et al.).
pub fn project_simplex(v: &[f64]) -> Vec<f64> {
    let mut u: Vec<f64> = v.to_vec();
    u.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let mut cum = 0.0;
    let mut theta = 0.0;
    for (i, ui) in u.iter().enumerate() {
        cum += ui;
        let t = (cum - 1.0) / (i + 1) as f64;
        if ui - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

/// argmin over γ ∈ [0, 1] of |γ a + (1−γ) b|² given a·a, a·b, b·b (Sener & Koltun, Alg. 1).
pub fn min_norm_2(aa: f64, ab: f64, bb: f64) -> f64 {
    let denom = aa + bb - 2.0 * ab;
    if !(denom > 1e-300) {
        // a = b (or both zero): every γ gives the same point.
        return 0.5;
    }
    ((bb - ab) / denom).clamp(0.0, 1.0)
}

/// The min-norm point of the convex hull of the gradients: argmin_{α ∈ simplex} αᵀKα, by
/// Frank–Wolfe with exact line search started from the best pair (Sener & Koltun 2018, Alg. 2;
/// LibMTL's 250 iterations and 1e-5 stopping change).
pub fn min_norm_simplex(gram: &Gram) -> Vec<f64> {
    let m = gram.m;
    if m == 1 {
        return vec![1.0];
    }
    // Start: the best of the pairwise solutions (exact for 2 tasks).
    let mut best = (f64::INFINITY, 0, 1, 0.5);
    for i in 0..m {
        for j in i + 1..m {
            let g = min_norm_2(gram.at(i, i), gram.at(i, j), gram.at(j, j));
            let v = g * g * gram.at(i, i) + 2.0 * g * (1.0 - g) * gram.at(i, j) + (1.0 - g) * (1.0 - g) * gram.at(j, j);
            if v < best.0 {
                best = (v, i, j, g);
            }
        }
    }
    let mut alpha = vec![0.0; m];
    alpha[best.1] = best.3;
    alpha[best.2] = 1.0 - best.3;
    if m == 2 {
        return alpha;
    }
    for _ in 0..250 {
        // Vertex minimising the linearisation: the task with the smallest g_t·d.
        let kd = gram.times(&alpha);
        let t = (0..m).min_by(|&a, &b| kd[a].partial_cmp(&kd[b]).unwrap_or(std::cmp::Ordering::Equal)).unwrap_or(0);
        // Line search between d = Σ α g and g_t: d·d, d·g_t, g_t·g_t.
        let dd = gram.quad(&alpha);
        let g = min_norm_2(dd, kd[t], gram.at(t, t));
        let mut next: Vec<f64> = alpha.iter().map(|a| g * a).collect();
        next[t] += 1.0 - g;
        let change: f64 = next.iter().zip(&alpha).map(|(a, b)| (a - b).abs()).sum();
        alpha = next;
        if change < 1e-5 {
            break;
        }
    }
    alpha
}

/// Solves A x = b (A n×n row-major) by Gaussian elimination with partial pivoting; None when a
/// pivot's magnitude is at most `tol` (singular for practical purposes at the caller's scale).
pub fn solve(a: &[f64], b: &[f64], tol: f64) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<f64> = a.to_vec();
    let mut x: Vec<f64> = b.to_vec();
    if a.iter().any(|v| !v.is_finite()) {
        return None;
    }
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| m[i * n + col].abs().partial_cmp(&m[j * n + col].abs()).unwrap_or(std::cmp::Ordering::Equal))?;
        if m[piv * n + col].abs() <= tol {
            return None;
        }
        if piv != col {
            for k in 0..n {
                m.swap(piv * n + k, col * n + k);
            }
            x.swap(piv, col);
        }
        for r in col + 1..n {
            let f = m[r * n + col] / m[col * n + col];
            if f != 0.0 {
                for k in col..n {
                    m[r * n + k] -= f * m[col * n + k];
                }
                x[r] -= f * x[col];
            }
        }
    }
    for col in (0..n).rev() {
        let s: f64 = (col + 1..n).map(|k| m[col * n + k] * x[k]).sum();
        x[col] = (x[col] - s) / m[col * n + col];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Eigenvalues and eigenvectors of a symmetric n×n matrix by cyclic Jacobi rotations: returns
/// (values, vectors) with vectors[i*n + k] the i-th component of the k-th eigenvector, unsorted.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m[i * n + j] * m[i * n + j]).sum();
        let total: f64 = m.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let mkp = m[k * n + p];
                    let mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let mpk = m[p * n + k];
                    let mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i * n + i]).collect(), v)
}

/// Whether `a` and `b` agree entry by entry within `tol` (the gradient methods' unit tests, here
/// and in awmt-torch, whose tests cannot see this crate's `cfg(test)` items).
pub fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplex_projection_by_hand() {
        assert_eq!(project_simplex(&[0.2, 0.8]), vec![0.2, 0.8]);
        // (2, 0) → (1, 0); (0.5, 0.5, 0.5) → thirds.
        assert_eq!(project_simplex(&[2.0, 0.0]), vec![1.0, 0.0]);
        let p = project_simplex(&[0.5, 0.5, 0.5]);
        assert!(p.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12), "{p:?}");
    }

    #[test]
    fn solve_and_singular() {
        let x = solve(&[2.0, 1.0, 1.0, 3.0], &[3.0, 5.0], 1e-12).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 2.0], 1e-12).is_none());
        assert!(solve(&[0.0; 4], &[1.0, 2.0], 1e-12).is_none());
    }

    #[test]
    fn jacobi_eigen_by_hand() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, vectors (1, −1)/√2 and (1, 1)/√2.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut s = vals.clone();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert!((s[0] - 1.0).abs() < 1e-12 && (s[1] - 3.0).abs() < 1e-12, "{vals:?}");
        for k in 0..2 {
            // A v = λ v.
            let (x, y) = (vecs[k], vecs[2 + k]);
            assert!((2.0 * x + y - vals[k] * x).abs() < 1e-12 && (x + 2.0 * y - vals[k] * y).abs() < 1e-12);
        }
    }
}
