//! From map values to colour levels 0..=255 (docs/behaviour.md#levels): the map's
//! range, the level of a value, and whether values are finite. Every colour kernel
//! (portable or hand-written) gets its levels from the definitions here.
//!
//! anomalib computes, in the map's own float type,
//! `level = u8(((m - min) / ptp) * 255)` (or `u8(m * 255)` without normalisation).
//! The operations here are exactly those, one IEEE rounding each, in the same order:
//! a real division, never a multiply by a reciprocal, which changes the truncated level.
//! Where the reference is undefined we decide (docs/behaviour.md#levels):
//! values outside `[0, 256)` saturate to 0 or 255, a constant map gives level 0
//! (0/0 = NaN, which the saturating cast sends to 0), and NaN/±inf in the map are an error.
//! A caller-given `value_range=(low, high)` ([`Scaling::Fixed`]) runs the very same
//! min-max arithmetic with `low` and `high` rounded to the map's type
//! (docs/behaviour.md#levels).

use std::ops::{Add, Div, Mul, Sub};

use ndarray::{ArrayView2, Axis};

use crate::error::{KernelError, RangeProblem};
use crate::parallel::for_each_band;
use crate::rows::as_contiguous;
use crate::simd::{multiversioned, prefetch};

/// The float types a map is computed in: `f32` (float16 and float32 maps) and `f64`.
pub trait MapFloat:
    Copy
    + PartialOrd
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Div<Output = Self>
    + Mul<Output = Self>
    + 'static
{
    /// 255 in this type: the reference multiplies by the Python int 255.
    const FULL_SCALE: Self;
    /// numpy's name of this type, for messages.
    const NAME: &'static str;
    /// `v` rounded to this type (to nearest, ties to even; ±inf beyond its range), as
    /// numpy converts a Python float.
    fn from_f64(v: f64) -> Self;
    /// 0 in this type.
    const ZERO: Self;
    /// Whether the value is neither NaN nor ±inf.
    fn is_finite_value(self) -> bool;
    /// Truncation toward zero of a value in `[0, 255]` (not NaN).
    ///
    /// # Safety
    /// `self` must be in `[0, 255]`.
    unsafe fn truncate_in_range(self) -> u8;

    /// Truncation toward zero, saturating to `0..=255`; NaN gives 0 (what Rust's
    /// float-to-int `as` cast does), written so that it vectorises: LLVM scalarises
    /// the saturating cast, but not two selects and a plain truncating convert.
    #[inline(always)]
    fn saturating_level(self) -> u8 {
        let low = if self >= Self::ZERO { self } else { Self::ZERO }; // NaN fails: 0
        let clamped = if low <= Self::FULL_SCALE {
            low
        } else {
            Self::FULL_SCALE
        };
        // SAFETY: `clamped` is in [0, 255] and not NaN.
        unsafe { clamped.truncate_in_range() }
    }
    /// The largest value of this type that is `<= t` (`t` is not NaN).
    ///
    /// For a value `v` of this type, `v > t` (compared exactly) equals
    /// `v > Self::floor_from_f64(t)`, which lets `f32` maps compare in `f32`.
    fn floor_from_f64(t: f64) -> Self;

    /// The values and scale as `f32` when `Self` is `f32` (for hand-written SIMD).
    #[inline(always)]
    fn as_f32(values: &[Self], scale: LevelScale<Self>) -> Option<(&[f32], LevelScale<f32>)> {
        let _ = (values, scale);
        None
    }
}

impl MapFloat for f32 {
    const FULL_SCALE: Self = 255.0;
    const ZERO: Self = 0.0;
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32 // round to nearest, ties to even; ±inf beyond f32::MAX
    }
    #[inline(always)]
    fn as_f32(values: &[Self], scale: LevelScale<Self>) -> Option<(&[f32], LevelScale<f32>)> {
        Some((values, scale))
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    unsafe fn truncate_in_range(self) -> u8 {
        // SAFETY: the caller guarantees [0, 255], which i32 represents.
        unsafe { self.to_int_unchecked::<i32>() as u8 }
    }
    fn floor_from_f64(t: f64) -> Self {
        let nearest = t as f32; // round to nearest, ±inf beyond f32::MAX
        if f64::from(nearest) > t {
            nearest.next_down()
        } else {
            nearest
        }
    }
}

