//! Criterion benches of each kernel on a 1024×1024 map (single thread), and of
//! `compute_mask`'s opening on masks of several kinds and radii.
//!
//! `cargo bench --bench kernels` (`-- "mask by content"` for the second group). The
//! side-by-side comparison with OpenCV, which is where speed claims come from, is
//! `benches/compare.py`.

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

/// Uniform noise in [0, 1), reproducible.
fn noise(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// A separable Gaussian blur (3σ taps, edges clamped): a smooth field of blobs about
/// `2σ` across.
fn blur(m: &Array2<f32>, sigma: f32) -> Array2<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let taps: Vec<f32> = (-radius..=radius)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = taps.iter().sum();
    let (rows, cols) = m.dim();
    let at = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let across = Array2::from_shape_fn((rows, cols), |(y, x)| {
        let sum: f32 = (taps.iter().enumerate())
            .map(|(i, t)| t * m[[y, at(x as isize + i as isize - radius, cols)]])
            .sum();
        sum / total
    });
    Array2::from_shape_fn((rows, cols), |(y, x)| {
        let sum: f32 = (taps.iter().enumerate())
            .map(|(i, t)| t * across[[at(y as isize + i as isize - radius, rows), x]])
            .sum();
        sum / total
    })
}

/// A smooth field and its median, the threshold that makes about half of it a defect.
fn smooth(size: usize, sigma: f32, seed: u64) -> (Array2<f32>, f64) {
    let field = blur(&noise(size, size, seed), sigma);
    let mut values: Vec<f32> = field.iter().copied().collect();
    let middle = values.len() / 2;
    values.select_nth_unstable_by(middle, f32::total_cmp);
    (field, f64::from(values[middle]))
}

/// All above the threshold but eight 6×6 holes: the opening's worst case for the run
/// method, whose cost grows with the radius when nothing lets it stop early.
fn holes(size: usize) -> Array2<f32> {
    let mut map = Array2::from_elem((size, size), 1.0f32);
    let mut state = 12345u64;
    for _ in 0..8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (cy, cx) = (
            (state % size as u64) as usize,
            ((state >> 32) % size as u64) as usize,
        );
        map.slice_mut(ndarray::s![
            cy.saturating_sub(3)..(cy + 3).min(size),
            cx.saturating_sub(3)..(cx + 3).min(size)
        ])
        .fill(0.0);
    }
    map
}

/// `compute_mask` (threshold, opening, 0/255) by content and radius: the cost of the
/// disk should not grow with its radius.
fn mask_by_content(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask by content");
    let holes_4096 = holes(4096);
    let (smooth_4096, median_4096) = smooth(4096, 4.0, 1);
    let (smooth_4, median_4) = smooth(1024, 4.0, 2);
    let (smooth_12, median_12) = smooth(1024, 12.0, 3);
    let cases: [(&str, &Array2<f32>, f64, &[u64]); 4] = [
        ("holes 4096²", &holes_4096, 0.5, &[16, 256, 2048]),
        ("smooth σ=4 4096²", &smooth_4096, median_4096, &[16]),
        ("smooth σ=4 1024²", &smooth_4, median_4, &[1, 16]),
        ("smooth σ=12 1024²", &smooth_12, median_12, &[1, 16]),
    ];
    for (name, map, threshold, radii) in cases {
        let mut out = Array2::<u8>::zeros(map.dim());
        for &k in radii {
            group.bench_function(format!("{name} k={k}"), |b| {
                b.iter(|| mask_into(black_box(map.view()), threshold, k, 0, out.view_mut()))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = kernels
}
criterion_group! {
    name = by_content;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = mask_by_content
}
criterion_main!(benches, by_content);
