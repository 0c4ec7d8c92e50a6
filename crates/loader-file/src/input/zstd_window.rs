//! The window a zstd file's decoder holds, as its first frame declares it.
//!
//! Every standard level writes windows of 8 MiB at most, which
//! [`Compression::decoder_bytes`](super::Compression::decoder_bytes) counts. `zstd --long` writes up to 128 MiB (2 GiB with
//! `--long=31`), and a decoder allocates what the frame declares: a 100 MB file written with
//! `--long=27` had a 99 MiB window under `--memory-limit 64MiB`, the process at 78 MiB, the
//! budget's pressure critical and the load stalled. A file's decoder is now counted at its
//! first frame's window, and opened so that no later frame may declare a larger one.

use std::io::{self, Read};

/// The log of the largest window the standard levels write (8 MiB), which every zstd
/// decoder may hold.
pub(crate) const STANDARD_WINDOW_LOG: u32 = 23;

/// The largest window log zstd decodes on a 64-bit machine.
const MAX_WINDOW_LOG: u32 = 31;

/// Buffers of a zstd decoder beside its window (its input buffer and a block).
const BUFFER_BYTES: u64 = 256 << 10;

const FRAME_MAGIC: u32 = 0xFD2F_B528;

/// Skippable frames (metadata) passed over before the first frame, at most.
const SKIPPABLE_FRAMES: usize = 16;

/// The window log a decoder of the zstd stream `input` needs for its first frame (the
/// window rounded up to a power of two), and never less than [`STANDARD_WINDOW_LOG`]; that
/// too when the stream holds no frame header to read (it then fails to decode anyway).
pub(crate) fn window_log(input: &mut impl Read) -> io::Result<u32> {
    for _ in 0..SKIPPABLE_FRAMES {
        match word(input)? {
            Some(FRAME_MAGIC) => {
                let window = frame_window(input)?;
                let log = window.map_or(STANDARD_WINDOW_LOG, |w| {
                    u64::BITS - w.saturating_sub(1).leading_zeros()
                });
                return Ok(log.clamp(STANDARD_WINDOW_LOG, MAX_WINDOW_LOG));
            }
            Some(magic) if magic & 0xFFFF_FFF0 == 0x184D_2A50 => {
                let Some(size) = word(input)? else { break };
                io::copy(&mut input.by_ref().take(u64::from(size)), &mut io::sink())?;
            }
            _ => break,
        }
    }
    Ok(STANDARD_WINDOW_LOG)
}

/// The next little-endian 32-bit word of `input`; `None` at its end.
fn word(input: &mut impl Read) -> io::Result<Option<u32>> {
    let mut bytes = [0u8; 4];
    let filled = super::read_up_to(input, &mut bytes)?;
    Ok((filled == 4).then(|| u32::from_le_bytes(bytes)))
}

/// A decoder of `input` that refuses a frame whose window is past `2^log` bytes (an error
/// from its reads) rather than allocating it.
pub(crate) fn decoder<R: io::BufRead>(
    input: R,
    log: u32,
) -> io::Result<zstd::stream::read::Decoder<'static, R>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(input)?;
    decoder.window_log_max(log)?;
    Ok(decoder)
}

/// The window a frame header declares (after the magic number): its window descriptor, or
/// for a single-segment frame its content size.
fn frame_window(input: &mut impl Read) -> io::Result<Option<u64>> {
    let mut descriptor = [0u8; 1];
    if super::read_up_to(input, &mut descriptor)? < 1 {
        return Ok(None);
    }
    let descriptor = descriptor[0];
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let mut window = [0u8; 1];
        if super::read_up_to(input, &mut window)? < 1 {
            return Ok(None);
        }
        let (exponent, mantissa) = (u64::from(window[0] >> 3), u64::from(window[0] & 7));
        let base = 1u64 << (10 + exponent);
        return Ok(Some(base + base / 8 * mantissa));
    }
    let dictionary_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let size_bytes = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let mut field = [0u8; 12];
    let wanted = dictionary_bytes + size_bytes;
    if super::read_up_to(input, &mut field[..wanted])? < wanted {
        return Ok(None);
    }
    let mut size = [0u8; 8];
    size[..size_bytes].copy_from_slice(&field[dictionary_bytes..wanted]);
    let size = u64::from_le_bytes(size);
    // A two-byte size counts from 256.
    Ok(Some(if size_bytes == 2 { size + 256 } else { size }))
}

/// What a zstd decoder holds with a window of `2^window_log` bytes.
pub(crate) fn decoder_bytes(window_log: u32) -> u64 {
    (1u64 << window_log) + BUFFER_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window log [`window_log`] reads of `text` packed at `level`, with `long`'s window
    /// (as `zstd --long=N` writes it), the text's size told the encoder when `sized`.
    fn log_of(level: i32, long: Option<u32>, sized: bool, text: &[u8]) -> u32 {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), level).unwrap();
        if let Some(log) = long {
            encoder.long_distance_matching(true).unwrap();
            encoder.window_log(log).unwrap();
        }
        if sized {
            encoder
                .set_pledged_src_size(Some(text.len() as u64))
                .unwrap();
        }
        std::io::Write::write_all(&mut encoder, text).unwrap();
        let packed = encoder.finish().unwrap();
        window_log(&mut &packed[..]).unwrap()
    }

    #[test]
    fn standard_levels_need_the_standard_window_long_ones_their_own() {
        let text: Vec<u8> = (0..3_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(log_of(1, None, false, &text), STANDARD_WINDOW_LOG);
        assert_eq!(
            log_of(19, None, false, &text[..2 << 20]),
            STANDARD_WINDOW_LOG
        );
        assert_eq!(log_of(1, Some(27), false, &text), 27);
        assert_eq!(log_of(1, Some(25), false, &text), 25);
        // A text smaller than the window asked for, its size known: one segment, whose
        // window is the text's size (12 MB: 2^24 rounded up).
        assert_eq!(log_of(1, Some(27), true, &text), 24);
        assert_eq!(log_of(1, Some(27), true, b"id\n1\n"), STANDARD_WINDOW_LOG);
    }

    #[test]
    fn skippable_frames_are_passed_over_and_a_broken_header_is_standard() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        stream.extend_from_slice(&3u32.to_le_bytes());
        stream.extend_from_slice(b"abc");
        stream.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        // Not single-segment, window descriptor: exponent 17 (2^27), mantissa 4 (+ half).
        stream.extend_from_slice(&[0x00, (17 << 3) | 4]);
        assert_eq!(window_log(&mut &stream[..]).unwrap(), 28);
        assert_eq!(window_log(&mut &stream[..9]).unwrap(), STANDARD_WINDOW_LOG);
        assert_eq!(window_log(&mut &b"nope"[..]).unwrap(), STANDARD_WINDOW_LOG);
    }
}
