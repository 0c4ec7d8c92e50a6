//! The fast path of [`Records`](super::Records): records split at their structural bytes
//! (delimiter, quote, `\r`, `\n`), found 64 bytes at a time as a bit mask, with no branch
//! per byte and none per field but the field's own. On x86-64 the mask is made 16 bytes at
//! a time with SSE2, which every x86-64 processor has (so no detection and no `unsafe`): a
//! third of the instructions of eight bytes per machine word (SWAR), which other
//! architectures keep. (The one `unsafe` of this crate is that call: Rust asks for it at any
//! function enabling a target feature, even one the whole target has.)

/// Bytes whose structural bytes one mask covers.
const BLOCK: usize = 64;
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
const HIGH: u64 = 0x8080_8080_8080_8080;

/// What the fast path needs from the options. Absent when they make it unsafe (a delimiter
/// that is also the quote, the comment or a line end) or rare enough not to matter (an
/// escape byte, which only csv-core handles).
#[derive(Debug, Clone, Copy)]
pub(super) struct Plain {
    delimiter: u8,
    quote: u8,
    pub(super) comment: Option<u8>,
    /// Each structural byte repeated over a word.
    splats: [u64; 4],
}

impl Plain {
    pub(super) fn new(
        delimiter: u8,
        quote: u8,
        escape: Option<u8>,
        comment: Option<u8>,
    ) -> Option<Self> {
        let line_end = |b| matches!(b, b'\n' | b'\r');
        if escape.is_some()
            || delimiter == quote
            || line_end(delimiter)
            || line_end(quote)
            || comment == Some(delimiter)
        {
            return None;
        }
        let splat = |b: u8| u64::from_ne_bytes([b; 8]);
        Some(Plain {
            delimiter,
            quote,
            comment,
            splats: [splat(delimiter), splat(quote), splat(b'\r'), splat(b'\n')],
        })
    }

    fn is_structural(&self, b: u8) -> bool {
        b == self.delimiter || b == self.quote || b == b'\r' || b == b'\n'
    }

    /// Bit `i` set when `bytes[i]` is structural; `bytes` holds at most [`BLOCK`] bytes.
    fn mask(&self, bytes: &[u8]) -> u64 {
        if bytes.len() < BLOCK {
            return bytes.iter().enumerate().fold(0, |mask, (i, &b)| {
                mask | (u64::from(self.is_structural(b)) << i)
            });
        }
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        #[allow(unsafe_code)]
        // SAFETY: `block_mask` only needs SSE2, which this build enables for the whole
        // program (the `cfg` above; every x86-64 target has it).
        return unsafe { self.block_mask(bytes) };
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        return self.word_mask(bytes);
    }

    /// [`mask`](Self::mask) of a whole block, 16 bytes per SSE2 compare.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[target_feature(enable = "sse2")]
    fn block_mask(&self, bytes: &[u8]) -> u64 {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi64x,
        };
        let [delimiter, quote, cr, lf] = self.splats.map(|splat| _mm_set1_epi64x(splat as i64));
        let mut mask = 0;
        for (k, chunk) in bytes.chunks_exact(16).enumerate() {
            let word = |at: usize| {
                u64::from_le_bytes(chunk[at..at + 8].try_into().expect("halves of 16")) as i64
            };
            let v = _mm_set_epi64x(word(8), word(0));
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, delimiter), _mm_cmpeq_epi8(v, quote)),
                _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
            );
            // One bit per byte, in the low 16 bits.
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
        }
        mask
    }

    /// [`mask`](Self::mask) of a whole block, eight bytes per machine word: where there is no
    /// SSE2 (and in tests, which hold the two to the same answers).
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "sse2", not(test)),
        allow(dead_code)
    )]
    fn word_mask(&self, bytes: &[u8]) -> u64 {
        let mut mask = 0;
        for (k, chunk) in bytes.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
            let hits = self
                .splats
                .iter()
                .fold(0, |hits, &splat| hits | zero_bytes(word ^ splat));
            mask |= high_bits_to_byte(hits) << (8 * k);
        }
        mask
    }
}

/// The high bit of each byte of `x` that is zero, and no other bit: `(b & 0x7f) + 0x7f`
/// carries into the high bit exactly when the low seven bits are not all zero, and never
/// into the next byte.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// Bits 7, 15, …, 63 of `hits` as bits 0 to 7: each lands at 56 + k under the multiplier,
/// and no two partial products share a bit, so nothing carries into the top byte.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
fn high_bits_to_byte(hits: u64) -> u64 {
    (hits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// A block of the input whose structural bytes are known: bit `i` of `mask` for
/// `start + i`, with those already passed cleared. Kept between records, as a record
/// usually ends inside the block where the next one starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    start: usize,
    len: usize,
    mask: u64,
}

impl Block {
    fn scan(plain: &Plain, input: &[u8], start: usize) -> Block {
        let len = BLOCK.min(input.len() - start);
        Block {
            start,
            len,
            mask: plain.mask(&input[start..start + len]),
        }
    }

    /// This block, if it holds `at`, with the bits before `at` cleared; else the block
    /// starting at `at`.
    fn at(plain: &Plain, input: &[u8], cached: Option<Block>, at: usize) -> Block {
        match cached {
            Some(mut block) if (block.start..block.start + block.len).contains(&at) => {
                block.mask &= u64::MAX << (at - block.start);
                block
            }
            _ => Block::scan(plain, input, at),
        }
    }
}

/// What the fast path made of the input at a record's start.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Split {
    /// A record, which ends at `end` (exclusive) and holds `lines` line feeds.
    Record { end: usize, lines: u64 },
    /// The record may go on past the input read so far.
    NeedMore,
    /// The record has more fields than `ends` has room for.
    MoreFields,
    /// A record csv-core must read: text after a closing quote.
    Core,
}