impl MapFloat for f64 {
    const FULL_SCALE: Self = 255.0;
    const ZERO: Self = 0.0;
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    unsafe fn truncate_in_range(self) -> u8 {
        // SAFETY: the caller guarantees [0, 255], which i32 represents.
        unsafe { self.to_int_unchecked::<i32>() as u8 }
    }
    fn floor_from_f64(t: f64) -> Self {
        t
    }
}

/// `v as u8` for an `f32`: truncation toward zero, saturating, NaN to 0 (vectorises).
///
/// ```
/// use anomaly_postprocess::levels::saturate_u8;
/// assert_eq!((saturate_u8(-3.0), saturate_u8(254.9), saturate_u8(1e9), saturate_u8(f32::NAN)), (0, 254, 255, 0));
/// ```
#[inline(always)]
pub fn saturate_u8(v: f32) -> u8 {
    v.saturating_level()
}

/// The smallest and largest value of a map that holds only finite values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapRange<T> {
    pub min: T,
    pub max: T,
}

/// Where a map is not finite: how many values, and the first one's (row, column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonFiniteValues {
    pub count: usize,
    pub first: (usize, usize),
}

// Here, not in `error`, so that `error` depends on no kernel module (levels uses error).
impl From<NonFiniteValues> for KernelError {
    fn from(e: NonFiniteValues) -> Self {
        KernelError::NonFinite {
            count: e.count,
            first: (0, e.first.0, e.first.1),
            batch_shape: Vec::new(),
        }
    }
}

/// One pass over the map: its range, or where its non-finite values are.
///
/// ```
/// use anomaly_postprocess::levels::{map_range, MapRange};
/// let m = ndarray::array![[0.5f32, 2.0], [-1.0, 0.0]];
/// assert_eq!(map_range(m.view()), Ok(MapRange { min: -1.0, max: 2.0 }));
/// let bad = ndarray::array![[0.5f64, f64::NAN]];
/// assert_eq!(map_range(bad.view()).unwrap_err().first, (0, 1));
/// ```
pub fn map_range<T: MapFloat>(map: ArrayView2<'_, T>) -> Result<MapRange<T>, NonFiniteValues> {
    let first = map[[0, 0]];
    let (rows, cols) = map.dim();
    // Bands of rows in parallel (docs/behaviour.md#threads); see `RangeLanes` for why
    // the result is that of one pass over all rows.
    let bands = for_each_band(rows, cols, map, |_, band| {
        let mut acc = RangeLanes::new(first);
        acc.add_rows(band, &mut Vec::new());
        acc
    });
    RangeLanes::finish(bands).ok_or_else(|| locate_non_finite(map))
}

/// Counts and locates the NaN/±inf values of a map (the slow path to an error).
///
/// ```
/// use anomaly_postprocess::levels::{locate_non_finite, NonFiniteValues};
/// let m = ndarray::array![[0.0f32, 1.0], [f32::INFINITY, f32::NAN]];
/// assert_eq!(locate_non_finite(m.view()), NonFiniteValues { count: 2, first: (1, 0) });
/// ```
pub fn locate_non_finite<T: MapFloat>(map: ArrayView2<'_, T>) -> NonFiniteValues {
    let mut count = 0;
    let mut first_at = None;
    for ((y, x), &v) in map.indexed_iter() {
        if !v.is_finite_value() {
            count += 1;
            first_at.get_or_insert((y, x));
        }
    }
    NonFiniteValues {
        count,
        first: first_at.unwrap_or((0, 0)),
    }
}

