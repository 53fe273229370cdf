//! PNG files of the command-line tool's images (`docs/behaviour.md#cli`): 8-bit
//! grayscale `(H, W, 1)` and RGB `(H, W, 3)`, with the tool's `--png-compression` level
//! 0–9 mapped so:
//!
//! | level | DEFLATE | row filters | written by |
//! |---|---|---|---|
//! | 0 | none (stored blocks) | None | the `png` crate |
//! | 1 | fdeflate's fast mode | the `png` crate's adaptive choice | the `png` crate |
//! | 2–9 | zlib level 2–9, `Z_FILTERED` (zlib-rs) | adaptive, as Pillow and libpng | `filter_rows`, zlib-rs, the `png` crate's chunks |
//!
//! Nothing here changes a pixel: every level decodes to the image's bytes; the levels
//! trade time for size only (measured on photograph-like frames and on the built-in
//! demo by `benches/cli.py`, `docs/performance.md`).
//!
//! Why two paths. Level 1 is the `png` crate's fast mode: on those images it writes files
//! about as small as zlib's level 1 (and Pillow's) in a tenth of the time. Levels 2–9
//! need zlib's `Z_FILTERED` strategy (Pillow's default for PNG), which the `png` crate
//! cannot set (its zlib levels use the default strategy): without it, zlib's level 9
//! writes the demo's overlay (a brushed-steel texture) larger than level 1, and
//! `--png-compression 9` would not mean "smaller". (zlib-rs's output differs from the
//! default strategy's at levels 7–9 only; at 2–6 both are the same.) So for those
//! levels the rows are filtered here and compressed with zlib-rs directly, and the
//! `png` crate writes the chunks around them.

use std::fmt;

use ndarray::ArrayView3;
use png::{BitDepth, ColorType, DeflateCompression, Encoder, Filter};
use zlib_rs::{DeflateConfig, Method, Strategy};

use crate::rows::as_contiguous;

/// The highest `--png-compression` level.
pub const MAX_LEVEL: u8 = 9;

/// The largest width or height a PNG file can state (its IHDR fields are 31-bit).
pub const MAX_SIDE: usize = (1 << 31) - 1;

/// Why an image cannot be written as PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PngError {
    /// A level outside `0..=MAX_LEVEL`.
    Level(u32),
    /// An image with neither 1 (gray) nor 3 (RGB) channels.
    Channels(usize),
    /// A side of 0 pixels (a PNG holds at least one) or beyond [`MAX_SIDE`].
    Size { height: usize, width: usize },
    /// The `png` crate or zlib-rs refused (not expected once the checks above pass).
    Encoder(String),
}

impl fmt::Display for PngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PngError::Level(level) => write!(
                f,
                "compression must be an integer from 0 to {MAX_LEVEL}, got {level}"
            ),
            PngError::Channels(channels) => write!(
                f,
                "image must have 1 (gray) or 3 (RGB) channels, got {channels}"
            ),
            PngError::Size { height, width } => write!(
                f,
                "image must be 1 to {MAX_SIDE} pixels on each side to be written as PNG, \
                 got height {height} and width {width}"
            ),
            PngError::Encoder(message) => write!(f, "cannot encode the image as PNG: {message}"),
        }
    }
}

impl std::error::Error for PngError {}