/// The structural bytes of `input` from a block on, in order.
struct Structurals<'a> {
    plain: &'a Plain,
    input: &'a [u8],
    block: Block,
}

impl Structurals<'_> {
    /// The next structural byte's index, or `None` when the input read so far ends first.
    fn next(&mut self) -> Option<usize> {
        while self.block.mask == 0 {
            let next = self.block.start + self.block.len;
            if self.block.len < BLOCK || next == self.input.len() {
                return None;
            }
            self.block = Block::scan(self.plain, self.input, next);
        }
        let at = self.block.start + self.block.mask.trailing_zeros() as usize;
        self.block.mask &= self.block.mask - 1;
        Some(at)
    }
}

/// Splits the record starting at `input[start]` into `fields` and `ends` as csv-core would,
/// and returns the split and the number of fields. (`ends` is a slice rather than a vector
/// that grows: the compiler then keeps its address in a register across the stores to
/// `fields`.) `cached` is the block the last record
/// ended in, and the one this one ends in after. `fields` must be at least as long as
/// `input`.
pub(super) fn split_record(
    plain: &Plain,
    input: &[u8],
    start: usize,
    cached: &mut Option<Block>,
    fields: &mut [u8],
    ends: &mut [usize],
) -> (Split, usize) {
    let mut structurals = Structurals {
        plain,
        input,
        block: Block::at(plain, input, cached.take(), start),
    };
    let (mut field_start, mut out, mut count, mut lines) = (start, 0, 0, 0);
    loop {
        let Some(mut at) = structurals.next() else {
            return (Split::NeedMore, 0);
        };
        let mut ender = input[at];
        if ender == plain.quote {
            if at != field_start {
                // A quote inside an unquoted field is text.
                continue;
            }
            // A quoted field runs to a quote followed at once by the field's end; a doubled
            // quote inside stands for one, and line feeds and delimiters are text.
            let mut piece = at + 1;
            loop {
                let Some(next) = structurals.next() else {
                    return (Split::NeedMore, 0);
                };
                match input[next] {
                    b'\n' => lines += 1,
                    b if b == plain.quote => {
                        let Some(after) = structurals.next() else {
                            return (Split::NeedMore, 0);
                        };
                        if after != next + 1 {
                            // Text after the closing quote.
                            return (Split::Core, 0);
                        }
                        if input[after] == plain.quote {
                            out = copy(fields, out, input, piece..after);
                            piece = after + 1;
                            continue;
                        }
                        out = copy(fields, out, input, piece..next);
                        (at, ender) = (after, input[after]);
                        break;
                    }
                    _ => {}
                }
            }
        } else {
            out = copy(fields, out, input, field_start..at);
        }
        let Some(end) = ends.get_mut(count) else {
            return (Split::MoreFields, 0);
        };
        *end = out;
        count += 1;
        match ender {
            b'\n' => {
                *cached = Some(structurals.block);
                let lines = lines + 1;
                return (Split::Record { end: at + 1, lines }, count);
            }
            // csv-core ends a record at a `\r` and leaves a `\n` after it to the next read,
            // which skips it as a blank line; so does this, for the same positions.
            b'\r' => {
                *cached = Some(structurals.block);
                return (Split::Record { end: at + 1, lines }, count);
            }
            _ => field_start = at + 1,
        }
    }
}

/// Appends `input[text]` to `fields` at `out`; returns where the next text goes.
#[inline(always)]
fn copy(fields: &mut [u8], out: usize, input: &[u8], text: std::ops::Range<usize>) -> usize {
    let len = text.len();
    if len <= 16 && text.start + 16 <= input.len() && out + 16 <= fields.len() {
        // A short field as one 16-byte move instead of a call to memcpy; the bytes past it
        // are overwritten by the next field or lie past the record.
        fields[out..out + 16].copy_from_slice(&input[text.start..text.start + 16]);
    } else {
        fields[out..out + len].copy_from_slice(&input[text]);
    }
    out + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_mask_marks_exactly_the_structural_bytes(
            bytes in prop::collection::vec(
                // Any byte, and often one of the four or a byte one bit away from them.
                prop_oneof![
                    any::<u8>(),
                    prop::sample::select(vec![b',', b'"', b'\r', b'\n']),
                    prop::sample::select(vec![b',' ^ 0x80, b'"' ^ 0x80, b'\n' ^ 1, b'\r' ^ 0x40]),
                ],
                BLOCK,
            ),
            cut in 0..=BLOCK,
        ) {
            let plain = Plain::new(b',', b'"', None, None).unwrap();
            let expected = |bytes: &[u8]| {
                bytes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| matches!(b, b',' | b'"' | b'\r' | b'\n'))
                    .fold(0u64, |mask, (i, _)| mask | 1 << i)
            };
            // The whole block goes by vectors (or words), a shorter one byte by byte.
            for bytes in [&bytes[..], &bytes[..cut]] {
                prop_assert_eq!(plain.mask(bytes), expected(bytes));
            }
            // Words, where vectors are used: the other architectures' path, held to the same.
            prop_assert_eq!(plain.word_mask(&bytes), expected(&bytes));
        }
    }
}
