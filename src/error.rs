//! Errors a kernel can report. The binding layer turns every one into a `ValueError`.

use std::fmt;

/// Why a kernel refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// The map holds NaN or ±inf where a colour level is needed (SPEC §1, Decisions).
    NonFinite {
        /// How many values of the map (or batch) are not finite.
        count: usize,
        /// Batch index, row and column of the first one in row-major order.
        first: (usize, usize, usize),
        /// Whether the input was a batch, so the message can say "map b".
        batched: bool,
    },
    /// Two arrays that must agree in shape do not.
    ShapeMismatch {
        what: &'static str,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NonFinite {
                count,
                first: (b, y, x),
                batched,
            } => {
                let noun = if *count == 1 { "value" } else { "values" };
                write!(
                    f,
                    "anomaly_map must be finite, but it contains {count} NaN/±inf {noun}; the first is at "
                )?;
                if *batched {
                    write!(f, "map {b}, ")?;
                }
                write!(f, "row {y}, column {x}")
            }
            KernelError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what} must have shape {expected:?}, got {found:?}"),
        }
    }
}

impl std::error::Error for KernelError {}

impl From<crate::levels::NonFiniteValues> for KernelError {
    fn from(e: crate::levels::NonFiniteValues) -> Self {
        KernelError::NonFinite {
            count: e.count,
            first: (0, e.first.0, e.first.1),
            batched: false,
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
