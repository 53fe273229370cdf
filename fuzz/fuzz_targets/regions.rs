#![no_main]
//! components, small-component removal and thick boundaries on arbitrary masks:
//! never a panic; areas add up; boxes contain their pixels.

use anomaly_postprocess::bitmap::BitMatrix;
use anomaly_postprocess::outline::thick_boundaries;
use anomaly_postprocess::regions::{components, remove_small_components};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let rows = 1 + bytes.below(40);
    let cols = 1 + bytes.below(200);
    let density = bytes.byte();
    let mask = BitMatrix::from_fn(rows, cols, |_, _| bytes.byte() < density);
    let found = components(&mask);
    assert_eq!(found.iter().map(|c| c.area).sum::<usize>(), mask.count_ones());
    for c in &found {
        assert!(c.x1 <= c.x2 && c.y1 <= c.y2 && c.x2 < cols && c.y2 < rows);
        assert!(c.area <= (c.x2 - c.x1 + 1) * (c.y2 - c.y1 + 1));
    }
    let min_area = bytes.below(8);
    let mut kept = mask.clone();
    remove_small_components(&mut kept, min_area);
    let expected: usize = found.iter().filter(|c| c.area >= min_area.max(1)).map(|c| c.area).sum();
    assert_eq!(kept.count_ones(), expected);
    let edge = thick_boundaries(&mask);
    for y in 0..rows {
        for x in 0..cols {
            let here = mask.get(y, x);
            let neighbours = [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)];
            let differs = neighbours.iter().any(|&(dy, dx)| {
                let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                yy >= 0 && xx >= 0 && (yy as usize) < rows && (xx as usize) < cols
                    && mask.get(yy as usize, xx as usize) != here
            });
            assert_eq!(edge.get(y, x), differs);
        }
    }
});
