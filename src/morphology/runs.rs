//! The run method (see the module above for the decomposition) on a block of rows of
//! an image: the whole image, or one band of it on one thread
//! (docs/behaviour.md#threads), with the image's rows around the band read from copies.

use super::{disk_half_widths, widening_step, width_groups, Op, WidthGroup};
use crate::simd::multiversioned;

/// Where the rows of one block come from: its own rows (read before they are
/// overwritten) and, for a band of a larger image, the rows within reach above and
/// below it.
pub(super) struct Source<'a> {
    /// Image rows `first .. first + rows`, which the result replaces.
    pub(super) block: &'a mut [u64],
    pub(super) first: usize,
    /// The image's other rows within reach (never called for a whole image).
    pub(super) halo: &'a (dyn Fn(usize) -> &'a [u64] + Sync),
    /// The image's size.
    pub(super) image_rows: usize,
    pub(super) cols: usize,
}

/// Which widening loop runs: the hand-written AVX-512 F + VBMI2 fan-out (x86-64, where
/// the CPU has it and the hand-written loops are on, `crate::simd::set_hand_written_simd`)
/// or the portable steps. Both give the same bits; the unit tests compare them. The
/// choice is `Widening::detect`, in the module's root (`morphology.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Widening {
    Steps,
    /// Only ever detected on x86-64.
    FanOut,
}

/// The most run widths one fan-out pass computes.
const MAX_FAN_OUT: usize = 8;

/// One target of a fan-out pass: `(index in FanOut::widths, a, centre)`.
type Target = (usize, usize, bool);

/// The widening passes of the fan-out loop for one disk: each starts from the widest runs
/// computed so far and computes every next width of the disk that one step reaches from
/// them (`H_{b+a}(x) = H_b(x − a) ∘ H_b(x + a)`, with `∘ H_b(x)` when `a > b`; see
/// [`widening_step`]), up to [`MAX_FAN_OUT`], or one doubling step towards the next.
/// For r = 16 that is 4 passes (to widths 1; 4; 5, 7, 9; 10 to 16) where the steps take
/// 13, each reading its input once for all its widths.
#[derive(Clone, Debug)]
struct FanOut {
    /// Every run width computed; `widths[0] = 0` is the image itself.
    widths: Vec<usize>,
    /// Per pass: its base (an index into `widths`) and its targets `(index, a, centre)`,
    /// narrowest first (so the ones without the centre term first).
    passes: Vec<(usize, Vec<Target>)>,
    /// Buffer slot of each width (a pass writes its targets into slots other than its
    /// base's; every run a later pass or group needs is its base or one of its own).
    slot: Vec<usize>,
    /// The index in `widths` of each group's width.
    level: Vec<usize>,
}

impl FanOut {
    fn new(groups: &[WidthGroup]) -> FanOut {
        let needed: Vec<usize> = groups.iter().map(|g| g.width).filter(|&w| w > 0).collect();
        let mut widths = vec![0];
        let mut passes = Vec::new();
        let mut i = 0;
        while i < needed.len() {
            let base = widths.len() - 1;
            let b = widths[base];
            let mut targets = Vec::new();
            while i < needed.len() && targets.len() < MAX_FAN_OUT && needed[i] - b <= 2 * b + 1 {
                let a = needed[i] - b;
                widths.push(needed[i]);
                targets.push((widths.len() - 1, a, a > b));
                i += 1;
            }
            if targets.is_empty() {
                let (a, centre) = widening_step(b, needed[i]);
                widths.push(b + a);
                targets.push((widths.len() - 1, a, centre));
            }
            passes.push((base, targets));
        }
        let mut slot = vec![usize::MAX; widths.len()];
        for (base, targets) in &passes {
            let taken = slot[*base];
            let free = (0..=MAX_FAN_OUT).filter(|&s| s != taken);
            for (&(target, _, _), s) in targets.iter().zip(free) {
                slot[target] = s;
            }
        }
        let level = groups
            .iter()
            .map(|g| widths.iter().position(|&w| w == g.width).expect("planned"))
            .collect();
        FanOut {
            widths,
            passes,
            slot,
            level,
        }
    }
}

