#![no_main]
//! color_map_into on arbitrary maps (shapes, strides, NaN/inf/huge/subnormal values,
//! both float types, every palette kind): never a panic, and the bytes equal a
//! per-pixel evaluation of the definition; errors only for non-finite maps.

use anomaly_postprocess::colormap::{color_map_into, Palette, JET_RGB};
use anomaly_postprocess::levels::{level_scale, MapFloat};
use anomaly_postprocess::KernelError;
use libfuzzer_sys::fuzz_target;
use ndarray::{Array2, Array3};

mod common;

fn check<T: MapFloat + Default>(map: &Array2<T>, how: u8, normalize: bool, palette: Palette<'_>) {
    let wide = common::widened(map);
    let view = common::strided_view(map, &wide, how);
    let (h, w) = view.dim();
    let mut out = Array3::<u8>::zeros((h, w, 3));
    let result = color_map_into(view, normalize, palette, out.view_mut());
    let finite = map.iter().all(|v| v.is_finite_value());
    match result {
        Ok(()) => {
            assert!(finite);
            let scale = level_scale(map.view(), normalize).unwrap();
            for ((y, x, c), &got) in out.indexed_iter() {
                let level = scale.level(map[[y, x]]) as usize;
                let table = match palette {
                    Palette::Jet => &JET_RGB,
                    Palette::Table(t) => t,
                };
                assert_eq!(got, table[level][c]);
            }
        }
        Err(KernelError::NonFinite { count, .. }) => {
            assert!(!finite);
            assert_eq!(count, map.iter().filter(|v| !v.is_finite_value()).count());
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let (how, flags) = (bytes.byte(), bytes.byte());
    let map = bytes.map(flags & 4 != 0);
    let reversed: [[u8; 3]; 256] = std::array::from_fn(|k| JET_RGB[255 - k]);
    let palette = if flags & 2 != 0 { Palette::Table(&reversed) } else { Palette::Jet };
    let normalize = flags & 1 != 0;
    if flags & 8 != 0 {
        check(&map.mapv(|v| v as f32), how, normalize, palette);
    } else {
        check(&map, how, normalize, palette);
    }
});
