//! Box outlines drawn exactly as `cv2.rectangle(image, (x1, y1), (x2, y2), color,
//! thickness)` draws them (8-connected lines, no sub-pixel shift) — anomalib's
//! `draw_boxes` — for every thickness OpenCV accepts (`docs/behaviour.md#regions`).
//!
//! OpenCV draws a rectangle as the closed polyline through its four corners. With
//! thickness 1 each side is a 1-pixel line. With thickness `t > 1` each side is a
//! convex polygon reaching `h = (t + 1) / 2` pixels on both sides of the side's line
//! (OpenCV rounds odd thicknesses up: 3 and 4 both give `h = 2`, 2h + 1 = 5 pixels
//! across), and each corner gets a filled circle of radius `h` from OpenCV's midpoint
//! circle, whose rows are exactly those of the disk `dx² + dy² <= h²`. Every vertex of
//! these shapes is an integer, so the scan conversion adds no rounding and a side is an
//! axis-aligned band. Hence the painted pixels of one box, with `xa <= xb`, `ya <= yb`
//! its corners in either order, are the union of
//!
//! - the rows `ya − h ..= ya + h` and `yb − h ..= yb + h` over columns `xa ..= xb`,
//! - the columns `xa − h ..= xa + h` and `xb − h ..= xb + h` over rows `ya ..= yb`,
//! - the disks of radius `h` around the four corners,
//!
//! clipped to the image (thickness 1 is `h = 0`: the outline). A side of length 0
//! (`x1 == x2` or `y1 == y2`) draws no band of its own in OpenCV, but such a band lies
//! inside the disks at its ends, so the union is the same. `tests/parity/test_draw_boxes.py`
//! checks all this against `cv2.rectangle`, byte for byte.

use ndarray::{ArrayView3, ArrayViewMut3, Axis};

use crate::error::{check_shape, KernelError};

/// OpenCV's largest thickness (`cv2.rectangle` refuses more).
pub const MAX_THICKNESS: u16 = 32767;

/// How far a side's band reaches on each side of its line: 0 for thickness 0 or 1
/// (OpenCV draws both as 1-pixel lines), else `(t + 1) / 2`.
pub fn half_width(thickness: u16) -> i64 {
    if thickness <= 1 {
        0
    } else {
        (i64::from(thickness) + 1) / 2
    }
}

/// The half-width of each row `0..=radius` away from the centre of OpenCV's filled
/// circle of `radius`: `floor(sqrt(radius² − dy²))`.
///
/// ```
/// use anomaly_postprocess::draw::disk_rows;
/// assert_eq!(disk_rows(3), vec![3, 2, 2, 0]);
/// ```
pub fn disk_rows(radius: i64) -> Vec<i64> {
    (0..=radius)
        .map(|dy| {
            // The squares fit in i64 for any radius below 2^31 (OpenCV's is at most
            // 2^14), and the integer square root is exact.
            ((radius * radius - dy * dy) as u64).isqrt() as i64
        })
        .collect()
}

