//! Meshtastic stream framing: `0x94 0xC3 LEN_MSB LEN_LSB` + LEN bytes of protobuf.
//!
//! Written here rather than taken from the `meshtastic` crate, whose reader scans inside
//! frame bodies for `94 C3`, loses those frames and stalls (see docs/meshtastic.md §2 and
//! §15). The algorithm is the firmware's and the Python client's, with one improvement:
//!
//! - scan for `0x94` followed by `0xC3`, read the big-endian length;
//! - a length over [`MAX_LEN`] is a false header: the `0x94` is ordinary text and the scan
//!   resumes at the byte after it;
//! - otherwise take exactly LEN bytes and never look inside them for another header; if the body
//!   fails to decode, the frame is dropped (counted) and the scan resumes at the byte after the
//!   false `0x94`, so a real frame hidden behind a false header is still found.
//!
//! Every byte outside a frame is device log text (firmware before HEAD prints its log between
//! frames on serial). Log text is cut into items at `\n`, before a frame, or every
//! [`MAX_LOG_CHUNK`] bytes, so the items depend only on the bytes, never on how the input was
//! split into reads. The decoder holds at most `MAX_LOG_CHUNK + 4 + MAX_LEN` bytes of its own
//! beyond the last read: it is bounded whatever the device sends.

use prost::Message;

/// First byte of a frame header.
pub const START1: u8 = 0x94;
/// Second byte of a frame header.
pub const START2: u8 = 0xC3;
/// Header length: two start bytes and a big-endian u16 length.
pub const HEADER_LEN: usize = 4;
/// Largest body the firmware sends or accepts (`MAX_TO_FROM_RADIO_SIZE`).
pub const MAX_LEN: usize = 512;
/// Longest piece of log text returned as one item when no newline comes.
pub const MAX_LOG_CHUNK: usize = 1024;

/// What the decoder found in the byte stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<T> {
    /// A frame whose body decoded.
    Frame(T),
    /// Bytes outside any frame: device log text, line noise. Not necessarily valid UTF-8.
    Log(Vec<u8>),
}

/// Counters a link reports in its status and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames whose body decoded.
    pub frames: u64,
    /// Bytes returned as log text.
    pub log_bytes: u64,
    /// Headers rejected because LEN was over [`MAX_LEN`].
    pub oversize_headers: u64,
    /// Frames dropped because the body did not decode.
    pub malformed_bodies: u64,
    /// Incomplete frames left when the stream ended.
    pub truncated: u64,
}

/// Streaming frame decoder with resynchronisation. Feed it reads with [`push`](Self::push),
/// then call [`next_item`](Self::next_item) until it returns `None`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// First byte not yet returned.
    pos: usize,
    /// Bytes from `pos` already known to be log text.
    log_len: usize,
    stats: DecodeStats,
}