/// Whether every value of the row is finite: one multiply-add per value, vectorised
/// (`v · 0` is 0 for finite `v` and NaN for NaN and ±inf). Inlined into the colour
/// loops, so that it runs in their SIMD clones.
///
/// ```
/// use anomaly_postprocess::levels::row_is_finite;
/// assert!(row_is_finite(&[0.0f64, -1e308, 5e-324]));
/// assert!(!row_is_finite(&[0.0f32, f32::NEG_INFINITY]));
/// ```
#[inline(always)]
pub fn row_is_finite<T: MapFloat>(row: &[T]) -> bool {
    let mut poison = [T::ZERO; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (p, &v) in poison.iter_mut().zip(chunk) {
            *p = *p + v * T::ZERO;
        }
    }
    for (p, &v) in poison.iter_mut().zip(tail) {
        *p = *p + v * T::ZERO;
    }
    poison.iter().all(|&p| p == T::ZERO)
}

/// How a map's values become levels (docs/behaviour.md#levels): the options
/// `normalize=False`, `normalize=True` and `value_range=(low, high)`. A `bool` converts
/// to it (`normalize`), so the kernels take `impl Into<Scaling>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// `v · 255`.
    Raw,
    /// `(v − min) / (max − min) · 255` with each map's own minimum and maximum.
    MinMax,
    /// `(v − f(low)) / (f(high) − f(low)) · 255`, `f` rounding to the map's type: the
    /// min-max arithmetic with a range the caller fixes, the same for every map.
    Fixed { low: f64, high: f64 },
}

impl From<bool> for Scaling {
    fn from(normalize: bool) -> Self {
        if normalize {
            Scaling::MinMax
        } else {
            Scaling::Raw
        }
    }
}

impl Scaling {
    /// The scaling of the Python options: `value_range` when given (it takes
    /// precedence), else `normalize`.
    pub fn new(normalize: bool, value_range: Option<(f64, f64)>) -> Self {
        match value_range {
            Some((low, high)) => Scaling::Fixed { low, high },
            None => normalize.into(),
        }
    }

    /// Whether levels of this scaling need a pass over the map before the colouring
    /// pass: the map's range for [`Scaling::MinMax`]; for [`Scaling::Fixed`] its
    /// finiteness (the range pass is vectorised and reports like the colouring pass
    /// would; the colouring pass only checks with the raw scale).
    ///
    /// ```
    /// use anomaly_postprocess::levels::Scaling;
    /// assert!(!Scaling::Raw.needs_range_pass());
    /// assert!(Scaling::MinMax.needs_range_pass());
    /// assert!(Scaling::Fixed { low: 0.0, high: 2.0 }.needs_range_pass());
    /// ```
    pub fn needs_range_pass(self) -> bool {
        !matches!(self, Scaling::Raw)
    }

    /// Checks, without looking at any map, that this scaling can colour maps of type
    /// `T`: a fixed range must have a finite, positive width in `T`.
    pub fn check<T: MapFloat>(self) -> Result<(), KernelError> {
        match self {
            Scaling::Fixed { low, high } => LevelScale::<T>::fixed(low, high).map(|_| ()),
            Scaling::Raw | Scaling::MinMax => Ok(()),
        }
    }
}

