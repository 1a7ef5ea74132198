//! Robust statistics: medians and median absolute deviations, which a few extreme windows
//! cannot drag along the way a mean and a standard deviation would.

/// Factor that makes the MAD estimate the standard deviation of normal data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// Median of the values (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

/// Centre and spread of a reference sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub median: f64,
    /// MAD scaled to a standard deviation, never below the feature's minimum spread.
    pub spread: f64,
}

impl Location {
    /// Robust location of `values`, with `min_spread` as the floor of the spread.
    pub fn of(values: &[f64], min_spread: f64) -> Self {
        let centre = median(values);
        let deviations: Vec<f64> = values.iter().map(|value| (value - centre).abs()).collect();
        let spread = (MAD_TO_SIGMA * median(&deviations)).max(min_spread);
        Self { median: centre, spread }
    }

    /// How many spreads `value` lies above the median; 0 at or below it (only excess is
    /// suspicious: fewer failures than usual is not an alert).
    pub fn excess(&self, value: f64) -> f64 {
        ((value - self.median) / self.spread).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_ignore_outliers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let location = Location::of(&[1.0, 2.0, 3.0, 4.0, 1000.0], 0.1);
        assert_eq!(location.median, 3.0);
        assert!((location.spread - MAD_TO_SIGMA).abs() < 1e-9);
        assert_eq!(location.excess(0.0), 0.0);
        assert!(Location::of(&[0.0, 0.0, 0.0], 0.5).excess(1.0) == 2.0);
    }
}