/// Runs one fan-out pass over the buffer words `words`: the targets' runs from the
/// base's (`source` for width 0).
#[inline(always)]
fn fan_out_pass<O: Op>(
    plan: &FanOut,
    pass: usize,
    source: &[u64],
    levels: &mut [Vec<u64>],
    words: std::ops::Range<usize>,
) {
    let (base, targets) = &plan.passes[pass];
    // The base's buffer, taken out while the targets' are written (never one of them).
    let base_slot = plan.slot[*base];
    let taken = if *base == 0 {
        None
    } else {
        Some(std::mem::take(&mut levels[base_slot]))
    };
    let inp = taken.as_deref().unwrap_or(source);
    let mut outs: [&mut [u64]; MAX_FAN_OUT] = Default::default();
    let mut shifts = [(0, false); MAX_FAN_OUT];
    // Targets have slots in increasing order (`FanOut::new`): split them off in turn.
    let mut rest: &mut [Vec<u64>] = levels;
    let mut next = 0;
    for (j, &(target, a, centre)) in targets.iter().enumerate() {
        let slot = plan.slot[target];
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(slot + 1 - next);
        outs[j] = head.last_mut().expect("a slot").as_mut_slice();
        shifts[j] = (a, centre);
        rest = tail;
        next = slot + 1;
    }
    let count = targets.len();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `Widening::FanOut` is chosen only where the CPU has AVX-512 F and VBMI2
        // and the hand-written loops are on (`Widening::detect`).
        unsafe { super::avx512::fan_out::<O>(&mut outs[..count], &shifts[..count], inp, words) };
        if let Some(buffer) = taken {
            levels[base_slot] = buffer;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "fan-out passes on x86-64 only ({count} {words:?} {} {shifts:?} {})",
        inp.len(),
        outs.len()
    );
}

/// Copies `row` into the inner words of a guarded row, its padding bits set to outside
/// pixels; returns whether the row is all outside pixels.
#[inline(always)]
fn load_row<O: Op>(inner: &mut [u64], row: &[u64], pad: u64) -> bool {
    let (last, body) = inner.split_last_mut().expect("rows have at least one word");
    // Copied word by word rather than by `memcpy`, whose stores the test would wait on.
    let mut diff = 0;
    for (dst, &word) in body.iter_mut().zip(row) {
        *dst = word;
        diff |= word ^ O::OUTSIDE;
    }
    *last = (row[row.len() - 1] & !pad) | (O::OUTSIDE & pad);
    diff | (*last ^ O::OUTSIDE) == 0
}

/// `out[k] = inp[k + a] ∘ inp[k − a]` (bit positions; with `centre`, also `∘ inp[k]`)
/// for every word `k` in `range`. Reads up to `a / 64 + 1` words either side of it.
#[inline(always)]
fn shift_step<O: Op, const CENTRE: bool>(
    out: &mut [u64],
    inp: &[u64],
    range: std::ops::Range<usize>,
    a: usize,
) {
    let (q, s) = (a / 64, (a % 64) as u32);
    let (start, n) = (range.start, range.len());
    let out = &mut out[range];
    let here = &inp[start..start + n];
    let ahead = &inp[start + q..start + q + n];
    let behind = &inp[start - q..start - q + n];
    if s == 0 {
        let words = out.iter_mut().zip(here).zip(ahead.iter().zip(behind));
        for ((o, &h), (&r, &l)) in words {
            let v = O::combine(r, l);
            *o = if CENTRE { O::combine(v, h) } else { v };
        }
        return;
    }
    let ahead_next = &inp[start + q + 1..start + q + 1 + n];
    let behind_prev = &inp[start - q - 1..start - q - 1 + n];
    let words = out
        .iter_mut()
        .zip(here)
        .zip(ahead.iter().zip(ahead_next))
        .zip(behind.iter().zip(behind_prev));
    for (((o, &h), (&r, &r_next)), (&l, &l_prev)) in words {
        let right = (r >> s) | (r_next << (64 - s));
        let left = (l << s) | (l_prev >> (64 - s));
        let v = O::combine(right, left);
        *o = if CENTRE { O::combine(v, h) } else { v };
    }
}