/// The level scale of a map: for [`Scaling::MinMax`] from a range pass over it, which
/// also checks that it is finite; for [`Scaling::Fixed`] from the given range, after
/// the same pass (for its finiteness check; the colouring pass only checks with the
/// raw scale).
///
/// Without normalisation no pass is needed up front: the colouring pass checks the
/// values as it colours them, and reports with [`locate_non_finite`].
///
/// ```
/// use anomaly_postprocess::levels::{level_scale, LevelScale, Scaling};
/// let m = ndarray::array![[1.0f32, 3.0]];
/// assert_eq!(level_scale(m.view(), true), Ok(LevelScale::Normalized { min: 1.0, ptp: 2.0 }));
/// assert_eq!(level_scale(m.view(), false), Ok(LevelScale::Raw));
/// let fixed = Scaling::Fixed { low: 1.0, high: 3.0 };
/// assert_eq!(level_scale(m.view(), fixed), level_scale(m.view(), true));
/// let bad = ndarray::array![[f32::NAN]];
/// assert!(level_scale(bad.view(), true).is_err());
/// assert!(level_scale(bad.view(), fixed).is_err());
/// assert_eq!(level_scale(bad.view(), false), Ok(LevelScale::Raw)); // checked when colouring
/// ```
pub fn level_scale<T: MapFloat>(
    map: ArrayView2<'_, T>,
    scaling: impl Into<Scaling>,
) -> Result<LevelScale<T>, KernelError> {
    let scaling = scaling.into();
    // An unusable fixed range is the caller's error, whatever the map holds: first.
    scaling.check::<T>()?;
    let range = if scaling.needs_range_pass() {
        Some(map_range(map)?)
    } else {
        None
    };
    LevelScale::of(scaling, range)
}

/// Lanes the range scan keeps apart so that it vectorises.
const LANES: usize = 16;

/// The range scan of one band of rows: per-lane minimum, maximum and "poison" (the
/// sum of `v * 0`, which stays 0 while every value is finite and becomes NaN at the
/// first NaN or ±inf). [`map_range`] runs one per band; `crate::frame` runs one per
/// band of its first sweep, strip after strip, beside the passes that need no range.
///
/// Every band starts from the map's first value and [`RangeLanes::finish`] combines the
/// lanes in band order keeping the earlier value on ties, so each lane ends as in one
/// pass over all rows (down to the sign of a zero extreme): the range is the same for
/// every split into bands, and for every split of a band into consecutive rows.
pub(crate) struct RangeLanes<T> {
    min: [T; LANES],
    max: [T; LANES],
    poison: [T; LANES],
}

impl<T: MapFloat> RangeLanes<T> {
    /// A scan starting from `first`, the map's first value.
    pub(crate) fn new(first: T) -> Self {
        RangeLanes {
            min: [first; LANES],
            max: [first; LANES],
            poison: [T::ZERO; LANES],
        }
    }

    /// Folds in the rows of `rows`, in order (`scratch`: for rows that are not
    /// contiguous).
    pub(crate) fn add_rows(&mut self, rows: ArrayView2<'_, T>, scratch: &mut Vec<T>) {
        for row in rows.axis_iter(Axis(0)) {
            accumulate_range(as_contiguous(row, scratch), self);
        }
    }

    /// The range of the map whose bands, in order, gave `bands`; `None` if a value was
    /// not finite.
    pub(crate) fn finish(bands: Vec<Self>) -> Option<MapRange<T>> {
        let mut bands = bands.into_iter();
        let mut acc = bands.next().expect("at least one band");
        for band in bands {
            for (a, b) in acc.min.iter_mut().zip(band.min) {
                *a = if b < *a { b } else { *a };
            }
            for (a, b) in acc.max.iter_mut().zip(band.max) {
                *a = if b > *a { b } else { *a };
            }
            for (a, b) in acc.poison.iter_mut().zip(band.poison) {
                *a = *a + b;
            }
        }
        if !acc.poison.iter().all(|&p| p == T::ZERO) {
            return None;
        }
        let fold = |lanes: [T; LANES], pick: fn(T, T) -> bool| {
            lanes
                .into_iter()
                .fold(lanes[0], |a, b| if pick(b, a) { b } else { a })
        };
        Some(MapRange {
            min: fold(acc.min, |b, a| b < a),
            max: fold(acc.max, |b, a| b > a),
        })
    }
}

