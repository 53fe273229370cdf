//! Binding of `compute_mask` (docs/behaviour.md#threshold, docs/behaviour.md#opening): a
//! batch of maps into `out`, and the fast path of one float32 map.

use ndarray::ArrayViewMut2;
use numpy::{PyArray2, PyArray3, PyArrayDyn};
use pyo3::prelude::*;

use super::arrays::{new_result_from, read, with_maps, write, MapStack};
use super::run_detached;
use crate::batch::masks_into;
use crate::mask::mask_into;

/// 0/255 masks of maps `(*B, H, W)`: `map > threshold` opened with `disk(kernel_size)`,
/// components under `min_area` pixels removed, written into `out` `(prod(B), H, W)`.
/// `threshold` is already in numpy's comparison precision (see the Python layer and
/// `docs/behaviour.md#threshold`).
#[pyfunction]
pub(crate) fn masks(
    py: Python<'_>,
    maps: MapStack<'_>,
    threshold: f64,
    kernel_size: u64,
    min_area: usize,
    out: Bound<'_, PyArray3<u8>>,
) -> PyResult<()> {
    let maps_read = maps.read()?;
    let mut out = write(&out, &[("anomaly_map", maps.span())])?;
    let out = out.as_array_mut();
    with_maps!(&maps_read, |views| run_detached(py, move || masks_into(
        &views,
        threshold,
        kernel_size,
        min_area,
        out
    )))
}

/// [`masks`] of one float32 map `(H, W)` into a new result, in one call: the common case,
/// which the Python layer recognises (and has rounded `threshold` for) without touching
/// numpy. A call that starts with cold caches spends most of its overhead in numpy's
/// argument handling, not in the kernel.
#[pyfunction]
pub(crate) fn mask_f32<'py>(
    py: Python<'py>,
    map: Bound<'py, PyArray2<f32>>,
    threshold: f64,
    kernel_size: u64,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let map = read(&map, "anomaly_map")?;
    let map = map.as_array();
    new_result_from(
        py,
        &[map.nrows(), map.ncols()],
        move |out: ArrayViewMut2<'_, u8>| mask_into(map, threshold, kernel_size, 0, out),
    )
}
