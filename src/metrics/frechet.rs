//! Fréchet distance between two sets of feature vectors, each summarised by a Gaussian
//! (mean mu, covariance S):
//!
//!   FD = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2))
//!
//! tr((S_1 S_2)^(1/2)) is computed as tr((S_1^(1/2) S_2 S_1^(1/2))^(1/2)): the matrix inside is
//! symmetric positive semi-definite, so both square roots come from symmetric eigendecompositions
//! (nalgebra's `SymmetricEigen`), with rounding-negative eigenvalues clamped to zero. f64
//! throughout.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Mean and covariance (unbiased, divided by n - 1) of a set of feature vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub dim: usize,
    pub n: usize,
    pub mean: Vec<f64>,
    /// Row-major dim x dim.
    pub cov: Vec<f64>,
}

impl FeatureStats {
    /// `features`: n rows of `dim` values. n = 0 gives zero mean and covariance; n = 1 a zero
    /// covariance.
    pub fn from_features(features: &[f32], dim: usize) -> Self {
        assert!(dim > 0 && features.len().is_multiple_of(dim), "features must be whole rows of {dim} values");
        let n = features.len() / dim;
        let mut mean = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        for m in &mut mean {
            *m /= n.max(1) as f64;
        }
        let mut cov = vec![0.0f64; dim * dim];
        let mut centred = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = v as f64 - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                if ci == 0.0 {
                    continue;
                }
                let out = &mut cov[i * dim..(i + 1) * dim];
                for (o, &cj) in out.iter_mut().zip(&centred) {
                    *o += ci * cj;
                }
            }
        }
        let denom = n.saturating_sub(1).max(1) as f64;
        for c in &mut cov {
            *c /= denom;
        }
        FeatureStats { dim, n, mean, cov }
    }

    fn cov_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim, self.dim, &self.cov)
    }
}

/// Square root of a symmetric positive semi-definite matrix (negative eigenvalues, which only
/// rounding produces, count as 0).
fn sqrt_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let sym = (&m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots =
        DVector::from_iterator(eig.eigenvalues.len(), eig.eigenvalues.iter().map(|&l| l.max(0.0).sqrt()));
    let u = eig.eigenvectors;
    &u * DMatrix::from_diagonal(&roots) * u.transpose()
}

/// The Fréchet distance between the Gaussians fitted to two feature sets (>= 0).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    assert_eq!(a.dim, b.dim, "feature sets of different sizes");
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let (s1, s2) = (a.cov_matrix(), b.cov_matrix());
    let root1 = sqrt_psd(s1.clone());
    let inner = &root1 * &s2 * &root1;
    let inner = (&inner + inner.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(inner).eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    (mean_term + s1.trace() + s2.trace() - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn identical_sets_are_at_distance_zero() {
        let mut rng = SplitMix64::new(1);
        let x: Vec<f32> = (0..300 * 5).map(|_| rng.normal() as f32).collect();
        let s = FeatureStats::from_features(&x, 5);
        assert!(frechet_distance(&s, &s) < 1e-9);
    }

    #[test]
    fn closed_form_for_diagonal_gaussians() {
        // FD of N(m1, diag(s1^2)) and N(m2, diag(s2^2)) = sum (m1-m2)^2 + (s1-s2)^2.
        let a = FeatureStats { dim: 2, n: 2, mean: vec![0.0, 1.0], cov: vec![4.0, 0.0, 0.0, 1.0] };
        let b = FeatureStats { dim: 2, n: 2, mean: vec![3.0, 1.0], cov: vec![1.0, 0.0, 0.0, 9.0] };
        let want = 9.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9, "{}", frechet_distance(&a, &b));
        // Symmetric.
        assert!((frechet_distance(&b, &a) - want).abs() < 1e-9);
    }

    #[test]
    fn non_commuting_covariances() {
        // S1 = [[2,1],[1,2]], S2 = I: tr((S1)^(1/2)) = sqrt(3) + 1, FD = tr S1 + 2 - 2 (sqrt 3 + 1).
        let a = FeatureStats { dim: 2, n: 2, mean: vec![0.0; 2], cov: vec![2.0, 1.0, 1.0, 2.0] };
        let b = FeatureStats { dim: 2, n: 2, mean: vec![0.0; 2], cov: vec![1.0, 0.0, 0.0, 1.0] };
        let want = 4.0 + 2.0 - 2.0 * (3f64.sqrt() + 1.0);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9);
    }

    #[test]
    fn sample_covariance_is_unbiased() {
        let s = FeatureStats::from_features(&[1.0, 2.0, 3.0, 4.0], 1);
        assert_eq!(s.mean, vec![2.5]);
        assert!((s.cov[0] - 5.0 / 3.0).abs() < 1e-12);
    }
}