multiversioned! {
    /// Folds one row into the per-lane range and poison, compiled for each SIMD target.
    fn accumulate_range<T: MapFloat>(row: &[T], acc: &mut RangeLanes<T>) {
        // The lanes as locals and the chunks as fixed-size arrays, so that the lanes
        // live in vector registers: through `acc`, LLVM shuffled and stored them back
        // on every chunk, and the scan cost as much as the colour pass.
        let (mut min, mut max, mut poison) = (acc.min, acc.max, acc.poison);
        let chunks = row.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            prefetch::ahead_of(chunk);
            let chunk: &[T; LANES] = chunk.try_into().expect("chunks_exact");
            for i in 0..LANES {
                let v = chunk[i];
                min[i] = if v < min[i] { v } else { min[i] };
                max[i] = if v > max[i] { v } else { max[i] };
                poison[i] = poison[i] + v * T::ZERO;
            }
        }
        for (i, &v) in tail.iter().enumerate() {
            min[i] = if v < min[i] { v } else { min[i] };
            max[i] = if v > max[i] { v } else { max[i] };
            poison[i] = poison[i] + v * T::ZERO;
        }
        (acc.min, acc.max, acc.poison) = (min, max, poison);
    }
}

/// A colouring pass met a NaN/±inf value (details from [`locate_non_finite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFinite;

/// How values become levels: with the map's min-max normalisation or as they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LevelScale<T> {
    /// `(v - min) / ptp * 255`, with `ptp = max - min` computed in `T` like `np.ptp`.
    Normalized { min: T, ptp: T },
    /// `v * 255`.
    Raw,
}

impl<T: MapFloat> LevelScale<T> {
    /// The scale for a map with the given range.
    ///
    /// ```
    /// use anomaly_postprocess::levels::{LevelScale, MapRange};
    /// let range = MapRange { min: -1.0f64, max: 3.0 };
    /// assert_eq!(LevelScale::new(range, true), LevelScale::Normalized { min: -1.0, ptp: 4.0 });
    /// assert_eq!(LevelScale::new(range, false), LevelScale::Raw);
    /// ```
    pub fn new(range: MapRange<T>, normalize: bool) -> Self {
        if normalize {
            LevelScale::Normalized {
                min: range.min,
                ptp: range.max - range.min,
            }
        } else {
            LevelScale::Raw
        }
    }

    /// The scale of `scaling` for a map whose range is `range`: the one definition
    /// behind [`level_scale`], also for callers that colour one map with several
    /// scalings (`crate::frame`). Only [`Scaling::MinMax`] uses `range`; the caller
    /// still runs the range pass for a fixed range (its finiteness check,
    /// [`Scaling::needs_range_pass`]).
    ///
    /// ```
    /// use anomaly_postprocess::levels::{LevelScale, MapRange, Scaling};
    /// let range = Some(MapRange { min: 1.0f32, max: 3.0 });
    /// assert_eq!(LevelScale::of(Scaling::MinMax, range), Ok(LevelScale::Normalized { min: 1.0, ptp: 2.0 }));
    /// assert_eq!(LevelScale::of(Scaling::Raw, None), Ok(LevelScale::<f32>::Raw));
    /// assert_eq!(LevelScale::of(Scaling::Fixed { low: 0.0, high: 4.0 }, None),
    ///            Ok(LevelScale::Normalized { min: 0.0, ptp: 4.0 }));
    /// ```
    ///
    /// # Panics
    /// If `range` is `None` for [`Scaling::MinMax`] (a bug of the caller's).
    pub fn of(scaling: Scaling, range: Option<MapRange<T>>) -> Result<Self, KernelError> {
        match scaling {
            Scaling::Raw => Ok(LevelScale::Raw),
            Scaling::MinMax => Ok(LevelScale::new(
                range.expect("the map's range for a min-max scale"),
                true,
            )),
            Scaling::Fixed { low, high } => LevelScale::fixed(low, high),
        }
    }

