//! OpenCV's `COLORMAP_JET` and `anomaly_map_to_color_map` (SPEC §1).

use ndarray::{ArrayView2, ArrayViewMut3, Axis};

use crate::error::{check_shape, KernelError};
use crate::levels::{map_range, LevelScale, MapFloat};

/// One JET channel as OpenCV stores it, from SPEC's closed form.
///
/// OpenCV builds the table by float32 interpolation with round-half-to-even; the
/// closed form reproduces all 768 entries (`round(x * 255)` would not: it gets
/// blue at 159 and the green ramp wrong).
const fn jet_channel(channel: usize, k: usize) -> u8 {
    let k = k as i32;
    let v = match channel {
        // blue
        0 => {
            if k < 32 {
                128 + 4 * k
            } else if k < 96 {
                255
            } else if k == 159 {
                1
            } else if k < 160 {
                254 - 4 * (k - 96)
            } else {
                0
            }
        }
        // green
        1 => {
            if k < 32 {
                0
            } else if k < 96 {
                4 * (k - 32)
            } else if k < 160 {
                255
            } else if k < 224 {
                252 - 4 * (k - 160)
            } else {
                0
            }
        }
        // red
        _ => {
            if k < 96 {
                0
            } else if k < 160 {
                4 * (k - 96) + 2
            } else if k < 224 {
                255
            } else {
                252 - 4 * (k - 224)
            }
        }
    };
    v as u8
}

const fn build_jet_rgb() -> [[u8; 3]; 256] {
    let mut table = [[0u8; 3]; 256];
    let mut k = 0;
    while k < 256 {
        // Output is RGB: OpenCV's (B, G, R) reversed.
        table[k] = [jet_channel(2, k), jet_channel(1, k), jet_channel(0, k)];
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

/// Writes the RGB JET heatmap of one map into `out` (shape `(H, W, 3)`).
///
/// Every byte of `out` is written. Fails if the map holds NaN/±inf (nothing useful
/// is written then) or if `out` has the wrong shape.
///
/// ```
/// use anomaly_postprocess::colormap::color_map_into;
/// let map = ndarray::array![[0.0f32, 0.5, 1.0]];
/// let mut out = ndarray::Array3::<u8>::zeros((1, 3, 3));
/// color_map_into(map.view(), true, out.view_mut()).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[0, 0, 128, 126, 255, 130, 128, 0, 0]);
/// ```
pub fn color_map_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    normalize: bool,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = map.dim();
    check_shape("out", &[h, w, 3], out.shape())?;
    let range = map_range(map).map_err(|e| KernelError::NonFinite {
        count: e.count,
        first: (0, e.first.0, e.first.1),
        batched: false,
    })?;
    let scale = LevelScale::new(range, normalize);
    for (map_row, mut out_row) in map.rows().into_iter().zip(out.axis_iter_mut(Axis(0))) {
        for (&v, mut px) in map_row.iter().zip(out_row.axis_iter_mut(Axis(0))) {
            let rgb = JET_RGB[scale.level(v) as usize];
            px[0] = rgb[0];
            px[1] = rgb[1];
            px[2] = rgb[2];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn spec_spot_values() {
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
                assert!(d <= 4 || (k + 1 == 159 && c == 2), "k={} c={c} d={d}", k + 1);
            }
        }
    }

    #[test]
    fn constant_map_is_level_zero() {
        let map = array![[3.0f64, 3.0], [3.0, 3.0]];
        let mut out = Array3::<u8>::zeros((2, 2, 3));
        color_map_into(map.view(), true, out.view_mut()).unwrap();
        for px in out.rows() {
            assert_eq!(px.to_vec(), JET_RGB[0].to_vec());
        }
    }

    #[test]
    fn non_finite_is_an_error() {
        let map = array![[0.0f32, f32::NEG_INFINITY]];
        let mut out = Array3::<u8>::zeros((1, 2, 3));
        let err = color_map_into(map.view(), false, out.view_mut()).unwrap_err();
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
        assert!(color_map_into(map.view(), false, out.view_mut()).is_err());
    }
}
