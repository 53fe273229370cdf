#![no_main]
//! frame_into (`postprocess`) on arbitrary maps, images and options, any subset of the
//! products: never a panic, and each product (or the error) is exactly what the
//! separate kernel gives — colour, overlay, mask, and the components with their maxima
//! of the mask's bytes (as `mask_to_boxes(mask, anomaly_map=map)` finds them).

use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
use anomaly_postprocess::colormap::{color_map_into, palettes::PALETTES, Palette};
use anomaly_postprocess::frame::{frame_into, FrameOptions, FrameOut};
use anomaly_postprocess::levels::Scaling;
use anomaly_postprocess::mask::mask_into;
use anomaly_postprocess::outline::nonzero_bits;
use anomaly_postprocess::regions::components_with_max;
use libfuzzer_sys::fuzz_target;
use ndarray::{Array2, Array3};

mod common;

fn scaling(bytes: &mut common::Bytes<'_>) -> Scaling {
    match bytes.byte() % 3 {
        0 => Scaling::Raw,
        1 => Scaling::MinMax,
        _ => Scaling::Fixed {
            low: bytes.value(),
            high: bytes.value(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let (how, which) = (bytes.byte(), bytes.byte());
    let map = bytes.map(true).mapv(|v| v as f32);
    let (h, w) = map.dim();
    let image = bytes.image(h, w);
    let (alpha, gamma, threshold) = (bytes.value(), bytes.value(), bytes.value());
    if !alpha.is_finite() || !gamma.is_finite() || threshold.is_nan() {
        return; // the Python layer rejects these
    }
    let options = FrameOptions {
        palette: if bytes.byte() % 2 == 0 {
            Palette::Jet
        } else {
            Palette::Table(&PALETTES[bytes.below(PALETTES.len())].2)
        },
        heatmap: scaling(&mut bytes),
        overlay: scaling(&mut bytes),
        blend: AddWeighted::new(alpha, gamma),
        threshold,
        kernel_size: u64::from(bytes.byte() % 12),
        min_area: bytes.below(8),
        boxes: which & 8 != 0,
    };
    let wide = common::widened(&map);
    let view = common::strided_view(&map, &wide, how);
    let (mut heat, mut overlay, mut mask) = (
        Array3::<u8>::zeros((h, w, 3)),
        Array3::<u8>::zeros((h, w, 3)),
        Array2::<u8>::zeros((h, w)),
    );
    let out = FrameOut {
        heatmap: (which & 1 != 0).then(|| heat.view_mut()),
        overlay: (which & 2 != 0).then(|| (image.view(), overlay.view_mut())),
        mask: (which & 4 != 0).then(|| mask.view_mut()),
    };
    let found = frame_into(view, None, &options, out);

    // The separate kernels, in the order the frame checks: the first error is its error.
    let mut expected_error = None;
    let mut expected = Array3::<u8>::zeros((h, w, 3));
    if which & 1 != 0 {
        if let Err(e) = color_map_into(
            map.view(),
            options.heatmap,
            options.palette,
            expected.view_mut(),
        ) {
            expected_error.get_or_insert(e);
        } else if found.is_ok() {
            assert_eq!(heat, expected, "heatmap");
        }
    }
    if which & 2 != 0 {
        let result = superimpose_into(
            map.view(),
            image.view(),
            options.overlay,
            options.palette,
            &options.blend,
            expected.view_mut(),
        );
        if let Err(e) = result {
            expected_error.get_or_insert(e);
        } else if found.is_ok() {
            assert_eq!(overlay, expected, "overlay");
        }
    }
    let found = match (found, expected_error) {
        (Err(got), Some(_)) => {
            // A range problem comes before a map's; either way the same message as
            // one of the separate kernels'.
            let again = color_map_into(
                map.view(),
                options.heatmap,
                options.palette,
                expected.view_mut(),
            )
            .err()
            .into_iter()
            .chain(
                superimpose_into(
                    map.view(),
                    image.view(),
                    options.overlay,
                    options.palette,
                    &options.blend,
                    expected.view_mut(),
                )
                .err(),
            )
            .collect::<Vec<_>>();
            // By message: a range's bounds may be NaN, which equals nothing.
            let messages: Vec<String> = again.iter().map(ToString::to_string).collect();
            assert!(messages.contains(&got.to_string()), "{got:?} not in {again:?}");
            return;
        }
        (Ok(found), None) => found,
        (got, want) => panic!("frame gave {got:?}, the separate kernels {want:?}"),
    };
    if which & 4 != 0 {
        let mut expected_mask = Array2::<u8>::zeros((h, w));
        mask_into(
            map.view(),
            threshold,
            options.kernel_size,
            options.min_area,
            expected_mask.view_mut(),
        )
        .unwrap();
        assert_eq!(mask, expected_mask, "mask");
        let boxes = options
            .boxes
            .then(|| components_with_max(&nonzero_bits(expected_mask.view()), map.view()).unwrap());
        let key = |f: Option<Vec<(_, f32)>>| {
            f.map(|v| {
                v.into_iter()
                    .map(|(c, s)| (c, s.to_bits() | u32::from(s.is_nan())))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(key(found), key(boxes), "boxes and scores");
    } else {
        assert_eq!(found, None);
    }
});