    /// The scale of `value_range=(low, high)` for maps of type `T`: `min = f(low)` and
    /// `ptp = f(high) − f(low)` in `T`, exactly as [`LevelScale::new`] gets them from a
    /// map's range; so a range equal to a map's `(min, max)` gives that map's scale.
    /// `ptp` must be finite and positive in `T` (docs/behaviour.md#levels).
    ///
    /// ```
    /// use anomaly_postprocess::levels::LevelScale;
    /// assert_eq!(LevelScale::<f32>::fixed(0.25, 0.75), Ok(LevelScale::Normalized { min: 0.25, ptp: 0.5 }));
    /// assert!(LevelScale::<f32>::fixed(-3e38, 3e38).is_err()); // ptp overflows float32
    /// assert!(LevelScale::<f64>::fixed(-3e38, 3e38).is_ok());
    /// assert!(LevelScale::<f32>::fixed(1.0, 1.0 + 1e-9).is_err()); // no width in float32
    /// ```
    pub fn fixed(low: f64, high: f64) -> Result<Self, KernelError> {
        let (min, max) = (T::from_f64(low), T::from_f64(high));
        let ptp = max - min;
        let problem = if !low.is_finite() || !high.is_finite() {
            RangeProblem::NotFinite
        } else if low >= high {
            RangeProblem::NotIncreasing
        } else if !min.is_finite_value() || !max.is_finite_value() {
            RangeProblem::BeyondType
        } else if !ptp.is_finite_value() {
            RangeProblem::TooWide
        } else if ptp > T::ZERO {
            return Ok(LevelScale::Normalized { min, ptp });
        } else {
            RangeProblem::Empty
        };
        Err(KernelError::InvalidValueRange {
            low,
            high,
            float: T::NAME,
            problem,
        })
    }

    /// Whether levels come straight from the values (the map is not known finite yet).
    ///
    /// ```
    /// use anomaly_postprocess::levels::LevelScale;
    /// assert!(LevelScale::<f32>::Raw.is_raw());
    /// assert!(!LevelScale::Normalized { min: 0.0f32, ptp: 1.0 }.is_raw());
    /// ```
    pub fn is_raw(self) -> bool {
        matches!(self, LevelScale::Raw)
    }

    /// The colour level of one value.
    ///
    /// ```
    /// use anomaly_postprocess::levels::LevelScale;
    /// assert_eq!(LevelScale::<f32>::Raw.level(0.5), 127);
    /// assert_eq!(LevelScale::<f32>::Raw.level(1.004), 255); // saturates, never wraps
    /// assert_eq!(LevelScale::<f32>::Raw.level(-3.0), 0);
    /// let constant = LevelScale::Normalized { min: 2.0f64, ptp: 0.0 };
    /// assert_eq!(constant.level(2.0), 0); // 0/0 is NaN, and NaN is level 0
    /// ```
    #[inline(always)]
    pub fn level(self, v: T) -> u8 {
        match self {
            LevelScale::Normalized { min, ptp } => {
                ((v - min) / ptp * T::FULL_SCALE).saturating_level()
            }
            LevelScale::Raw => (v * T::FULL_SCALE).saturating_level(),
        }
    }
}

