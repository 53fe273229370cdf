//! Bit-exact, fast post-processing of anomaly maps.
//!
//! The kernels here are plain Rust over [`ndarray`] views; nothing in them knows about
//! Python. The PyO3 binding layer lives in `src/python/` behind the `python` feature.
//! The rules every kernel follows are in `docs/behaviour.md`; each module cites the
//! section it implements.
//!
//! | concern | module | docs/behaviour.md |
//! |---|---|---|
//! | map → colour level: range, normalisation, truncation, saturation, finiteness | [`levels`] | `#levels` |
//! | the JET table, OpenCV's other colormaps, `anomaly_map_to_color_map` | [`colormap`] (tables: [`colormap::palettes`]) | `#colour-tables` |
//! | `cv2.addWeighted` arithmetic and `superimpose_anomaly_map` | [`blend`] | `#blend` |
//! | threshold precision and `compute_mask` | [`mask`] | `#threshold`, `#opening` |
//! | binary opening with a disk | [`morphology`] | `#opening` |
//! | bit-packed binary images (threshold, opening, components, outlines) | [`bitmap`] | `#opening` |
//! | 8-connected components: `min_area`, `mask_to_boxes`, box scores | [`regions`] | `#regions` |
//! | mask outlines (`mark_boundaries`) | [`outline`] | `#regions` |
//! | box outlines as `cv2.rectangle` draws them (`draw_boxes`) | [`draw`] | `#regions` |
//! | every product of a frame from one sweep over its map: `postprocess` | [`frame`] | `#api` |
//! | bilinear resizing (`cv2.resize` `INTER_LINEAR` parity) | [`resize`] | `#resizing` |
//! | batch axes: one call per map, errors naming the map | [`batch`] | `#shapes` |
//! | batches in parallel, the thread pool | [`parallel`] | `#threads` |
//! | CPU dispatch: the SIMD target list, the hand-written-loop switch, prefetching | [`simd`] | `#simd` |
//! | recycled, pre-mapped result buffers (the output pool) | [`pool`] | `#memory` |
//! | errors a kernel reports | [`error`] | `#errors` |
//! | PNG files of the command-line tool, `--png-compression` levels | [`png`] | `#cli` |
//! | contiguous rows from strided views (crate-internal) | `rows` | `#memory` |
//!
//! Each operation's module owns its hand-written SIMD variant (`colormap/avx512.rs`,
//! `blend/avx512.rs`, `mask/avx512.rs`, `morphology/avx512.rs`, x86-64 only) and is the
//! one place that chooses between it and the portable loop; [`simd`] holds what they share. No module uses a
//! module that uses it back (`scripts/check_module_graph.py` checks this in CI).

pub mod batch;
pub mod bitmap;
pub mod blend;
pub mod colormap;
pub mod draw;
pub mod error;
pub mod frame;
pub mod levels;
pub mod mask;
pub mod morphology;
pub mod outline;
pub mod parallel;
pub mod png;
pub mod pool;
pub mod regions;
pub mod resize;
mod rows;
pub mod simd;

#[cfg(feature = "python")]
mod python;

/// OpenCV's colormap tables, also at their old path `anomaly_postprocess::palettes`.
pub use colormap::palettes;
pub use error::KernelError;
