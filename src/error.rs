//! Errors a kernel can report (docs/behaviour.md#errors). The binding layer turns every
//! one into a `ValueError`; the messages are written here so that they read the same
//! from every kernel.

use std::fmt;

/// Why a kernel refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// The map holds NaN or ±inf where a colour level is needed
    /// (docs/behaviour.md#levels, docs/behaviour.md#errors).
    NonFinite {
        /// How many values of the map (or batch) are not finite.
        count: usize,
        /// Flat batch index, row and column of the first one in row-major order.
        first: (usize, usize, usize),
        /// The batch axes' lengths (empty for a single map), to name the map.
        batch_shape: Vec<usize>,
    },
    /// Two arrays that must agree in shape do not.
    ShapeMismatch {
        what: &'static str,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A `value_range=(low, high)` that gives maps of the type `float` no finite,
    /// positive width (docs/behaviour.md#levels).
    InvalidValueRange {
        low: f64,
        high: f64,
        /// numpy's name of the map's float type.
        float: &'static str,
        problem: RangeProblem,
    },
}

/// What is wrong with a `value_range` ([`KernelError::InvalidValueRange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeProblem {
    /// `low` or `high` is NaN or ±inf.
    NotFinite,
    /// `low >= high`.
    NotIncreasing,
    /// `low` or `high` rounds to ±inf in the map's type.
    BeyondType,
    /// `high − low` overflows the map's type.
    TooWide,
    /// `low` and `high` round to the same value of the map's type.
    Empty,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NonFinite {
                count,
                first: (b, y, x),
                batch_shape,
            } => {
                let noun = if *count == 1 { "value" } else { "values" };
                write!(
                    f,
                    "anomaly_map must be finite, but it contains {count} NaN/±inf {noun}; the first is at "
                )?;
                match batch_shape.len() {
                    0 => {}
                    1 => write!(f, "map {b}, ")?,
                    _ => {
                        let index: Vec<String> = unravel(*b, batch_shape)
                            .iter()
                            .map(usize::to_string)
                            .collect();
                        write!(f, "map ({}), ", index.join(", "))?;
                    }
                }
                write!(f, "row {y}, column {x}")
            }
            KernelError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what} must have shape {expected:?}, got {found:?}"),
            KernelError::InvalidValueRange {
                low,
                high,
                float,
                problem,
            } => {
                write!(f, "value_range ({low:?}, {high:?}) ")?;
                match problem {
                    RangeProblem::NotFinite => write!(f, "must hold two finite numbers"),
                    RangeProblem::NotIncreasing => write!(f, "must have low < high"),
                    RangeProblem::BeyondType => write!(
                        f,
                        "does not fit a {float} map: a bound is beyond {float}'s range"
                    ),
                    RangeProblem::TooWide => write!(
                        f,
                        "is too wide for a {float} map: high - low overflows {float}; \
                         use a narrower range"
                    ),
                    RangeProblem::Empty => write!(
                        f,
                        "is empty for a {float} map: low and high round to the same \
                         {float} value; use a wider range"
                    ),
                }
            }
        }
    }
}

impl std::error::Error for KernelError {}

/// The multi-index of flat index `flat` in an array of `shape` (row-major).
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &n) in index.iter_mut().zip(shape).rev() {
        *i = flat % n.max(1);
        flat /= n.max(1);
    }
    index
}

impl KernelError {
    /// Names the map of a non-finite error by its index in `batch_shape` (the batch
    /// axes of the caller's array) instead of its flat position.
    ///
    /// ```
    /// use anomaly_postprocess::KernelError;
    /// let flat = KernelError::NonFinite { count: 1, first: (5, 0, 2), batch_shape: vec![6] };
    /// let named = flat.with_batch_shape(&[2, 3]);
    /// assert!(named.to_string().contains("map (1, 2), row 0, column 2"), "{named}");
    /// ```
    pub fn with_batch_shape(self, batch_shape: &[usize]) -> Self {
        match self {
            KernelError::NonFinite {
                count,
                first,
                batch_shape: flat,
            } if !flat.is_empty() => KernelError::NonFinite {
                count,
                first,
                batch_shape: batch_shape.to_vec(),
            },
            other => other,
        }
    }
}

/// Checks that `found` equals `expected`, naming `what` otherwise.
pub(crate) fn check_shape(
    what: &'static str,
    expected: &[usize],
    found: &[usize],
) -> Result<(), KernelError> {
    if expected == found {
        Ok(())
    } else {
        Err(KernelError::ShapeMismatch {
            what,
            expected: expected.to_vec(),
            found: found.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_map_by_its_batch_index() {
        let err = KernelError::NonFinite {
            count: 2,
            first: (5, 1, 2),
            batch_shape: vec![6],
        };
        assert!(err.to_string().ends_with("map 5, row 1, column 2"));
        let err = err.with_batch_shape(&[2, 3]);
        assert!(err.to_string().ends_with("map (1, 2), row 1, column 2"));
        assert_eq!(unravel(0, &[4]), vec![0]);
    }
}
