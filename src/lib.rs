//! Bit-exact, fast post-processing of anomaly maps.
//!
//! The kernels here are plain Rust over [`ndarray`] views; nothing in them knows about
//! Python. The PyO3 binding layer lives in `src/python/` behind the `python` feature.
//!
//! | concern | module | SPEC.md |
//! |---|---|---|
//! | map → colour level (normalisation, truncation, saturation, finiteness) | [`levels`] | §1 steps 1–3 |
//! | the JET table, palettes and `anomaly_map_to_color_map` | [`colormap`], [`palettes`] | §1 step 4 |
//! | `cv2.addWeighted` arithmetic and `superimpose_anomaly_map` | [`blend`] | §2 |
//! | threshold precision and `compute_mask` | [`mask`] | §3 |
//! | binary opening with a disk, bit-packed | [`morphology`], [`bitmap`] | §3 step 2 |
//! | batch axes, parallel batches | [`batch`], [`parallel`] | §4 |
//! | AVX-512 VBMI inner loops for the two above (chosen at run time) | [`vbmi`] | §1, §2 |
//! | software prefetching for the streaming passes | `prefetch` | — |
//! | recycled, pre-mapped result buffers (the output pool) | [`pool`] | `docs/behaviour.md#memory` |
//! | 8-connected components: `min_area`, boxes | [`regions`] | issue 5 |
//! | mask outlines (`mark_boundaries`) | [`outline`] | issue 5 |

pub mod batch;
pub mod bitmap;
pub mod blend;
pub mod colormap;
pub mod error;
pub mod levels;
pub mod mask;
pub mod morphology;
pub mod outline;
pub mod palettes;
pub mod parallel;
pub mod pool;
mod prefetch;
pub mod regions;
pub mod resize;
mod rows;
#[cfg(target_arch = "x86_64")]
pub mod vbmi;

#[cfg(feature = "python")]
mod python;

pub use error::KernelError;
