//! Colour maps: from levels to RGB, and `anomaly_map_to_color_map`
//! (docs/behaviour.md#colour-tables; how values become levels is [`crate::levels`]).
//!
//! Owns the JET table (a closed form), OpenCV's other colormaps ([`palettes`]), the
//! portable colour loop [`color_row`], and the one choice between it and the
//! hand-written AVX-512 VBMI loop of `avx512.rs` ([`color_map_into`]). The overlay
//! ([`crate::blend`]) colours its rows with the same loops.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub mod palettes;

use ndarray::{ArrayView2, ArrayViewMut3, Axis};

use crate::error::{check_shape, KernelError};
use crate::levels::{
    level_scale, levels_of_row, locate_non_finite, row_is_finite, LevelScale, MapFloat, NotFinite,
    Scaling,
};
use crate::parallel::for_each_band;
use crate::rows::{as_contiguous, for_each_row};
use crate::simd::{multiversioned, prefetch, CHUNK};

/// OpenCV's JET colour of level `k`, RGB, from its closed form.
///
/// Each channel is a clamped tent over `4k`: red `min(4k − 382, 1148 − 4k)`, green
/// `min(4k − 128, 892 − 4k)`, blue `min(4k + 128, 638 − 4k)`, clamped to 0..=255, and
/// blue is 1 instead of 2 at level 159. OpenCV builds its table by float32
/// interpolation rounded half to even; this form reproduces all 768 entries
/// (`round(x * 255)` would not: it gets blue at 159 and the green ramp wrong).
/// Integer-only and branch-free, so that rows of levels colour in SIMD.
///
/// ```
/// use anomaly_postprocess::colormap::jet_rgb;
/// assert_eq!(jet_rgb(0), [0, 0, 128]);
/// assert_eq!(jet_rgb(159), [254, 255, 1]); // OpenCV's rounding glitch in blue
/// ```
#[inline(always)]
pub const fn jet_rgb(k: u8) -> [u8; 3] {
    const fn tent(rise: i16, fall: i16) -> u8 {
        let v = if rise < fall { rise } else { fall };
        if v < 0 {
            0
        } else if v > 255 {
            255
        } else {
            v as u8
        }
    }
    let k4 = 4 * k as i16;
    let blue_glitch = (k == 159) as u8;
    [
        tent(k4 - 382, 1148 - k4),
        tent(k4 - 128, 892 - k4),
        tent(k4 + 128, 638 - k4) - blue_glitch,
    ]
}

const fn build_jet_rgb() -> [[u8; 3]; 256] {
    let mut table = [[0u8; 3]; 256];
    let mut k = 0;
    while k < 256 {
        table[k] = jet_rgb(k as u8);
        k += 1;
    }
    table
}

/// `COLORMAP_JET` in RGB order, indexed by level.
///
/// ```
/// use anomaly_postprocess::colormap::JET_RGB;
/// assert_eq!(JET_RGB[0], [0, 0, 128]);
/// assert_eq!(JET_RGB[159], [254, 255, 1]);
/// assert_eq!(JET_RGB[255], [128, 0, 0]);
/// ```
pub static JET_RGB: [[u8; 3]; 256] = build_jet_rgb();

/// The colours of the 256 levels: JET (computed, SIMD) or any table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette<'a> {
    /// OpenCV's `COLORMAP_JET`, from its closed form [`jet_rgb`].
    Jet,
    /// RGB colour of each level, e.g. one of [`palettes::PALETTES`].
    Table(&'a [[u8; 3]; 256]),
}

impl Palette<'_> {
    /// The RGB colour of each level.
    ///
    /// ```
    /// use anomaly_postprocess::colormap::{palettes::PALETTES, Palette, JET_RGB};
    /// assert_eq!(Palette::Jet.table(), &JET_RGB);
    /// let (name, _, viridis) = &PALETTES[16];
    /// assert_eq!((*name, Palette::Table(viridis).table()[0]), ("viridis", [68, 1, 84]));
    /// ```
    pub fn table(&self) -> &[[u8; 3]; 256] {
        match self {
            Palette::Jet => &JET_RGB,
            Palette::Table(table) => table,
        }
    }
}

