//! A binary image packed 64 pixels to a `u64` word: what the threshold produces and
//! what the opening, the components and the outlines run on (one word holds 64 pixels,
//! so those passes handle 64 pixels per operation).

use ndarray::{ArrayView2, Axis};

use crate::rows::as_contiguous;
use crate::simd::prefetch;

/// A `rows × cols` binary image; bit `x % 64` of word `x / 64` of a row is pixel `x`.
///
/// Invariant: the padding bits past `cols` in each row's last word are 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitMatrix {
    rows: usize,
    cols: usize,
    words_per_row: usize,
    words: Vec<u64>,
}

impl BitMatrix {
    /// An all-zero matrix.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let m = BitMatrix::zeros(2, 70);
    /// assert_eq!((m.rows(), m.cols(), m.words_per_row()), (2, 70, 2));
    /// assert!(!m.get(1, 69));
    /// ```
    pub fn zeros(rows: usize, cols: usize) -> Self {
        let words_per_row = cols.div_ceil(64);
        BitMatrix {
            rows,
            cols,
            words_per_row,
            words: vec![0; rows * words_per_row],
        }
    }

    /// Builds a matrix from a predicate on (row, column).
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let m = BitMatrix::from_fn(3, 3, |y, x| y == x);
    /// assert!(m.get(2, 2) && !m.get(2, 1));
    /// ```
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut m = BitMatrix::zeros(rows, cols);
        for y in 0..rows {
            let row = m.row_mut(y);
            for x in 0..cols {
                row[x / 64] |= u64::from(f(y, x)) << (x % 64);
            }
        }
        m
    }

    /// Packs `set(v)` of every element of `view` (any strides), 64 pixels a word.
    ///
    /// Inlined into its callers, so that it runs in their SIMD clones: full words are
    /// packed from fixed-length chunks, which compile to vector compares and mask moves.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let bits = BitMatrix::from_view(ndarray::array![[1u8, 0], [0, 7]].view(), |v| v > 0);
    /// assert!(bits.get(0, 0) && !bits.get(0, 1) && bits.get(1, 1));
    /// ```
    #[inline(always)]
    pub fn from_view<T: Copy>(view: ArrayView2<'_, T>, set: impl Fn(T) -> bool) -> Self {
        Self::from_view_reusing(view, set, Vec::new())
    }

    /// [`BitMatrix::from_view`] into the memory of `words` (from [`BitMatrix::into_words`]
    /// of an earlier matrix), which saves an allocation when it is large enough.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let map = ndarray::array![[0.2f32, 0.9]];
    /// let first = BitMatrix::from_view(map.view(), |v| v > 0.5);
    /// let again = BitMatrix::from_view_reusing(map.view(), |v| v > 0.1, first.into_words());
    /// assert!(again.get(0, 0) && again.get(0, 1));
    /// ```
    #[inline(always)]
    pub fn from_view_reusing<T: Copy>(
        view: ArrayView2<'_, T>,
        set: impl Fn(T) -> bool,
        mut words: Vec<u64>,
    ) -> Self {
        let (rows, cols) = view.dim();
        words.clear();
        words.resize(rows * cols.div_ceil(64), 0);
        Self::pack_rows(view, set, &mut words);
        Self::from_words(rows, cols, words)
    }

    /// Packs `view` into `words` (`view.nrows()` rows of `ceil(cols / 64)` words, row
    /// after row): what [`BitMatrix::from_view`] does, on rows of a matrix's memory
    /// so that bands of rows can be packed in parallel. Inlined as `from_view` is.
    #[inline(always)]
    pub fn pack_rows<T: Copy>(view: ArrayView2<'_, T>, set: impl Fn(T) -> bool, words: &mut [u64]) {
        let words_per_row = view.ncols().div_ceil(64);
        assert_eq!(
            words.len(),
            view.nrows() * words_per_row,
            "words for every row"
        );
        let mut scratch = Vec::new();
        for (row, bits) in view
            .axis_iter(Axis(0))
            .zip(words.chunks_exact_mut(words_per_row.max(1)))
        {
            let values = as_contiguous(row, &mut scratch);
            for (word, chunk) in bits.iter_mut().zip(values.chunks(64)) {
                prefetch::ahead_of(chunk);
                *word = match <&[T; 64]>::try_from(chunk) {
                    Ok(full) => full
                        .iter()
                        .enumerate()
                        .fold(0, |w, (i, &v)| w | u64::from(set(v)) << i),
                    Err(_) => chunk
                        .iter()
                        .enumerate()
                        .fold(0, |w, (i, &v)| w | u64::from(set(v)) << i),
                };
            }
        }
    }

    /// The matrix of `words` as [`BitMatrix::pack_rows`] filled them for a `rows × cols`
    /// view (so the padding bits are 0).
    pub(crate) fn from_words(rows: usize, cols: usize, words: Vec<u64>) -> Self {
        let words_per_row = cols.div_ceil(64);
        assert_eq!(words.len(), rows * words_per_row, "words for every row");
        BitMatrix {
            rows,
            cols,
            words_per_row,
            words,
        }
    }

    /// The matrix's memory, for [`BitMatrix::from_view_reusing`].
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::from_fn(2, 3, |_, x| x == 1).into_words(), [0b010, 0b010]);
    /// ```
    pub fn into_words(self) -> Vec<u64> {
        self.words
    }

    /// The number of rows.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::zeros(4, 9).rows(), 4);
    /// ```
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of columns (pixels a row).
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::zeros(4, 9).cols(), 9);
    /// ```
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The number of words a row: `cols / 64`, rounded up.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::zeros(4, 129).words_per_row(), 3);
    /// ```
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }

    /// Pixel (y, x).
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let m = BitMatrix::from_fn(2, 70, |y, x| (y, x) == (1, 65));
    /// assert!(m.get(1, 65) && !m.get(0, 65));
    /// ```
    pub fn get(&self, y: usize, x: usize) -> bool {
        self.row(y)[x / 64] >> (x % 64) & 1 == 1
    }

    /// The words of row `y`.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let m = BitMatrix::from_fn(2, 70, |y, x| y == 1 && x % 64 == 0);
    /// assert_eq!(m.row(1), [1, 1]);
    /// ```
    pub fn row(&self, y: usize) -> &[u64] {
        &self.words[y * self.words_per_row..(y + 1) * self.words_per_row]
    }

    /// The words of row `y`, mutably. Callers keep the padding bits 0.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let mut m = BitMatrix::zeros(2, 70);
    /// m.row_mut(1)[1] = 0b100; // pixel 66
    /// assert!(m.get(1, 66));
    /// ```
    pub fn row_mut(&mut self, y: usize) -> &mut [u64] {
        &mut self.words[y * self.words_per_row..(y + 1) * self.words_per_row]
    }

    /// All words, row after row.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::from_fn(2, 2, |y, x| y == x).words(), [0b01, 0b10]);
    /// ```
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// All words, mutably. Callers keep the padding bits 0.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let mut m = BitMatrix::zeros(2, 2);
    /// m.words_mut()[1] = 0b11;
    /// assert!(m.get(1, 0) && m.get(1, 1) && !m.get(0, 0));
    /// ```
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// The mask of valid bits in each row's last word (all ones when `cols % 64 == 0`).
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::zeros(1, 67).last_word_mask(), 0b111);
    /// assert_eq!(BitMatrix::zeros(1, 128).last_word_mask(), u64::MAX);
    /// ```
    pub fn last_word_mask(&self) -> u64 {
        match self.cols % 64 {
            0 => u64::MAX,
            r => (1u64 << r) - 1,
        }
    }

    /// Number of set pixels.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert_eq!(BitMatrix::from_fn(3, 3, |y, x| y <= x).count_ones(), 6);
    /// ```
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether every pixel is set.
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// assert!(BitMatrix::from_fn(2, 70, |_, _| true).is_full());
    /// assert!(!BitMatrix::from_fn(2, 70, |y, x| (y, x) != (1, 69)).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.count_ones() == self.rows * self.cols
    }

    /// Sets every pixel to `value` (the padding bits stay 0).
    ///
    /// ```
    /// use anomaly_postprocess::bitmap::BitMatrix;
    /// let mut m = BitMatrix::zeros(2, 70);
    /// m.fill(true);
    /// assert_eq!((m.count_ones(), m.row(0)[1]), (140, 0b11_1111));
    /// ```
    pub fn fill(&mut self, value: bool) {
        let last = self.last_word_mask();
        let wpr = self.words_per_row;
        for row in self.words.chunks_exact_mut(wpr.max(1)) {
            row.fill(if value { u64::MAX } else { 0 });
            if let Some(w) = row.last_mut() {
                *w &= last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// Every pixel and the padding invariant, against a predicate.
    fn check(m: &BitMatrix, f: impl Fn(usize, usize) -> bool, what: &str) {
        for y in 0..m.rows() {
            for x in 0..m.cols() {
                assert_eq!(m.get(y, x), f(y, x), "{what} at {y},{x}");
            }
            if let Some(&last) = m.row(y).last() {
                assert_eq!(last & !m.last_word_mask(), 0, "{what}: padding of row {y}");
            }
        }
    }

    #[test]
    fn packing_strided_views_equals_packing_their_copies() {
        // Full words and tails; rows in place, transposed, reversed and column-stepped.
        // Under Miri (a minute for all) one column and a full word with a tail.
        let widths = if cfg!(miri) {
            &[1, 65][..]
        } else {
            &[1, 63, 64, 65, 130][..]
        };
        for &cols in widths {
            let a = Array2::from_shape_fn((5, cols), |(y, x)| ((y * 7 + x * 3) % 5) as u8);
            let views = [
                a.view(),
                a.t(),
                a.slice(s![..;-1, ..;-1]),
                a.slice(s![1.., ..;2]),
            ];
            for view in views {
                let bits = BitMatrix::from_view(view, |v| v > 1);
                assert_eq!(bits.rows(), view.nrows());
                assert_eq!(
                    bits,
                    BitMatrix::from_view(view.to_owned().view(), |v| v > 1)
                );
                check(&bits, |y, x| view[[y, x]] > 1, &format!("{view:?}"));
            }
        }
    }

    #[test]
    fn reused_words_hold_no_trace_of_the_earlier_matrix() {
        let full = BitMatrix::from_fn(9, 200, |_, _| true);
        let small = Array2::from_shape_fn((3, 70), |(y, x)| (y + x) % 4 == 0);
        let bits = BitMatrix::from_view_reusing(small.view(), |v| v, full.into_words());
        assert_eq!(bits.words().len(), 3 * 2);
        check(&bits, |y, x| (y + x) % 4 == 0, "reused");
        assert_eq!(bits, BitMatrix::from_view(small.view(), |v| v));
    }

    #[test]
    fn fill_keeps_the_padding_clear_and_empty_shapes_work() {
        for (rows, cols) in [(3, 1), (2, 64), (4, 65), (0, 5), (3, 0)] {
            let mut m = BitMatrix::zeros(rows, cols);
            m.fill(true);
            check(&m, |_, _| true, "filled");
            assert!(m.is_full());
            assert_eq!(m.count_ones(), rows * cols);
            m.fill(false);
            assert_eq!(m.count_ones(), 0);
        }
    }
}