/// The PNG file of `image` `(H, W, C)`, `C` = 1 (8-bit gray) or 3 (8-bit RGB), any
/// strides, at compression `level` 0–9 (see the table above). The file holds the
/// signature, IHDR, the IDAT chunks and IEND, nothing else (as Pillow writes it): it
/// decodes to `image`'s bytes.
pub fn encode_png(image: ArrayView3<'_, u8>, level: u32) -> Result<Vec<u8>, PngError> {
    if level > u32::from(MAX_LEVEL) {
        return Err(PngError::Level(level));
    }
    let (height, width, channels) = image.dim();
    let color = match channels {
        1 => ColorType::Grayscale,
        3 => ColorType::Rgb,
        _ => return Err(PngError::Channels(channels)),
    };
    if !(1..=MAX_SIDE).contains(&height) || !(1..=MAX_SIDE).contains(&width) {
        return Err(PngError::Size { height, width });
    }
    let mut scratch = Vec::new();
    let pixels = as_contiguous(image, &mut scratch);
    let encoder_error = |error: png::EncodingError| PngError::Encoder(error.to_string());
    // Room for the data stored and the chunk headers: one allocation at every level.
    let mut file = Vec::with_capacity(pixels.len() + height + pixels.len() / 8192 + 1024);
    // Both sides fit in u32: checked against MAX_SIDE above.
    let mut encoder = Encoder::new(&mut file, width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(BitDepth::Eight);
    match level {
        0 | 1 => {
            let (deflate, filter) = if level == 0 {
                // Stored blocks; the crate leaves the rows unfiltered (nothing to gain).
                (DeflateCompression::NoCompression, Filter::NoFilter)
            } else {
                (DeflateCompression::FdeflateUltraFast, Filter::Adaptive)
            };
            encoder.set_deflate_compression(deflate);
            encoder.set_filter(filter);
            let mut writer = encoder.write_header().map_err(encoder_error)?;
            writer.write_image_data(pixels).map_err(encoder_error)?;
            writer.finish().map_err(encoder_error)?;
        }
        _ => {
            let filtered = filter_rows(pixels, width * channels, channels, None);
            write_idat(encoder, &zlib(&filtered, level as i32)?)?;
        }
    }
    Ok(file)
}

/// Writes the header of `encoder`, `zlib_stream` (the filtered rows, compressed) as
/// IDAT chunks, and IEND.
fn write_idat<W: std::io::Write>(
    mut encoder: Encoder<'_, W>,
    zlib_stream: &[u8],
) -> Result<(), PngError> {
    let encoder_error = |error: png::EncodingError| PngError::Encoder(error.to_string());
    // The image data goes in as raw IDAT chunks, whose content the crate does not
    // check (validate_sequence, off by default, would ask for its own image data).
    encoder.validate_sequence(false);
    let mut writer = encoder.write_header().map_err(encoder_error)?;
    for part in zlib_stream.chunks(IDAT_BYTES) {
        (writer.write_chunk(png::chunk::IDAT, part)).map_err(encoder_error)?;
    }
    writer.finish().map_err(encoder_error)
}

/// The most bytes of an IDAT chunk written here (a chunk may hold 2^31 − 1).
const IDAT_BYTES: usize = 1 << 30;

/// The zlib stream of `data` at `level`, with Pillow's settings for PNG data:
/// `Z_FILTERED`, a 32 KiB window, `memLevel` 9.
fn zlib(data: &[u8], level: i32) -> Result<Vec<u8>, PngError> {
    let config = DeflateConfig {
        level,
        method: Method::Deflated,
        window_bits: 15,
        mem_level: 9,
        strategy: Strategy::Filtered,
    };
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
    let (written, code) = zlib_rs::compress_slice(&mut out, data, config);
    if code != zlib_rs::ReturnCode::Ok {
        return Err(PngError::Encoder(format!("zlib-rs returned {code:?}")));
    }
    let length = written.len();
    out.truncate(length);
    Ok(out)
}

/// The five PNG row filters, by their filter-type byte.
const NONE: u8 = 0;
const SUB: u8 = 1;
const UP: u8 = 2;
const AVERAGE: u8 = 3;
const PAETH: u8 = 4;

/// The rows of `pixels` (rows of `row_bytes` bytes, `bpp` bytes a pixel) filtered for
/// DEFLATE: each row as its filter-type byte and the filtered bytes. Each row gets the
/// filter whose output has the smallest sum of absolute values, the bytes read as
/// signed (libpng's and Pillow's heuristic), the first of None, Sub, Up, Average and
/// Paeth on ties; or `only`, for tests.
pub(crate) fn filter_rows(
    pixels: &[u8],
    row_bytes: usize,
    bpp: usize,
    only: Option<u8>,
) -> Vec<u8> {
    let height = pixels.len() / row_bytes;
    let mut out = vec![0u8; (row_bytes + 1) * height];
    let zeros = vec![0u8; row_bytes];
    let mut candidate = vec![0u8; row_bytes];
    for (y, target) in out.chunks_exact_mut(row_bytes + 1).enumerate() {
        let row = &pixels[y * row_bytes..][..row_bytes];
        // The row above the first is all zeros (the PNG specification).
        let above = if y == 0 {
            &zeros[..]
        } else {
            &pixels[(y - 1) * row_bytes..][..row_bytes]
        };
        let (kind, best) = target.split_first_mut().expect("a row has its type byte");
        let filters = match only {
            Some(filter) => filter..=filter,
            None => NONE..=PAETH,
        };
        let mut best_cost = u64::MAX;
        for filter in filters {
            filter_row(filter, row, above, bpp, &mut candidate);
            let cost = candidate
                .iter()
                .map(|&b| u64::from((b as i8).unsigned_abs()))
                .sum();
            if cost < best_cost {
                best_cost = cost;
                *kind = filter;
                best.copy_from_slice(&candidate);
            }
        }
    }
    out
}

/// Filter `filter` of `row` given the row `above`, into `out` (PNG specification,
/// section 9.2: `a` the byte one pixel to the left, `b` above, `c` above-left; 0 off the
/// image).
fn filter_row(filter: u8, row: &[u8], above: &[u8], bpp: usize, out: &mut [u8]) {
    let n = row.len();
    let bpp = bpp.min(n);
    match filter {
        NONE => out.copy_from_slice(row),
        SUB => {
            out[..bpp].copy_from_slice(&row[..bpp]);
            for i in bpp..n {
                out[i] = row[i].wrapping_sub(row[i - bpp]);
            }
        }
        UP => {
            for i in 0..n {
                out[i] = row[i].wrapping_sub(above[i]);
            }
        }
        AVERAGE => {
            for i in 0..bpp {
                out[i] = row[i].wrapping_sub(above[i] >> 1);
            }
            for i in bpp..n {
                let mean = ((u16::from(row[i - bpp]) + u16::from(above[i])) >> 1) as u8;
                out[i] = row[i].wrapping_sub(mean);
            }
        }
        _ => {
            // Paeth: with a = c = 0, the predictor is b.
            for i in 0..bpp {
                out[i] = row[i].wrapping_sub(above[i]);
            }
            for i in bpp..n {
                let predicted = paeth(row[i - bpp], above[i], above[i - bpp]);
                out[i] = row[i].wrapping_sub(predicted);
            }
        }
    }
}

/// The Paeth predictor: of `a`, `b` and `c`, the one closest to `a + b - c`, ties in
/// that order.
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (a16, b16, c16) = (i16::from(a), i16::from(b), i16::from(c));
    let p = a16 + b16 - c16;
    let (pa, pb, pc) = ((p - a16).abs(), (p - b16).abs(), (p - c16).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array3};

    /// Decodes a PNG file with the `png` crate: (height, width, colour type, bit depth,
    /// the pixels), after checking every chunk's CRC (the decoder does).
    fn decode(file: &[u8]) -> (usize, usize, ColorType, BitDepth, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(file))
            .read_info()
            .expect("a valid PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut pixels).expect("valid image data");
        pixels.truncate(info.buffer_size());
        reader.finish().expect("a valid PNG end");
        let (width, height) = (info.width as usize, info.height as usize);
        (height, width, info.color_type, info.bit_depth, pixels)
    }

    /// The chunk types of a PNG file, in order.
    fn chunk_types(file: &[u8]) -> Vec<String> {
        assert_eq!(&file[..8], b"\x89PNG\r\n\x1a\n");
        let mut types = Vec::new();
        let mut at = 8;
        while at < file.len() {
            let length = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            types.push(String::from_utf8_lossy(&file[at + 4..at + 8]).into_owned());
            at += 12 + length;
        }
        assert_eq!(at, file.len());
        types
    }

    /// Photograph-like content (smooth ramps plus a little noise): what the filters
    /// and DEFLATE are for, and not so regular that every level writes the same file.
    fn photo(height: usize, width: usize, channels: usize) -> Array3<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        Array3::from_shape_fn((height, width, channels), |(y, x, c)| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let ramp = (y * 3 + x * 2 + c * 40) as u64 / 4;
            (ramp + (state >> 62)) as u8
        })
    }

    /// Sizes tried: odd, one row, one column, one pixel (smaller under Miri).
    fn sizes() -> Vec<(usize, usize)> {
        if cfg!(miri) {
            vec![(1, 1), (1, 5), (4, 1), (3, 7)]
        } else {
            vec![
                (1, 1),
                (1, 9),
                (1, 1000),
                (9, 1),
                (17, 33),
                (64, 130),
                (301, 257),
            ]
        }
    }

    fn levels() -> Vec<u32> {
        // zlib-rs under Miri takes minutes a level: one of its levels there.
        if cfg!(miri) {
            vec![0, 1, 6]
        } else {
            (0..=MAX_LEVEL as u32).collect()
        }
    }

    #[test]
    fn every_level_decodes_to_the_pixels_gray_and_rgb() {
        for (height, width) in sizes() {
            for channels in [1, 3] {
                let image = photo(height, width, channels);
                for level in levels() {
                    let file = encode_png(image.view(), level).unwrap();
                    let (h, w, color, depth, pixels) = decode(&file);
                    let what = (height, width, channels, level);
                    assert_eq!((h, w), (height, width), "{what:?}");
                    let expected = if channels == 1 {
                        ColorType::Grayscale
                    } else {
                        ColorType::Rgb
                    };
                    assert_eq!((color, depth), (expected, BitDepth::Eight), "{what:?}");
                    assert_eq!(pixels, image.as_slice().unwrap(), "{what:?}");
                    let types = chunk_types(&file);
                    assert_eq!(types.first().map(String::as_str), Some("IHDR"), "{what:?}");
                    assert_eq!(types.last().map(String::as_str), Some("IEND"), "{what:?}");
                    assert!(
                        types[1..types.len() - 1].iter().all(|t| t == "IDAT"),
                        "{what:?}: {types:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn strided_views_give_the_bytes_of_their_contiguous_copy() {
        let (height, width) = if cfg!(miri) { (5, 6) } else { (40, 50) };
        let image = photo(height, width, 3);
        let reversed = image.slice(s![..;-1, .., ..]);
        let every_other = image.slice(s![.., ..;2, ..]);
        let transposed = image.view().permuted_axes([1, 0, 2]);
        let green = image.slice(s![.., .., 1..2]);
        let green_transposed = green.permuted_axes([1, 0, 2]);
        for view in [reversed, every_other, transposed, green, green_transposed] {
            for level in [0, 1, 2] {
                let copy = view.as_standard_layout().into_owned();
                assert_eq!(
                    encode_png(view, level).unwrap(),
                    encode_png(copy.view(), level).unwrap(),
                    "{:?} {:?} level {level}",
                    view.shape(),
                    view.strides()
                );
                let (_, _, _, _, pixels) = decode(&encode_png(view, level).unwrap());
                assert_eq!(pixels, copy.as_slice().unwrap());
            }
        }
    }

    #[test]
    fn level_0_stores_and_higher_levels_compress() {
        let (height, width) = if cfg!(miri) { (8, 9) } else { (200, 300) };
        let image = photo(height, width, 3);
        let size = |level| encode_png(image.view(), level).unwrap().len();
        // Stored: every row's filter byte and pixels, plus the headers.
        assert!(size(0) > height * (width * 3 + 1));
        // Miri's image is too small for DEFLATE's overhead to vanish.
        assert!(size(1) < if cfg!(miri) { size(0) } else { size(0) / 2 });
        if !cfg!(miri) {
            assert!(size(9) < size(1));
            assert!(size(6) <= size(2));
        }
    }

    /// The Paeth predictor by the specification's words: the nearest of a, b, c to
    /// p = a + b - c, ties to a, then b.
    fn paeth_definition(a: u8, b: u8, c: u8) -> u8 {
        let p = i32::from(a) + i32::from(b) - i32::from(c);
        let distances = [a, b, c].map(|v| (p - i32::from(v)).abs());
        let nearest = distances.iter().min().unwrap();
        [a, b, c][distances.iter().position(|d| d == nearest).unwrap()]
    }

    #[test]
    fn paeth_is_the_definition() {
        let step = if cfg!(miri) { 51 } else { 3 };
        for a in (0..=255).step_by(step) {
            for b in (0..=255).step_by(step) {
                for c in (0..=255u8).step_by(step) {
                    assert_eq!(paeth(a, b, c), paeth_definition(a, b, c), "{a} {b} {c}");
                }
            }
        }
    }

    /// A PNG file of `pixels` with every row filtered by `filter`, at zlib level 6.
    fn forced(pixels: &Array3<u8>, filter: u8) -> Vec<u8> {
        let (height, width, channels) = pixels.dim();
        let rows = filter_rows(
            pixels.as_slice().unwrap(),
            width * channels,
            channels,
            Some(filter),
        );
        for row in rows.chunks(width * channels + 1) {
            assert_eq!(row[0], filter);
        }
        let mut file = Vec::new();
        let mut encoder = Encoder::new(&mut file, width as u32, height as u32);
        encoder.set_color([ColorType::Grayscale, ColorType::Rgb][channels / 3]);
        encoder.set_depth(BitDepth::Eight);
        write_idat(encoder, &zlib(&rows, 6).unwrap()).unwrap();
        file
    }

    #[test]
    fn each_filter_alone_decodes_to_the_pixels() {
        // The png crate's decoder undoes each filter: ours computes the same ones. Under
        // Miri, where each zlib-rs call takes seconds, on one odd size.
        let sizes = if cfg!(miri) { vec![(3, 7)] } else { sizes() };
        for (height, width) in sizes {
            for channels in [1, 3] {
                let image = photo(height, width, channels);
                for filter in NONE..=PAETH {
                    let (_, _, _, _, pixels) = decode(&forced(&image, filter));
                    assert_eq!(
                        pixels,
                        image.as_slice().unwrap(),
                        "{height}x{width}x{channels} filter {filter}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_row_gets_the_filter_of_the_smallest_sum() {
        // Rows that one filter turns (almost) into zeros: a constant row (Sub: its first
        // byte, then zeros; Paeth ties with it and comes later), a ramp (Sub), the same
        // ramp again (Up: all zeros), a constant row under a ramp (Sub) and again (Up).
        let width = 12;
        let mut image = Array3::<u8>::zeros((5, width, 1));
        for x in 0..width {
            image[[0, x, 0]] = 1;
            image[[1, x, 0]] = (x * 17) as u8;
            image[[2, x, 0]] = (x * 17) as u8;
            image[[3, x, 0]] = 200;
            image[[4, x, 0]] = 200;
        }
        let rows = filter_rows(image.as_slice().unwrap(), width, 1, None);
        let kinds: Vec<u8> = rows.chunks(width + 1).map(|row| row[0]).collect();
        assert_eq!(kinds, [SUB, SUB, UP, SUB, UP]);
        // Ties go to the first in the order None, Sub, Up, Average, Paeth.
        let zeros = Array3::<u8>::zeros((2, 4, 1));
        let rows = filter_rows(zeros.as_slice().unwrap(), 4, 1, None);
        assert_eq!((rows[0], rows[5]), (NONE, NONE));
    }

    #[test]
    fn bad_levels_channels_and_sizes_are_refused() {
        let image = photo(2, 3, 3);
        assert_eq!(encode_png(image.view(), 10), Err(PngError::Level(10)));
        assert_eq!(
            encode_png(image.view(), u32::MAX),
            Err(PngError::Level(u32::MAX))
        );
        for channels in [0, 2, 4] {
            let image = Array3::<u8>::zeros((2, 3, channels));
            assert_eq!(
                encode_png(image.view(), 1),
                Err(PngError::Channels(channels))
            );
        }
        for (height, width) in [(0, 3), (3, 0), (0, 0)] {
            let image = Array3::<u8>::zeros((height, width, 1));
            assert_eq!(
                encode_png(image.view(), 1),
                Err(PngError::Size { height, width })
            );
        }
        // A side beyond PNG's 31 bits, without allocating it: a broadcast view.
        let row = Array3::<u8>::zeros((1, 1, 1));
        let wide = row.broadcast((1, MAX_SIDE + 1, 1)).unwrap();
        assert_eq!(
            encode_png(wide, 1),
            Err(PngError::Size {
                height: 1,
                width: MAX_SIDE + 1
            })
        );
        let message = PngError::Size {
            height: 0,
            width: 3,
        }
        .to_string();
        assert_eq!(
            message,
            "image must be 1 to 2147483647 pixels on each side to be written as PNG, got \
             height 0 and width 3"
        );
        assert_eq!(
            PngError::Level(12).to_string(),
            "compression must be an integer from 0 to 9, got 12"
        );
    }
}
