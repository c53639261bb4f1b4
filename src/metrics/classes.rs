//! Mode coverage: which class the classifier sees in each image, the histogram of those classes
//! and its entropy. Pure CPU code on read-back logits (argmax on the device would need a
//! readback of its own, and burn's `one_hot` reads synchronously, which wasm cannot do).

/// Argmax of each row of `logits` (n rows of `classes` values). Ties go to the lower class; a
/// row with NaN gives the first class whose value is not below all others.
pub fn predicted_classes(logits: &[f32], classes: usize) -> Vec<usize> {
    assert!(
        classes > 0 && logits.len().is_multiple_of(classes),
        "logits must be whole rows of {classes} values"
    );
    logits
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = k;
                }
            }
            best
        })
        .collect()
}

/// Counts of each class in a list of predictions.
pub fn histogram_of(predictions: &[usize], classes: usize) -> Vec<usize> {
    let mut h = vec![0usize; classes];
    for &p in predictions {
        h[p] += 1;
    }
    h
}

/// Shannon entropy of the histogram, in nats (natural log). 0 when every image is of one class;
/// ln(10) = 2.303 for ten equally frequent classes. Divide by ln 2 for bits.
pub fn entropy_nats(histogram: &[usize]) -> f64 {
    let total: usize = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let h = -histogram
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / t;
            p * p.ln()
        })
        .sum::<f64>();
    // One class gives -0.0 (shown as "-0.000"): report a plain 0.
    h.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_histogram_entropy() {
        let logits =
            [0.1, 2.0, -1.0, /**/ 5.0, 1.0, 1.0, /**/ 0.0, 0.0, 3.0, /**/ 1.0, 1.0, 0.0];
        assert_eq!(predicted_classes(&logits, 3), vec![1, 0, 2, 0]);
        assert_eq!(histogram_of(&predicted_classes(&logits, 3), 3), vec![2, 1, 1]);
        assert_eq!(entropy_nats(&[5, 0, 0]), 0.0);
        assert!((entropy_nats(&[1; 10]) - 10f64.ln()).abs() < 1e-12);
        assert!((entropy_nats(&[2, 2]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(entropy_nats(&[]), 0.0);
    }
}