/// Colours one row, portably: `out` (3 bytes a pixel, RGB) gets the palette colour of
/// each value's level. With the raw scale it returns whether the values were all finite
/// (checked on the way, while each value is at hand: a pass of its own before the row
/// cost 18% of the overlay); with a normalising scale, whose range pass checked, true.
///
/// ```
/// use anomaly_postprocess::colormap::{color_row, Palette};
/// use anomaly_postprocess::levels::LevelScale;
/// let mut out = [0u8; 6];
/// assert!(color_row(&[0.0f64, 1.0], LevelScale::Raw, Palette::Jet, &mut out));
/// assert_eq!(out, [0, 0, 128, 128, 0, 0]);
/// assert!(!color_row(&[0.0f64, f64::NAN], LevelScale::Raw, Palette::Jet, &mut out));
/// ```
#[inline(always)]
pub fn color_row<T: MapFloat>(
    row: &[T],
    scale: LevelScale<T>,
    palette: Palette<'_>,
    out: &mut [u8],
) -> bool {
    let values = row.chunks_exact(CHUNK);
    let tail = values.remainder();
    let mut pixels = out.chunks_exact_mut(3 * CHUNK);
    let mut finite = true;
    for (values, rgb) in values.zip(&mut pixels) {
        prefetch::ahead_of(values);
        // Fixed-size arrays: each step below becomes straight-line SIMD code.
        let values: &[T; CHUNK] = values.try_into().expect("chunks_exact");
        let rgb: &mut [u8; 3 * CHUNK] = rgb.try_into().expect("chunks_exact_mut");
        if scale.is_raw() {
            finite &= row_is_finite(values);
        }
        let mut levels = [0u8; CHUNK];
        levels_of_row(values, scale, &mut levels);
        match palette {
            Palette::Jet => {
                // Planar channels, then one interleaving store loop, which LLVM lowers
                // to byte shuffles (its stride-3 interleaved-access pattern).
                let (mut red, mut green, mut blue) = ([0u8; CHUNK], [0u8; CHUNK], [0u8; CHUNK]);
                for (i, &k) in levels.iter().enumerate() {
                    [red[i], green[i], blue[i]] = jet_rgb(k);
                }
                for i in 0..CHUNK {
                    rgb[3 * i] = red[i];
                    rgb[3 * i + 1] = green[i];
                    rgb[3 * i + 2] = blue[i];
                }
            }
            Palette::Table(table) => {
                for (px, &k) in rgb.chunks_exact_mut(3).zip(&levels) {
                    px.copy_from_slice(&table[k as usize]);
                }
            }
        }
    }
    let mut levels = [0u8; CHUNK];
    levels_of_row(tail, scale, &mut levels[..tail.len()]);
    for (px, &k) in pixels.into_remainder().chunks_exact_mut(3).zip(&levels) {
        px.copy_from_slice(&match palette {
            Palette::Jet => jet_rgb(k),
            Palette::Table(table) => table[k as usize],
        });
    }
    !scale.is_raw() || (finite && row_is_finite(tail))
}

/// Writes the RGB heatmap of one map into `out` (shape `(H, W, 3)`); `scaling` is a
/// [`Scaling`] or the `normalize` flag.
///
/// Every byte of `out` is written. Fails if the map holds NaN/±inf (nothing useful
/// is written then), if `out` has the wrong shape, or if a fixed range has no width in
/// the map's type (then nothing is written). Runs the hand-written AVX-512 VBMI loop
/// where the CPU has it, else the portable loop: the same bytes.
///
/// ```
/// use anomaly_postprocess::colormap::{color_map_into, Palette};
/// let map = ndarray::array![[0.0f32, 0.5, 1.0]];
/// let mut out = ndarray::Array3::<u8>::zeros((1, 3, 3));
/// color_map_into(map.view(), true, Palette::Jet, out.view_mut()).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[0, 0, 128, 126, 255, 130, 128, 0, 0]);
/// ```
pub fn color_map_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    scaling: impl Into<Scaling>,
    palette: Palette<'_>,
    out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = map.dim();
    check_shape("out", &[h, w, 3], out.shape())?;
    let pass = ColorPass::new(level_scale(map, scaling)?, palette).for_result_of(out.len());
    // Bands of rows in parallel (docs/behaviour.md#threads); an error names the map's
    // first non-finite value, whichever band met one.
    let bands = for_each_band(h, w, (map, out), |_, (map, out)| pass.rows(map, out));
    match bands.into_iter().collect::<Result<(), NotFinite>>() {
        Ok(()) => Ok(()),
        Err(NotFinite) => Err(locate_non_finite(map).into()),
    }
}

/// The hand-written AVX-512 VBMI loop's part of a colour or overlay pass, chosen once per
/// pass ([`ColorPass`], `crate::blend::BlendPass`): the palette in registers where the
/// CPU has the loop, and whether the loop streams the result past the caches. Nothing
/// elsewhere than x86-64.
#[derive(Clone, Copy)]
pub(crate) struct VbmiLoop {
    /// The palette in registers; `None`: the portable loop runs.
    #[cfg(target_arch = "x86_64")]
    pub(crate) registers: Option<avx512::PaletteRegisters>,
    /// Whether the loop writes with non-temporal stores ([`VbmiLoop::for_result_of`]).
    #[cfg(target_arch = "x86_64")]
    pub(crate) stream: bool,
}

