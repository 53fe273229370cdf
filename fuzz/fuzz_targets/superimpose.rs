#![no_main]
//! superimpose_into on arbitrary maps, images and weights: never a panic, bytes equal
//! the per-pixel definition.

use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
use anomaly_postprocess::colormap::{Palette, JET_RGB};
use anomaly_postprocess::levels::level_scale;
use libfuzzer_sys::fuzz_target;
use ndarray::Array3;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let (how, flags) = (bytes.byte(), bytes.byte());
    // Finite in f64 is not finite in f32 (e.g. -1e300): keep the map finite in f32.
    let map = bytes.map(false).mapv(|v| if (v as f32).is_finite() { v as f32 } else { 0.5 });
    let (h, w) = map.dim();
    let image = bytes.image(h, w);
    let (alpha, gamma) = (bytes.value(), bytes.value());
    if !alpha.is_finite() || !gamma.is_finite() {
        return; // the Python layer rejects these
    }
    let blend = AddWeighted::new(alpha, gamma);
    let wide = common::widened(&map);
    let view = common::strided_view(&map, &wide, how);
    let (flipped, _) = common::flipped_image(&image);
    let mut image_view = flipped.view();
    image_view.invert_axis(ndarray::Axis(1)); // negative strides, same pixels as `image`
    let mut out = Array3::<u8>::zeros((h, w, 3));
    let normalize = flags & 1 != 0;
    superimpose_into(view, image_view, normalize, Palette::Jet, &blend, out.view_mut()).unwrap();
    let scale = level_scale(map.view(), normalize).unwrap();
    for ((y, x, c), &got) in out.indexed_iter() {
        let heat = JET_RGB[scale.level(map[[y, x]]) as usize][c];
        assert_eq!(got, blend.apply(heat, image[[y, x, c]]));
    }
});