impl FrameDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Bytes held and not yet returned (a partial frame or a partial log line).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Appends bytes read from the device.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets everything buffered (after a reconnect the old bytes mean nothing).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.log_len = 0;
    }

    /// Returns the next complete item, decoding frame bodies with `decode`, or `None` when more
    /// bytes are needed. A body for which `decode` returns `None` is dropped and counted.
    pub fn next_item<T>(&mut self, mut decode: impl FnMut(&[u8]) -> Option<T>) -> Option<Item<T>> {
        loop {
            let scan = self.pos + self.log_len;
            let rest = &self.buf[scan..];
            // Look for the next header candidate or end of a log line.
            let Some(off) = rest.iter().position(|&b| b == START1 || b == b'\n') else {
                self.log_len = self.buf.len() - self.pos;
                return self.take_log_chunk_if_full();
            };
            let j = scan + off;
            if j - self.pos >= MAX_LOG_CHUNK {
                self.log_len = MAX_LOG_CHUNK;
                return Some(self.emit_log());
            }
            if self.buf[j] == b'\n' {
                self.log_len = j + 1 - self.pos;
                return Some(self.emit_log());
            }
            // A 0x94 at j: is it a frame?
            match self.frame_at(j) {
                Candidate::NeedMore => {
                    self.log_len = j - self.pos;
                    return None;
                }
                Candidate::NotAFrame => {
                    self.log_len = j + 1 - self.pos;
                    continue;
                }
                Candidate::Body(start, end) => {
                    let Some(msg) = decode(&self.buf[start..end]) else {
                        self.stats.malformed_bodies += 1;
                        self.log_len = j + 1 - self.pos;
                        continue;
                    };
                    if j > self.pos {
                        // Text came before the frame: return it first; the frame is decoded
                        // again on the next call (only when log text precedes a frame).
                        self.log_len = j - self.pos;
                        return Some(self.emit_log());
                    }
                    self.pos = end;
                    self.log_len = 0;
                    self.stats.frames += 1;
                    return Some(Item::Frame(msg));
                }
            }
        }
    }

    /// Ends the stream: returns what is left as log text and counts an incomplete frame.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.buffered() == 0 {
            return None;
        }
        let j = self.pos + self.log_len;
        if j < self.buf.len() && self.buf[j] == START1 {
            self.stats.truncated += 1;
        }
        self.log_len = self.buf.len() - self.pos;
        match self.emit_log() {
            Item::Log(bytes) => Some(bytes),
            Item::Frame(()) => None,
        }
    }

    fn frame_at(&mut self, j: usize) -> Candidate {
        let avail = self.buf.len() - j;
        if avail < 2 {
            return Candidate::NeedMore;
        }
        if self.buf[j + 1] != START2 {
            return Candidate::NotAFrame;
        }
        if avail < HEADER_LEN {
            return Candidate::NeedMore;
        }
        let len = usize::from(u16::from_be_bytes([self.buf[j + 2], self.buf[j + 3]]));
        if len > MAX_LEN {
            self.stats.oversize_headers += 1;
            return Candidate::NotAFrame;
        }
        if avail < HEADER_LEN + len {
            return Candidate::NeedMore;
        }
        Candidate::Body(j + HEADER_LEN, j + HEADER_LEN + len)
    }

    fn take_log_chunk_if_full<T>(&mut self) -> Option<Item<T>> {
        if self.log_len >= MAX_LOG_CHUNK {
            self.log_len = MAX_LOG_CHUNK;
            Some(self.emit_log())
        } else {
            None
        }
    }

    fn emit_log<T>(&mut self) -> Item<T> {
        let end = self.pos + self.log_len;
        let bytes = self.buf[self.pos..end].to_vec();
        self.stats.log_bytes += bytes.len() as u64;
        self.pos = end;
        self.log_len = 0;
        Item::Log(bytes)
    }
}

enum Candidate {
    NeedMore,
    NotAFrame,
    Body(usize, usize),
}

/// Why a message could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// Encoded length of the refused body.
    pub len: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "encoded message is {} bytes; a frame holds at most {MAX_LEN}",
            self.len
        )
    }
}

impl std::error::Error for TooLong {}

/// Appends `msg` to `out` as one frame.
pub fn encode<M: Message>(msg: &M, out: &mut Vec<u8>) -> Result<(), TooLong> {
    let len = msg.encoded_len();
    if len > MAX_LEN {
        return Err(TooLong { len });
    }
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&[START1, START2]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    msg.encode(out).map_err(|_| TooLong { len })?;
    Ok(())
}

/// `msg` as one frame.
pub fn to_frame<M: Message>(msg: &M) -> Result<Vec<u8>, TooLong> {
    let mut out = Vec::new();
    encode(msg, &mut out)?;
    Ok(out)
}

