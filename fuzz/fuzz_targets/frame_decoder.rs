//! `FrameDecoder` on arbitrary bytes, pushed whole and split into reads.
//!
//! Input: 4 control bytes, then the stream. Control byte `b` gives a read size (cycled):
//! `b + 1` (1..=128) when `b < 0x80`, else `((b & 0x7f) + 1) * 32` (32..=4096).
//!
//! Properties:
//! - never panics, never loops (each item consumes at least one byte);
//! - `buffered()` after a push is at most `MAX_LOG_CHUNK + 4 + MAX_LEN` + that push, and once
//!   drained at most `MAX_LOG_CHUNK + 4 + MAX_LEN`;
//! - splitting never changes the items, the remainder from `finish`, or the counters;
//! - no byte is lost or duplicated: the log items and the frames (header + body) concatenate
//!   to the input.
#![no_main]

use faro_proto::frame::{
    decode_as, frame_body, DecodeStats, FrameDecoder, Item, HEADER_LEN, MAX_LEN, MAX_LOG_CHUNK,
};
use faro_proto::mesh::FromRadio;
use libfuzzer_sys::fuzz_target;

const CONTROL: usize = 4;
const BOUND: usize = MAX_LOG_CHUNK + HEADER_LEN + MAX_LEN;

/// The body of a frame that decodes as a `FromRadio`. The items are compared by body bytes
/// rather than by message: a message with a NaN float (`rx_snr`) is not equal to itself.
type Decoded = Vec<u8>;

fn decode(body: &[u8]) -> Option<Decoded> {
    decode_as::<FromRadio>(body).map(|_| body.to_vec())
}

struct Run {
    items: Vec<Item<Decoded>>,
    rest: Option<Vec<u8>>,
    stats: DecodeStats,
}

fn run<'a>(reads: impl Iterator<Item = &'a [u8]>, total: usize) -> Run {
    let mut dec = FrameDecoder::new();
    let mut items = Vec::new();
    for read in reads {
        dec.push(read);
        assert!(
            dec.buffered() <= BOUND + read.len(),
            "buffered {} after a push of {}",
            dec.buffered(),
            read.len()
        );
        while let Some(item) = dec.next_item(decode) {
            items.push(item);
            assert!(items.len() <= total, "more items than bytes: a loop");
        }
        assert!(
            dec.buffered() <= BOUND,
            "buffered {} once drained",
            dec.buffered()
        );
    }
    let rest = dec.finish();
    assert_eq!(dec.buffered(), 0, "finish leaves nothing");
    assert_eq!(dec.finish(), None, "a second finish has nothing");
    Run {
        items,
        rest,
        stats: dec.stats(),
    }
}

fn read_size(b: u8) -> usize {
    if b < 0x80 {
        usize::from(b) + 1
    } else {
        (usize::from(b & 0x7f) + 1) * 32
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < CONTROL {
        return;
    }
    let (control, data) = input.split_at(CONTROL);

    let whole = run(std::iter::once(data), data.len());

    let mut reads = Vec::new();
    let mut at = 0;
    for &b in control.iter().cycle() {
        if at == data.len() {
            break;
        }
        let n = read_size(b).min(data.len() - at);
        reads.push(&data[at..at + n]);
        at += n;
    }
    let split = run(reads.iter().copied(), data.len());

    assert!(whole.items == split.items, "splitting changed the items");
    assert_eq!(whole.rest, split.rest, "splitting changed the remainder");
    assert_eq!(whole.stats, split.stats, "splitting changed the counters");

    // Every byte comes back exactly once, in order.
    let mut again = Vec::with_capacity(data.len());
    for item in &whole.items {
        match item {
            Item::Log(bytes) => {
                assert!(!bytes.is_empty(), "empty log item");
                assert!(bytes.len() <= MAX_LOG_CHUNK, "log item of {}", bytes.len());
                again.extend_from_slice(bytes);
            }
            Item::Frame(body) => {
                again.extend(frame_body(body).expect("a decoded body fits a frame"));
            }
        }
    }
    again.extend(whole.rest.iter().flatten());
    assert!(
        again == data,
        "the items do not put the input back together"
    );

    let s = whole.stats;
    let frames = whole
        .items
        .iter()
        .filter(|i| matches!(i, Item::Frame(_)))
        .count();
    assert_eq!(s.frames, frames as u64);
    let log: usize = whole
        .items
        .iter()
        .map(|i| match i {
            Item::Log(b) => b.len(),
            Item::Frame(_) => 0,
        })
        .sum::<usize>()
        + whole.rest.as_ref().map_or(0, Vec::len);
    assert_eq!(s.log_bytes, log as u64);
});