/// Writes the level of every value of `row` into `levels` (same length).
///
/// ```
/// use anomaly_postprocess::levels::{levels_of_row, LevelScale};
/// let mut levels = [0u8; 3];
/// levels_of_row(&[0.0f32, 0.5, 2.0], LevelScale::Raw, &mut levels);
/// assert_eq!(levels, [0, 127, 255]);
/// ```
#[inline(always)]
pub fn levels_of_row<T: MapFloat>(row: &[T], scale: LevelScale<T>, levels: &mut [u8]) {
    // One loop per scale, so that the loop body has no branch and vectorises.
    match scale {
        LevelScale::Normalized { min, ptp } => {
            for (l, &v) in levels.iter_mut().zip(row) {
                *l = ((v - min) / ptp * T::FULL_SCALE).saturating_level();
            }
        }
        LevelScale::Raw => {
            for (l, &v) in levels.iter_mut().zip(row) {
                *l = (v * T::FULL_SCALE).saturating_level();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn saturating_level_truncates_and_saturates() {
        assert_eq!(254.999f32.saturating_level(), 254);
        assert_eq!(255.0f32.saturating_level(), 255);
        assert_eq!(256.5f32.saturating_level(), 255);
        assert_eq!((-0.7f64).saturating_level(), 0);
        assert_eq!(f32::NAN.saturating_level(), 0);
        assert_eq!(f64::INFINITY.saturating_level(), 255);
        for v in [
            -1e30f32, -1.0, -0.0, 0.0, 0.99, 1.0, 127.5, 254.9, 255.0, 255.9, 256.0, 1e30,
        ] {
            assert_eq!(v.saturating_level(), v as u8, "{v}");
            assert_eq!(f64::from(v).saturating_level(), v as u8, "{v}");
        }
    }

    #[test]
    fn normalized_levels_use_division_not_reciprocal() {
        // A value where x / p and x * (1 / p) truncate differently in f32.
        let mut found = false;
        // The full scan finds i = 14 000 and 28 000; under Miri, where it takes minutes,
        // only the neighbourhood of the first.
        let range = if cfg!(miri) {
            13_900..14_100
        } else {
            1..200_000u32
        };
        for i in range {
            let x = i as f32 * 1e-5;
            let p = 0.3f32;
            let by_division = (x / p * 255.0) as u8;
            let by_reciprocal = (x * (1.0 / p) * 255.0) as u8;
            if by_division != by_reciprocal {
                let scale = LevelScale::Normalized {
                    min: 0.0f32,
                    ptp: p,
                };
                assert_eq!(scale.level(x), by_division);
                found = true;
            }
        }
        assert!(found, "expected at least one value where the two differ");
    }

    #[test]
    fn range_and_non_finite() {
        let m = array![[1.0f32, -2.0, 3.0], [0.0, 7.5, -9.0]];
        assert_eq!(
            map_range(m.view()).unwrap(),
            MapRange {
                min: -9.0,
                max: 7.5
            }
        );
        let bad = array![[1.0f32, 2.0], [f32::INFINITY, f32::NAN]];
        assert_eq!(
            map_range(bad.view()).unwrap_err(),
            NonFiniteValues {
                count: 2,
                first: (1, 0)
            }
        );
    }

    #[test]
    fn range_walks_strided_views() {
        let m = array![[1.0f64, 5.0, 2.0], [4.0, -1.0, 0.0]];
        let t = m.t();
        assert_eq!(
            map_range(t).unwrap(),
            MapRange {
                min: -1.0,
                max: 5.0
            }
        );
        let flipped = m.slice(ndarray::s![.., ..;-2]);
        assert_eq!(map_range(flipped).unwrap(), MapRange { min: 0.0, max: 4.0 });
    }

    /// docs/behaviour.md#levels: `value_range=(min, max)` of a map is its min-max scale,
    /// bit for bit, in both float types, whatever the values.
    #[test]
    fn fixed_range_of_a_maps_min_and_max_is_its_min_max_scale() {
        fn check<T: MapFloat + std::fmt::Debug + Into<f64>>(values: &[T]) {
            let map = ndarray::Array2::from_shape_vec((1, values.len()), values.to_vec()).unwrap();
            let range = map_range(map.view()).unwrap();
            let fixed = Scaling::Fixed {
                low: range.min.into(),
                high: range.max.into(),
            };
            let from_range = level_scale(map.view(), fixed).unwrap();
            assert_eq!(
                from_range,
                level_scale(map.view(), true).unwrap(),
                "{values:?}"
            );
            for &v in values {
                assert_eq!(from_range.level(v), LevelScale::new(range, true).level(v));
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Each round is a few thousand interpreted steps: Miri runs fewer.
        let rounds = if cfg!(miri) { 60 } else { 2000 };
        for _ in 0..rounds {
            let scale = [1e-30, 1e-3, 1.0, 300.0, 1e20][(next() % 5) as usize];
            let values: Vec<f64> = (0..7)
                .map(|_| ((next() >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * scale)
                .collect();
            check::<f64>(&values);
            check::<f32>(&values.iter().map(|&v| v as f32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn fixed_range_problems() {
        let problem = |e: Result<LevelScale<f32>, KernelError>| match e {
            Err(KernelError::InvalidValueRange { problem, .. }) => Some(problem),
            _ => None,
        };
        assert_eq!(problem(LevelScale::fixed(0.0, 1.0)), None);
        assert_eq!(
            problem(LevelScale::fixed(f64::NAN, 1.0)),
            Some(RangeProblem::NotFinite)
        );
        assert_eq!(
            problem(LevelScale::fixed(0.0, f64::INFINITY)),
            Some(RangeProblem::NotFinite)
        );
        assert_eq!(
            problem(LevelScale::fixed(1.0, 1.0)),
            Some(RangeProblem::NotIncreasing)
        );
        assert_eq!(
            problem(LevelScale::fixed(2.0, 1.0)),
            Some(RangeProblem::NotIncreasing)
        );
        assert_eq!(
            problem(LevelScale::fixed(-1e39, 0.0)),
            Some(RangeProblem::BeyondType)
        );
        assert_eq!(
            problem(LevelScale::fixed(-3e38, 3e38)),
            Some(RangeProblem::TooWide)
        );
        assert_eq!(
            problem(LevelScale::fixed(1.0, 1.0 + 1e-9)),
            Some(RangeProblem::Empty)
        );
        // In float64 the last three are fine.
        assert!(LevelScale::<f64>::fixed(-1e39, 0.0).is_ok());
        assert!(LevelScale::<f64>::fixed(-3e38, 3e38).is_ok());
        assert!(LevelScale::<f64>::fixed(1.0, 1.0 + 1e-9).is_ok());
        let message = LevelScale::<f32>::fixed(-3e38, 3e38)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "value_range (-3e38, 3e38) is too wide for a float32 map: high - low overflows \
             float32; use a narrower range"
        );
        assert_eq!(
            Scaling::Fixed {
                low: 1.0,
                high: 1.0 + 1e-9
            }
            .check::<f32>(),
            LevelScale::<f32>::fixed(1.0, 1.0 + 1e-9).map(|_| ())
        );
        assert_eq!(Scaling::new(true, None), Scaling::MinMax);
        assert_eq!(
            Scaling::new(true, Some((0.0, 2.0))),
            Scaling::Fixed {
                low: 0.0,
                high: 2.0
            }
        );
    }

    #[test]
    fn fixed_range_saturates_and_refuses_non_finite_maps() {
        let scale = LevelScale::<f32>::fixed(2.0, 6.0).unwrap();
        let levels: Vec<u8> = [-1e30f32, 1.999, 2.0, 2.5, 6.0, 6.5, 1e30]
            .iter()
            .map(|&v| scale.level(v))
            .collect();
        assert_eq!(levels, [0, 0, 0, 31, 255, 255, 255]);
        let bad = array![[0.5f64, 1.0], [f64::NAN, 0.0]];
        let fixed = Scaling::Fixed {
            low: 0.0,
            high: 1.0,
        };
        assert!(matches!(
            level_scale(bad.view(), fixed),
            Err(KernelError::NonFinite {
                count: 1,
                first: (0, 1, 0),
                ..
            })
        ));
    }

    #[test]
    fn floor_from_f64_is_the_largest_f32_not_above() {
        for t in [
            0.1f64,
            0.3,
            -0.1,
            1e39,
            -1e39,
            1.0,
            f64::NEG_INFINITY,
            1e-46,
        ] {
            let f = f32::floor_from_f64(t);
            assert!(f64::from(f) <= t, "{t}");
            assert!(f64::from(f.next_up()) > t, "{t}");
        }
        assert_eq!(f32::floor_from_f64(0.5), 0.5);
        assert_eq!(f32::floor_from_f64(f64::INFINITY), f32::INFINITY);
    }
}
