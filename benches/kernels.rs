//! Criterion benches of each kernel on a 1024×1024 map (single thread).
//!
//! `cargo bench --bench kernels`. The side-by-side comparison with OpenCV, which is
//! where speed claims come from, is `benches/compare.py`.

use std::hint::black_box;

use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
use anomaly_postprocess::colormap::{color_map_into, Palette};
use anomaly_postprocess::levels::map_range;
use anomaly_postprocess::mask::{mask_into, threshold_bits};
use anomaly_postprocess::morphology::open_disk;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{Array2, Array3};

const H: usize = 1024;
const W: usize = 1024;

/// A smooth map with noise, like a model's output, in [0, 1).
fn anomaly_map() -> Array2<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    Array2::from_shape_fn((H, W), |(y, x)| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state >> 40) as f32 / (1u64 << 24) as f32;
        let blob = (-(((y as f32 - 400.0).powi(2) + (x as f32 - 600.0).powi(2)) / 5000.0)).exp();
        (0.6 * blob + 0.4 * noise).min(0.999)
    })
}

fn kernels(c: &mut Criterion) {
    let map = anomaly_map();
    let image = Array3::from_shape_fn((H, W, 3), |(y, x, ch)| {
        ((y * 3 + x * 7 + ch * 11) % 256) as u8
    });
    let mut rgb = Array3::<u8>::zeros((H, W, 3));
    let mut mask = Array2::<u8>::zeros((H, W));
    // The default weights run the exact 16-bit blend; alpha 0.5 (exact ties) needs the
    // float blend.
    let blends = [("superimpose", 0.4), ("superimpose alpha=0.5", 0.5)];

    let mut group = c.benchmark_group("1024x1024");
    group.throughput(Throughput::Elements((H * W) as u64));
    group.bench_function("map_range", |b| b.iter(|| map_range(black_box(map.view()))));
    group.bench_function("color_map normalize", |b| {
        b.iter(|| color_map_into(black_box(map.view()), true, Palette::Jet, rgb.view_mut()))
    });
    group.bench_function("color_map raw", |b| {
        b.iter(|| color_map_into(black_box(map.view()), false, Palette::Jet, rgb.view_mut()))
    });
    for (name, alpha) in blends {
        let blend = AddWeighted::new(alpha, 0.0);
        group.bench_function(name, |b| {
            b.iter(|| {
                superimpose_into(
                    black_box(map.view()),
                    image.view(),
                    false,
                    Palette::Jet,
                    &blend,
                    rgb.view_mut(),
                )
            })
        });
    }
    group.bench_function("threshold_bits", |b| {
        b.iter(|| threshold_bits(black_box(map.view()), 0.5))
    });
    let bits = threshold_bits(map.view(), 0.5);
    for radius in [1u64, 4, 16] {
        group.bench_function(format!("open_disk r={radius}"), |b| {
            b.iter(|| open_disk(black_box(&bits), radius))
        });
        group.bench_function(format!("mask k={radius}"), |b| {
            b.iter(|| mask_into(black_box(map.view()), 0.5, radius, 0, mask.view_mut()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = kernels
}
criterion_main!(benches);
