#![no_main]
//! Box outlines (`draw_boxes`) with any coordinates and thickness, and box scores on
//! arbitrary masks and maps: never a panic; every pixel is painted exactly when the
//! definition of `src/draw.rs` says so; each score is NaN or a value of the map inside
//! its box, and the components are those without a map.

use anomaly_postprocess::bitmap::BitMatrix;
use anomaly_postprocess::draw::{draw_boxes_into, half_width};
use anomaly_postprocess::regions::{components, components_with_max};
use libfuzzer_sys::fuzz_target;
use ndarray::Array3;

mod common;

/// A coordinate with the extremes over-represented.
fn coordinate(bytes: &mut common::Bytes<'_>) -> i64 {
    match bytes.byte() % 8 {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => i64::from(i32::MIN),
        3 => i64::from(i32::MAX),
        _ => bytes.below(80) as i64 - 30,
    }
}

fn painted(x: i64, y: i64, boxes: &[[i64; 4]], h: i64) -> bool {
    boxes.iter().any(|&[x1, y1, x2, y2]| {
        let (xa, xb, ya, yb) = (x1.min(x2), x1.max(x2), y1.min(y2), y1.max(y2));
        // i128: the coordinates may be anywhere in i64.
        let near = |v: i64, c: i64| (i128::from(v) - i128::from(c)).abs() <= i128::from(h);
        let in_disk = |cx: i64, cy: i64| {
            let (dx, dy) = (i128::from(x) - i128::from(cx), i128::from(y) - i128::from(cy));
            let h = i128::from(h);
            dx.abs() <= h && dy.abs() <= h && dx * dx + dy * dy <= h * h
        };
        ((near(y, ya) || near(y, yb)) && (xa..=xb).contains(&x))
            || ((near(x, xa) || near(x, xb)) && (ya..=yb).contains(&y))
            || in_disk(xa, ya)
            || in_disk(xb, ya)
            || in_disk(xa, yb)
            || in_disk(xb, yb)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let rows = 1 + bytes.below(24);
    let cols = 1 + bytes.below(24);
    let thickness = match bytes.byte() % 4 {
        0 => u16::from_le_bytes([bytes.byte(), bytes.byte()]),
        _ => bytes.below(12) as u16,
    };
    let boxes: Vec<[i64; 4]> = (0..bytes.below(4))
        .map(|_| std::array::from_fn(|_| coordinate(&mut bytes)))
        .collect();
    let image = Array3::from_shape_fn((rows, cols, 3), |(y, x, c)| (y * 31 + x * 7 + c) as u8);
    let mut out = Array3::zeros((rows, cols, 3));
    draw_boxes_into(image.view(), &boxes, [1, 2, 3], thickness, out.view_mut()).unwrap();
    let h = half_width(thickness);
    for ((y, x, c), &v) in out.indexed_iter() {
        let expected = if painted(x as i64, y as i64, &boxes, h) {
            [1, 2, 3][c]
        } else {
            image[[y, x, c]]
        };
        assert_eq!(v, expected);
    }

    let density = bytes.byte();
    let mask = BitMatrix::from_fn(rows, cols, |_, _| bytes.byte() < density);
    let map = ndarray::Array2::from_shape_fn((rows, cols), |_| bytes.value());
    let scored = components_with_max(&mask, map.view()).unwrap();
    let plain = components(&mask);
    assert_eq!(scored.len(), plain.len());
    for ((c, score), p) in scored.iter().zip(&plain) {
        assert_eq!(c, p);
        let inside = map.slice(ndarray::s![c.y1..=c.y2, c.x1..=c.x2]);
        assert!(score.is_nan() || inside.iter().any(|v| v == score));
    }
    let scored32 = components_with_max(&mask, map.mapv(|v| v as f32).view()).unwrap();
    assert_eq!(scored32.len(), plain.len());
});