/// Frames an already encoded body (used by fault injection and tests).
pub fn frame_body(body: &[u8]) -> Result<Vec<u8>, TooLong> {
    if body.len() > MAX_LEN {
        return Err(TooLong { len: body.len() });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&[START1, START2]);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// A decode function for [`FrameDecoder::next_item`] that parses protobuf message `M`.
pub fn decode_as<M: Message + Default>(body: &[u8]) -> Option<M> {
    M::decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{from_radio, FromRadio, MyNodeInfo};

    fn all(dec: &mut FrameDecoder) -> Vec<Item<FromRadio>> {
        std::iter::from_fn(|| dec.next_item(decode_as::<FromRadio>)).collect()
    }

    fn my_info(num: u32) -> FromRadio {
        FromRadio {
            id: num,
            payload_variant: Some(from_radio::PayloadVariant::MyInfo(MyNodeInfo {
                my_node_num: num,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn round_trip_and_empty_frame() {
        let mut bytes = to_frame(&my_info(7)).unwrap();
        bytes.extend_from_slice(&[0x94, 0xC3, 0, 0]);
        let mut dec = FrameDecoder::new();
        dec.push(&bytes);
        let items = all(&mut dec);
        assert_eq!(
            items,
            vec![Item::Frame(my_info(7)), Item::Frame(FromRadio::default())]
        );
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn utf8_with_94_c3_is_log_text() {
        let mut bytes = "INFO | nombre —É\r\n".as_bytes().to_vec();
        bytes.extend(to_frame(&my_info(1)).unwrap());
        let mut dec = FrameDecoder::new();
        dec.push(&bytes);
        let items = all(&mut dec);
        assert_eq!(
            items,
            vec![
                Item::Log("INFO | nombre —É\r\n".as_bytes().to_vec()),
                Item::Frame(my_info(1))
            ]
        );
        assert_eq!(dec.stats().oversize_headers, 1);
    }

    #[test]
    fn stray_header_then_frame() {
        let mut bytes = vec![0x94, 0xC3, 0x7F, 0xFF];
        bytes.extend(to_frame(&my_info(2)).unwrap());
        let mut dec = FrameDecoder::new();
        dec.push(&bytes);
        let items = all(&mut dec);
        assert_eq!(
            items,
            vec![
                Item::Log(vec![0x94, 0xC3, 0x7F, 0xFF]),
                Item::Frame(my_info(2))
            ]
        );
    }

    #[test]
    fn malformed_body_is_dropped_and_rescanned() {
        // A false header with a small length whose "body" starts a real frame: the body fails
        // to decode (0x94 is not a valid tag), so the scan resumes after the false 0x94 and
        // finds the real frame.
        let real = to_frame(&my_info(3)).unwrap();
        let mut bytes = vec![0x94, 0xC3, 0x00, 0x03];
        bytes.extend(&real);
        let mut dec = FrameDecoder::new();
        dec.push(&bytes);
        let items = all(&mut dec);
        assert_eq!(items.last(), Some(&Item::Frame(my_info(3))));
        assert_eq!(dec.stats().malformed_bodies, 1);
    }

    #[test]
    fn truncated_frame_waits_then_finish_reports_it() {
        let frame = to_frame(&my_info(4)).unwrap();
        let mut dec = FrameDecoder::new();
        dec.push(&frame[..frame.len() - 1]);
        assert!(all(&mut dec).is_empty());
        assert_eq!(dec.finish(), Some(frame[..frame.len() - 1].to_vec()));
        assert_eq!(dec.stats().truncated, 1);
    }

    #[test]
    fn long_log_without_newline_is_chunked() {
        let mut dec = FrameDecoder::new();
        dec.push(&vec![b'x'; MAX_LOG_CHUNK * 2 + 10]);
        let items = all(&mut dec);
        assert_eq!(items.len(), 2);
        assert_eq!(dec.buffered(), 10);
    }

    #[test]
    fn oversize_encode_is_refused() {
        let big = FromRadio {
            id: 0,
            payload_variant: Some(from_radio::PayloadVariant::MyInfo(MyNodeInfo {
                pio_env: "x".repeat(600),
                ..Default::default()
            })),
        };
        assert!(matches!(to_frame(&big), Err(TooLong { .. })));
    }
}
