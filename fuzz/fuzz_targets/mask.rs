#![no_main]
//! mask_into on arbitrary maps, thresholds and radii (huge ones included): never a
//! panic, and the opening equals erosion-then-dilation by the disk's definition. Both
//! methods behind the morphology (runs and distances), forced one by one, give the same
//! erosion, dilation and opening, and the opening that mask_into wrote. The run method on
//! a random split into bands of rows (as large maps are split across threads) gives the
//! bits of the whole image.

use anomaly_postprocess::bitmap::BitMatrix;
use anomaly_postprocess::mask::{mask_into, threshold_bits};
use anomaly_postprocess::morphology::{
    dilate_disk_with, erode_disk_with, morph_disk_in_bands, open_disk_with, Method,
};
use libfuzzer_sys::fuzz_target;
use ndarray::Array2;

mod common;

fn naive(src: &BitMatrix, r: i64, erode: bool) -> BitMatrix {
    let (rows, cols) = (src.rows() as i64, src.cols() as i64);
    BitMatrix::from_fn(src.rows(), src.cols(), |y, x| {
        let mut acc = erode;
        for dy in -r.min(rows)..=r.min(rows) {
            for dx in -r.min(cols)..=r.min(cols) {
                if dy * dy + dx * dx > r * r {
                    continue;
                }
                let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                if yy < 0 || xx < 0 || yy >= rows || xx >= cols {
                    continue;
                }
                let v = src.get(yy as usize, xx as usize);
                acc = if erode { acc && v } else { acc || v };
            }
        }
        acc
    })
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let how = bytes.byte();
    let map = bytes.map(true).mapv(|v| v as f32);
    let threshold = bytes.value();
    if threshold.is_nan() {
        return; // rejected by the Python layer
    }
    let radius: u64 = match bytes.byte() % 8 {
        0 => u64::MAX >> 2,
        1 => 1 << 33,
        // Up to past the widest map: where the distance method takes over.
        7 => u64::from(bytes.byte()) % 160,
        r => u64::from(bytes.byte() % 20) + u64::from(r),
    };
    let min_area = bytes.below(6);
    let wide = common::widened(&map);
    let view = common::strided_view(&map, &wide, how);
    let mut out = Array2::<u8>::zeros(view.dim());
    mask_into(view, threshold, radius, min_area, out.view_mut()).unwrap();
    let bits = threshold_bits(map.view(), threshold);
    let runs = open_disk_with(&bits, radius, Method::Runs);
    assert_eq!(open_disk_with(&bits, radius, Method::Distance), runs);
    assert_eq!(open_disk_with(&bits, radius, Method::Auto), runs);
    for op in [erode_disk_with, dilate_disk_with] {
        assert_eq!(op(&bits, radius, Method::Distance), op(&bits, radius, Method::Runs));
    }
    // Bands: up to 7 cuts at random rows (one-row bands, bands thinner than the disk).
    let rows = bits.rows();
    let mut cuts: Vec<usize> = (0..bytes.below(8)).map(|_| 1 + bytes.below(rows)).collect();
    cuts.retain(|&c| c < rows);
    cuts.extend([0, rows]);
    cuts.sort_unstable();
    cuts.dedup();
    let bands: Vec<_> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
    for dilate in [false, true] {
        let op = if dilate { dilate_disk_with } else { erode_disk_with };
        assert_eq!(
            morph_disk_in_bands(&bits, radius, dilate, &bands),
            op(&bits, radius, Method::Runs),
            "bands {bands:?}"
        );
    }
    if min_area <= 1 {
        for ((y, x), &v) in out.indexed_iter() {
            assert_eq!(v, if runs.get(y, x) { 255 } else { 0 });
        }
    }
    if min_area <= 1 && radius < 64 {
        let r = radius as i64;
        let opened = if r == 0 { bits } else { naive(&naive(&bits, r, true), r, false) };
        for ((y, x), &v) in out.indexed_iter() {
            assert_eq!(v, if opened.get(y, x) { 255 } else { 0 });
        }
    } else {
        assert!(out.iter().all(|&v| v == 0 || v == 255));
    }
});