/// `acc[k] = acc[k] ∘ terms[0][k] ∘ …` for one, two or four terms; returns whether
/// `acc` is now all absorbing words (then no further term can change it).
#[inline(always)]
fn combine_terms<O: Op>(acc: &mut [u64], terms: &[&[u64]]) -> bool {
    let n = acc.len();
    let mut diff = 0;
    match *terms {
        [t0] => {
            for (a, &b0) in acc.iter_mut().zip(&t0[..n]) {
                let v = O::combine(*a, b0);
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        [t0, t1] => {
            for (a, (&b0, &b1)) in acc.iter_mut().zip(t0[..n].iter().zip(&t1[..n])) {
                let v = O::combine(*a, O::combine(b0, b1));
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        [t0, t1, t2, t3] => {
            let pairs = t0[..n].iter().zip(&t1[..n]);
            let more = t2[..n].iter().zip(&t3[..n]);
            for (a, ((&b0, &b1), (&b2, &b3))) in acc.iter_mut().zip(pairs.zip(more)) {
                let v = O::combine(O::combine(*a, O::combine(b0, b1)), O::combine(b2, b3));
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        _ => unreachable!("one, two or four terms"),
    }
    diff == 0
}

multiversioned! {
    /// Erosion or dilation by `disk(radius)`, in place, of the block of `src`, pixels
    /// outside the image ignored (`radius ≥ 1`, the disk not covering the image: the
    /// caller settles those).
    ///
    /// Works strip by strip of output rows; each strip reads the `reach` rows around it
    /// into its own buffer, and hands the last `2 · reach` of them, still as they were
    /// before the strip wrote its output, to the next strip. Extra memory: a few strips,
    /// whatever the image size.
    pub(super) fn morph_block<O: Op>(src: Source<'_>, radius: u64, widening: Widening) {
        let Source { block, first, halo, image_rows, cols } = src;
        let wpr = cols.div_ceil(64);
        let rows = block.len() / wpr;
        if rows == 0 {
            return;
        }
        let half_widths = disk_half_widths(radius, image_rows, cols);
        let groups = width_groups(&half_widths);
        // Rows above and below that the disk reaches.
        let reach = half_widths.len() - 1;
        // The centre row's run is the widest: a guard that wide keeps every run's window
        // inside its own row's guards, and also bounds every shift.
        let guard = half_widths[0] / 64 + 1;
        let stride = wpr + 2 * guard;
        let pad = if cols % 64 == 0 { 0 } else { u64::MAX << (cols % 64) };
        let keep = !pad;
        // Strips of output rows, each with the `reach` rows around it, keep every pass in
        // L1/L2 cache. Only the narrow runs are needed that far out, so the overlap costs
        // little; short strips also take the early exits below more often (measured: 32
        // to 64 rows beat 128).
        let strip = (4 * reach).max(32).min(rows);
        // Row buffers: `guard` spare words, then guarded rows `first − reach .. end + reach`
        // (outside pixels for rows outside the image), then `guard` spare words, so that
        // shifted reads of any row stay in the buffer. Guards of `source` are never written.
        let capacity = (strip + 2 * reach) * stride + 2 * guard;
        // Buffer row i (image row first − reach + i) starts at its leading guard here.
        let row_start = |i: usize| guard + i * stride;
        let mut source = vec![O::OUTSIDE; capacity];
        let mut source_outside = vec![false; strip + 2 * reach]; // per buffer row
        // The widening: steps through `runs` and `next_runs`, or fan-out passes into
        // `levels` (for runs narrower than a word, so that every shift is below 64).
        let fan_out = (widening == Widening::FanOut && half_widths[0] < 64)
            .then(|| FanOut::new(&groups));
        let slots = fan_out
            .as_ref()
            .map_or(0, |p| p.passes.iter().map(|t| t.1.len()).max().unwrap_or(0) + 1);
        let mut levels: Vec<Vec<u64>> = (0..slots).map(|_| vec![O::OUTSIDE; capacity]).collect();
        let steps = if fan_out.is_none() { capacity } else { 0 };
        let mut runs = vec![O::OUTSIDE; steps];
        let mut next_runs = vec![O::OUTSIDE; steps];
        // Which bits of `acc` are pixels: guards and padding bits of `acc` start absorbing,
        // so that they stay so and the early exit test is one test over the whole buffer.
        let mut pixels = vec![0; strip * stride];
        for row in pixels.chunks_exact_mut(stride) {
            row[guard..guard + wpr].fill(u64::MAX);
            row[guard + wpr - 1] = keep;
        }
        let mut acc = vec![O::OUTSIDE; strip * stride];
        let mut carried = 0; // buffer rows already loaded by the previous strip
        for s in (0..rows).step_by(strip) {
            let end = (s + strip).min(rows);
            let n = end - s;
            for i in carried..n + 2 * reach {
                // The image row of buffer row i (below row 0 it wraps: outside).
                let y = (first + s + i).wrapping_sub(reach);
                let inner = &mut source[row_start(i) + guard..row_start(i) + guard + wpr];
                source_outside[i] = if y >= image_rows {
                    inner.fill(O::OUTSIDE);
                    true
                } else if (first..first + rows).contains(&y) {
                    let at = (y - first) * wpr;
                    load_row::<O>(inner, &block[at..at + wpr], pad)
                } else {
                    load_row::<O>(inner, halo(y), pad)
                };
            }
            let rows_out = &mut block[s * wpr..end * wpr];
            let mut settled = None; // the value of every output word, once known
            if source_outside[..n + 2 * reach].iter().all(|&o| o) {
                // Nothing but outside pixels in reach: the result is outside pixels too.
                settled = Some(O::OUTSIDE);
            } else {
                // The centre rows themselves are part of the disk.
                let acc = &mut acc[..n * stride];
                let centre = &source[row_start(reach)..row_start(reach + n)];
                let mut diff = 0;
                for ((a, &c), &m) in acc.iter_mut().zip(centre).zip(&pixels) {
                    *a = (c & m) | (O::ABSORBING & !m);
                    diff |= *a ^ O::ABSORBING;
                }
                let mut done = diff == 0;
                let mut width = 0;
                let mut computed = 1; // widths of `fan_out` computed for this strip
                for (g, group) in groups.iter().enumerate() {
                    if done {
                        break;
                    }
                    // Only rows within `d_max` of the strip still need runs this wide. Each
                    // step computes whole guarded rows as if the buffer were one long row;
                    // a run value that reads a stale row or another row's guards is never
                    // read back for the pixels of its own row, whose windows (at most
                    // `half_widths[0]` pixels either side) end inside their own guards.
                    let needed = row_start(reach - group.d_max)..row_start(reach + n + group.d_max);
                    if let Some(plan) = &fan_out {
                        // Passes up to the one that computes this group's width, over the
                        // rows this group needs (the narrowest of theirs: the widths not
                        // yet computed are this group's and wider ones).
                        let level = plan.level[g];
                        let mut pass = plan.passes.iter().position(|(_, t)| t[0].0 >= computed).unwrap_or(plan.passes.len());
                        while level >= computed {
                            fan_out_pass::<O>(plan, pass, &source, &mut levels, needed.clone());
                            computed = plan.passes[pass].1.last().expect("a target").0 + 1;
                            pass += 1;
                        }
                        width = plan.widths[level];
                    }
                    while width < group.width {
                        let (a, centre) = widening_step(width, group.width);
                        let from = if width == 0 { &source } else { &runs };
                        if centre {
                            shift_step::<O, true>(&mut next_runs, from, needed.clone(), a);
                        } else {
                            shift_step::<O, false>(&mut next_runs, from, needed.clone(), a);
                        }
                        std::mem::swap(&mut runs, &mut next_runs);
                        width += a;
                    }
                    let current: &[u64] = match &fan_out {
                        _ if width == 0 => &source,
                        Some(plan) => &levels[plan.slot[plan.level[g]]],
                        None => &runs,
                    };
                    let term = |row: usize| &current[row_start(row)..row_start(row + n)];
                    // Output row i takes rows i ± d for every d of the group, several per pass.
                    let mut d = group.d_min;
                    while d <= group.d_max && !done {
                        done = if d == 0 {
                            combine_terms::<O>(acc, &[term(reach)])
                        } else if d < group.d_max {
                            d += 1;
                            combine_terms::<O>(
                                acc,
                                &[
                                    term(reach + d - 1),
                                    term(reach - d + 1),
                                    term(reach + d),
                                    term(reach - d),
                                ],
                            )
                        } else {
                            combine_terms::<O>(acc, &[term(reach + d), term(reach - d)])
                        };
                        d += 1;
                    }
                }
                if done {
                    settled = Some(O::ABSORBING);
                } else {
                    for (dst, row) in rows_out.chunks_exact_mut(wpr).zip(acc.chunks_exact(stride)) {
                        dst.copy_from_slice(&row[guard..guard + wpr]);
                        dst[wpr - 1] &= keep;
                    }
                }
            }
            if let Some(word) = settled {
                rows_out.fill(word);
                for dst in rows_out.chunks_exact_mut(wpr) {
                    dst[wpr - 1] &= keep;
                }
            }
            // The next strip's first rows are this one's last, as read before it wrote.
            if end < rows {
                let (from, to) = (row_start(n), row_start(n + 2 * reach));
                source.copy_within(from..to, row_start(0));
                source_outside.copy_within(n..n + 2 * reach, 0);
                carried = 2 * reach;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_plans_reach_every_width_in_valid_steps() {
        for r in 0..if cfg!(miri) { 70 } else { 400u64 } {
            let groups = width_groups(&disk_half_widths(r, 1000, 1000));
            let plan = FanOut::new(&groups);
            assert_eq!(plan.widths[0], 0);
            for (g, &level) in groups.iter().zip(&plan.level) {
                assert_eq!(plan.widths[level], g.width, "r {r}");
            }
            let mut computed = 1;
            for (base, targets) in &plan.passes {
                // From the widest so far, to new widths in order, each one valid step
                // away (windows that touch; the centre term exactly when needed).
                assert_eq!(*base, computed - 1, "r {r}");
                assert!((1..=MAX_FAN_OUT).contains(&targets.len()), "r {r}");
                let b = plan.widths[*base];
                for (j, &(target, a, centre)) in targets.iter().enumerate() {
                    assert_eq!(target, computed + j, "r {r}");
                    assert_eq!(plan.widths[target], b + a, "r {r}");
                    assert!(a >= 1 && a <= 2 * b + 1 && centre == (a > b), "r {r}");
                    // Distinct slots, increasing, none the base's.
                    assert_ne!(plan.slot[target], plan.slot[*base], "r {r}");
                    if j > 0 {
                        assert!(plan.slot[target] > plan.slot[targets[j - 1].0], "r {r}");
                    }
                }
                computed += targets.len();
            }
            assert_eq!(computed, plan.widths.len(), "r {r}");
        }
    }
}