impl VbmiLoop {
    pub(crate) fn new(palette: Palette<'_>) -> Self {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = palette; // no hand-written loop here
        VbmiLoop {
            #[cfg(target_arch = "x86_64")]
            registers: crate::simd::vbmi_enabled().then(|| {
                // SAFETY: vbmi_enabled() checked that the CPU has AVX-512 F, BW and VBMI,
                // the features `PaletteRegisters::new` is compiled for.
                unsafe { avx512::PaletteRegisters::new(palette.table()) }
            }),
            #[cfg(target_arch = "x86_64")]
            stream: false,
        }
    }

    /// This loop for a whole result of `bytes` (all the rows its pass will run on): one
    /// large enough streams past the caches (`crate::simd::streams_output`).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn for_result_of(self, bytes: usize) -> Self {
        let stream = crate::simd::streams_output(bytes);
        VbmiLoop { stream, ..self }
    }

    /// Only the x86-64 loops stream.
    #[cfg(not(target_arch = "x86_64"))]
    pub(crate) fn for_result_of(self, _bytes: usize) -> Self {
        self
    }
}

/// The colour pass of one map with one scale and palette: the one choice between the
/// hand-written AVX-512 VBMI loop (where the CPU has it; its palette registers loaded
/// once here) and the portable [`color_rows`], made once, then run on any rows of the
/// map — the bands of [`color_map_into`], or the strips of `crate::frame`, which runs
/// it between the other passes over the same rows. The same bytes on every path.
pub(crate) struct ColorPass<'p, T> {
    scale: LevelScale<T>,
    palette: Palette<'p>,
    vbmi: VbmiLoop,
}

impl<'p, T: MapFloat> ColorPass<'p, T> {
    pub(crate) fn new(scale: LevelScale<T>, palette: Palette<'p>) -> Self {
        let vbmi = VbmiLoop::new(palette);
        ColorPass {
            scale,
            palette,
            vbmi,
        }
    }

    /// This pass for a whole result of `bytes` ([`VbmiLoop::for_result_of`]).
    pub(crate) fn for_result_of(self, bytes: usize) -> Self {
        let vbmi = self.vbmi.for_result_of(bytes);
        ColorPass { vbmi, ..self }
    }

    /// Colours the rows of `map` into `out` (`(rows, W, 3)`, the same rows). Fails when
    /// a row's values were not all finite (only the raw scale checks: a normalising
    /// scale comes from a range pass that did); rows after it are then left unwritten.
    pub(crate) fn rows(
        &self,
        map: ArrayView2<'_, T>,
        out: ArrayViewMut3<'_, u8>,
    ) -> Result<(), NotFinite> {
        #[cfg(target_arch = "x86_64")]
        if let Some(registers) = &self.vbmi.registers {
            let stream = self.vbmi.stream;
            // SAFETY: `registers` exist only where vbmi_enabled() said the CPU has
            // AVX-512 F, BW and VBMI (`VbmiLoop::new`), the features that
            // avx512::color_rows is compiled for and all it requires.
            return unsafe {
                avx512::color_rows(map, self.scale, self.palette, registers, out, stream)
            };
        }
        color_rows(map, self.scale, self.palette, out)
    }
}