/// `out` = `image` with the outlines of `boxes` (`[x1, y1, x2, y2]`, inclusive corners in
/// any order, anywhere — parts outside the image are clipped) painted in `color`, as
/// anomalib's `draw_boxes` (a `cv2.rectangle` per box) with this `thickness`. Thickness 0
/// draws like 1, as in OpenCV. `image` and `out` are `(H, W, 3)`.
///
/// ```
/// use anomaly_postprocess::draw::draw_boxes_into;
/// let image = ndarray::Array3::<u8>::zeros((5, 6, 3));
/// let mut out = ndarray::Array3::<u8>::zeros((5, 6, 3));
/// draw_boxes_into(image.view(), &[[1, 1, 4, 3]], [9, 8, 7], 1, out.view_mut()).unwrap();
/// let painted: Vec<Vec<u8>> = (0..5).map(|y| (0..6).map(|x| out[[y, x, 0]]).collect()).collect();
/// assert_eq!(painted, vec![
///     vec![0, 0, 0, 0, 0, 0],
///     vec![0, 9, 9, 9, 9, 0],
///     vec![0, 9, 0, 0, 9, 0],
///     vec![0, 9, 9, 9, 9, 0],
///     vec![0, 0, 0, 0, 0, 0],
/// ]);
/// assert_eq!((out[[1, 1, 1]], out[[1, 1, 2]]), (8, 7));
/// ```
pub fn draw_boxes_into(
    image: ArrayView3<'_, u8>,
    boxes: &[[i64; 4]],
    color: [u8; 3],
    thickness: u16,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (height, width, channels) = image.dim();
    check_shape("image", &[height, width, 3], image.shape())?;
    check_shape("out", &[height, width, channels], out.shape())?;
    out.assign(&image);
    if height == 0 || width == 0 {
        return Ok(());
    }
    let h = half_width(thickness);
    let disk = disk_rows(h);
    let (rows, cols) = (height as i64, width as i64);
    // Paints columns `x0..=x1` of row `y`, clipped to the image.
    let mut span = |y: i64, x0: i64, x1: i64| {
        let (x0, x1) = (x0.max(0), x1.min(cols - 1));
        if (0..rows).contains(&y) && x0 <= x1 {
            let mut row = out.index_axis_mut(Axis(0), y as usize);
            for x in x0 as usize..=x1 as usize {
                row[[x, 0]] = color[0];
                row[[x, 1]] = color[1];
                row[[x, 2]] = color[2];
            }
        }
    };
    for &[x1, y1, x2, y2] in boxes {
        // Beyond h + 1 pixels outside the image nothing of a box reaches into it, so
        // clamping there changes no pixel and keeps every sum below in range.
        let clamp_x = |x: i64| x.clamp(-(h + 1), cols + h);
        let clamp_y = |y: i64| y.clamp(-(h + 1), rows + h);
        let (xa, xb) = (clamp_x(x1.min(x2)), clamp_x(x1.max(x2)));
        let (ya, yb) = (clamp_y(y1.min(y2)), clamp_y(y1.max(y2)));
        for y in (ya - h..=ya + h).chain(yb - h..=yb + h) {
            span(y, xa, xb);
        }
        for y in ya.max(0)..=yb.min(rows - 1) {
            span(y, xa - h, xa + h);
            span(y, xb - h, xb + h);
        }
        for (cx, cy) in [(xa, ya), (xb, ya), (xa, yb), (xb, yb)] {
            for (dy, &reach) in disk.iter().enumerate() {
                let dy = dy as i64;
                span(cy - dy, cx - reach, cx + reach);
                span(cy + dy, cx - reach, cx + reach);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// OpenCV's filled `Circle` (drawing.cpp), transcribed: the midpoint circle, each
    /// step filling rows `±dy` to `±dx` and rows `±dx` to `±dy`.
    fn opencv_circle_rows(radius: i64) -> Vec<i64> {
        let mut rows = vec![-1; radius as usize + 1];
        let (mut err, mut dx, mut dy, mut plus, mut minus) =
            (0i64, radius, 0i64, 1i64, 2 * radius - 1);
        while dx >= dy {
            rows[dy as usize] = rows[dy as usize].max(dx);
            rows[dx as usize] = rows[dx as usize].max(dy);
            dy += 1;
            err += plus;
            plus += 2;
            let mask = if err <= 0 { 0 } else { -1 };
            err -= minus & mask;
            dx += mask;
            minus -= mask & 2;
        }
        rows
    }

    #[test]
    fn disk_rows_equal_opencv_midpoint_circle_for_every_radius() {
        let largest = half_width(MAX_THICKNESS) + 2;
        // Every radius costs O(radius): all of them is minutes under Miri, which runs the
        // small ones and the largest few.
        #[cfg(miri)]
        let radii = (0..=48).chain(largest - 3..=largest);
        #[cfg(not(miri))]
        let radii = 0..=largest;
        for radius in radii {
            assert_eq!(
                disk_rows(radius),
                opencv_circle_rows(radius),
                "radius {radius}"
            );
        }
    }

    /// Whether pixel `(x, y)` is painted, from the definition in the module docs.
    fn painted(x: i64, y: i64, boxes: &[[i64; 4]], thickness: u16) -> bool {
        let h = half_width(thickness);
        boxes.iter().any(|&[x1, y1, x2, y2]| {
            let (xa, xb, ya, yb) = (x1.min(x2), x1.max(x2), y1.min(y2), y1.max(y2));
            let near = |v: i64, c: i64| (v - c).abs() <= h;
            let in_disk = |cx: i64, cy: i64| (x - cx).pow(2) + (y - cy).pow(2) <= h * h;
            ((near(y, ya) || near(y, yb)) && (xa..=xb).contains(&x))
                || ((near(x, xa) || near(x, xb)) && (ya..=yb).contains(&y))
                || in_disk(xa, ya)
                || in_disk(xb, ya)
                || in_disk(xa, yb)
                || in_disk(xb, yb)
        })
    }

    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn matches_the_definition_pixel_by_pixel() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let cases = if cfg!(miri) { 150 } else { 3000 };
        for case in 0..cases {
            let height = 1 + (next(&mut state) % 24) as usize;
            let width = 1 + (next(&mut state) % 24) as usize;
            let thickness = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 16, 40][case % 12];
            let count = (next(&mut state) % 4) as usize;
            let boxes: Vec<[i64; 4]> = (0..count)
                .map(|_| std::array::from_fn(|_| (next(&mut state) % 50) as i64 - 12))
                .collect();
            let image =
                Array3::from_shape_fn((height, width, 3), |(y, x, c)| (y * 7 + x * 3 + c) as u8);
            let mut out = Array3::zeros((height, width, 3));
            draw_boxes_into(
                image.view(),
                &boxes,
                [200, 100, 50],
                thickness,
                out.view_mut(),
            )
            .unwrap();
            for ((y, x, c), &v) in out.indexed_iter() {
                let expected = if painted(x as i64, y as i64, &boxes, thickness) {
                    [200, 100, 50][c]
                } else {
                    image[[y, x, c]]
                };
                assert_eq!(
                    v, expected,
                    "{height}x{width} t={thickness} {boxes:?} at ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn far_coordinates_are_clipped_like_near_ones() {
        let image = Array3::<u8>::zeros((9, 11, 3));
        // The widest pens visit ~16 000 disk rows per corner: minutes under Miri, which
        // runs the narrow ones (the far coordinates' clipping is the same code).
        let thicknesses: &[u16] = if cfg!(miri) {
            &[1, 2, 5, 100]
        } else {
            &[1, 2, 5, 100, MAX_THICKNESS, u16::MAX]
        };
        for &thickness in thicknesses {
            for (far, near) in [
                ([i64::MIN, 2, i64::MAX, 6], [-200_000, 2, 200_000, 6]),
                ([3, i64::MIN, 7, 4], [3, -200_000, 7, 4]),
                ([i64::MAX, i64::MAX, 4, 4], [200_000, 200_000, 4, 4]),
            ] {
                let (mut a, mut b) = (image.clone(), image.clone());
                draw_boxes_into(image.view(), &[far], [1, 2, 3], thickness, a.view_mut()).unwrap();
                draw_boxes_into(image.view(), &[near], [1, 2, 3], thickness, b.view_mut()).unwrap();
                assert_eq!(a, b, "thickness {thickness} {far:?}");
                for y in 0..9 {
                    for x in 0..11 {
                        let expected = painted(x, y, &[near], thickness);
                        assert_eq!(a[[y as usize, x as usize, 0]] == 1, expected);
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let image = Array3::<u8>::zeros((4, 5, 3));
        let mut out = Array3::<u8>::zeros((4, 6, 3));
        assert!(draw_boxes_into(image.view(), &[], [0; 3], 2, out.view_mut()).is_err());
        let image = Array3::<u8>::zeros((4, 5, 4));
        let mut out = Array3::<u8>::zeros((4, 5, 4));
        assert!(draw_boxes_into(image.view(), &[], [0; 3], 2, out.view_mut()).is_err());
    }

    #[test]
    fn no_boxes_copies_the_image() {
        let image = Array3::from_shape_fn((3, 4, 3), |(y, x, c)| (y + x + c) as u8);
        let mut out = Array3::<u8>::zeros((3, 4, 3));
        draw_boxes_into(image.view(), &[], [255, 0, 0], 2, out.view_mut()).unwrap();
        assert_eq!(out, image);
    }
}