multiversioned! {
    /// The portable loop: [`color_row`] over every row, compiled for each SIMD target.
    /// Fails when a row's values were not all finite (only the raw scale checks: a
    /// normalising scale comes from a range pass that did).
    fn color_rows<T: MapFloat>(
        map: ArrayView2<'_, T>,
        scale: LevelScale<T>,
        palette: Palette<'_>,
        out: ArrayViewMut3<'_, u8>,
    ) -> Result<(), NotFinite> {
        let mut scratch = Vec::new();
        for_each_row(out, |y, rgb| {
            let values = as_contiguous(map.index_axis(Axis(0), y), &mut scratch);
            color_row(values, scale, palette, rgb)
        })
        .then_some(())
        .ok_or(NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn jet_spot_values() {
        assert_eq!(JET_RGB[0], [0, 0, 128]);
        assert_eq!(JET_RGB[32], [0, 0, 255]);
        assert_eq!(JET_RGB[96], [2, 255, 254]);
        assert_eq!(JET_RGB[159], [254, 255, 1]);
        assert_eq!(JET_RGB[160], [255, 252, 0]);
        assert_eq!(JET_RGB[255], [128, 0, 0]);
    }

    #[test]
    fn table_is_continuous_ramp() {
        // Neighbouring levels never jump by more than one ramp step (4) in any channel,
        // except the single documented blue glitch at 159.
        for (k, pair) in JET_RGB.windows(2).enumerate() {
            for (c, (&lo, &hi)) in pair[0].iter().zip(&pair[1]).enumerate() {
                let d = (i32::from(hi) - i32::from(lo)).abs();
                assert!(
                    d <= 4 || (k + 1 == 159 && c == 2),
                    "k={} c={c} d={d}",
                    k + 1
                );
            }
        }
    }

    /// The tables' bytes are OpenCV 5.0.0's as first committed (FNV-1a over every name,
    /// value and RGB byte): regenerating or reformatting palettes.rs must not change
    /// them (tests/parity/test_palettes.py compares them with the installed cv2).
    #[test]
    fn palettes_are_the_committed_tables() {
        let (mut hash, mut bytes) = (0xcbf2_9ce4_8422_2325u64, 0);
        for (name, value, table) in &palettes::PALETTES {
            let all = name
                .as_bytes()
                .iter()
                .chain([value])
                .chain(table.as_flattened());
            for &b in all {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
                bytes += 1;
            }
        }
        assert_eq!((hash, bytes), (0x2fdb_95f7_6eec_7e3f, 17051));
    }

    #[test]
    fn jet_palette_table_equals_closed_form() {
        let (name, value, table) = &palettes::PALETTES[2];
        assert_eq!((*name, *value), ("jet", 2));
        assert_eq!(table, &JET_RGB);
    }

    #[test]
    fn table_palette_equals_jet_when_given_jet() {
        let map = ndarray::Array2::from_shape_fn((5, 77), |(y, x)| (y * 77 + x) as f32 / 384.0);
        let mut by_formula = Array3::<u8>::zeros((5, 77, 3));
        let mut by_table = Array3::<u8>::zeros((5, 77, 3));
        color_map_into(map.view(), false, Palette::Jet, by_formula.view_mut()).unwrap();
        color_map_into(
            map.view(),
            false,
            Palette::Table(&JET_RGB),
            by_table.view_mut(),
        )
        .unwrap();
        assert_eq!(by_formula, by_table);
    }

    /// On CPUs with VBMI, `color_map_into` runs the VBMI loop: it must give the
    /// bytes of the portable loop, tails (widths not a multiple of 64) included.
    #[test]
    fn dispatched_rows_equal_the_portable_loop() {
        // Without VBMI both sides run the portable loop: say that the test could not
        // compare the two.
        crate::simd::has_vbmi_or_skip(
            "colormap::tests::dispatched_rows_equal_the_portable_loop (the VBMI side)",
        );
        let sizes = [(3, 64), (4, 127), (1, 5), (2, 200), (5, 1029)];
        // Under Miri, which runs no AVX-512 (both sides are the portable loop), only the
        // small sizes: the wide ones take it a minute.
        let sizes = if cfg!(miri) { &sizes[..3] } else { &sizes[..] };
        for &(h, w) in sizes {
            let map = ndarray::Array2::from_shape_fn((h, w), |(y, x)| {
                (((y * w + x) as f64 * 0.731).sin() * 1.3) as f32
            });
            for palette in [Palette::Jet, Palette::Table(&palettes::PALETTES[5].2)] {
                // A fixed range narrower than the values: some saturate either way.
                let fixed = Scaling::Fixed {
                    low: -0.4,
                    high: 0.9,
                };
                for scaling in [Scaling::MinMax, Scaling::Raw, fixed] {
                    let mut dispatched = Array3::<u8>::zeros((h, w, 3));
                    color_map_into(map.view(), scaling, palette, dispatched.view_mut()).unwrap();
                    let mut portable = Array3::<u8>::zeros((h, w, 3));
                    let scale = level_scale(map.view(), scaling).unwrap();
                    color_rows(map.view(), scale, palette, portable.view_mut()).unwrap();
                    assert_eq!(dispatched, portable, "{h}x{w} {scaling:?}");
                }
            }
        }
    }

    #[test]
    fn constant_map_is_level_zero() {
        let map = array![[3.0f64, 3.0], [3.0, 3.0]];
        let mut out = Array3::<u8>::zeros((2, 2, 3));
        color_map_into(map.view(), true, Palette::Jet, out.view_mut()).unwrap();
        for px in out.rows() {
            assert_eq!(px.to_vec(), JET_RGB[0].to_vec());
        }
    }

    #[test]
    fn non_finite_is_an_error() {
        let map = array![[0.0f32, f32::NEG_INFINITY]];
        let mut out = Array3::<u8>::zeros((1, 2, 3));
        let err = color_map_into(map.view(), false, Palette::Jet, out.view_mut()).unwrap_err();
        assert!(matches!(
            err,
            KernelError::NonFinite {
                count: 1,
                first: (0, 0, 1),
                ..
            }
        ));
    }

    #[test]
    fn wrong_out_shape_is_an_error() {
        let map = array![[0.0f32, 1.0]];
        let mut out = Array3::<u8>::zeros((2, 1, 3));
        assert!(color_map_into(map.view(), false, Palette::Jet, out.view_mut()).is_err());
    }
}
