//! Property tests of the frame decoder: the items found depend only on the bytes, never on how
//! they were split into reads, whatever text, stray headers or broken frames surround them.

#![allow(clippy::unwrap_used, clippy::large_enum_variant)] // test code

use faro_proto::frame::{decode_as, frame_body, to_frame, FrameDecoder, Item, MAX_LEN};
use faro_proto::mesh::{self, from_radio, FromRadio, NodeInfo, PortNum, User};
use proptest::prelude::*;

/// One piece of a synthetic device stream, and what the decoder must return for it.
#[derive(Debug, Clone)]
enum Piece {
    /// A real frame (its body may contain `94 C3`).
    Frame(FromRadio),
    /// A line of device log text, ending in "\r\n" (may contain "—É" = E2 80 94 C3 89).
    Log(String),
    /// A stray header whose LEN is over 512, followed by a newline so it stays one log line.
    StrayHeader(u16),
}

fn arb_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("—É"),
            Just("Equipo "),
            Just("Ñ"),
            Just("a"),
            Just("\u{94}\u{c3}")
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn arb_from_radio() -> impl Strategy<Value = FromRadio> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..180)
        )
            .prop_map(|(from, id, payload)| {
                let mut p = mesh::packet(PortNum::TextMessageApp, payload);
                p.from = from;
                p.id = id;
                FromRadio {
                    id: 0,
                    payload_variant: Some(from_radio::PayloadVariant::Packet(p)),
                }
            }),
        (
            any::<u32>(),
            arb_name(),
            prop::collection::vec(any::<u8>(), 32)
        )
            .prop_map(|(num, name, key)| {
                FromRadio {
                    id: num,
                    payload_variant: Some(from_radio::PayloadVariant::NodeInfo(NodeInfo {
                        num,
                        user: Some(User {
                            long_name: name,
                            public_key: key,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })),
                }
            }),
        // 94 C3 forced into the body: the node number and the packet id.
        Just(FromRadio {
            id: 0x94c3_94c3,
            payload_variant: Some(from_radio::PayloadVariant::ConfigCompleteId(0x94c3_0102)),
        }),
    ]
}

fn arb_log() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("DEBUG | "),
            Just("—É"),
            Just("[Router] "),
            Just("x"),
            Just("é")
        ],
        0..8,
    )
    .prop_map(|v| format!("{}\r\n", v.concat()))
}

fn arb_piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        6 => arb_from_radio().prop_map(Piece::Frame),
        2 => arb_log().prop_map(Piece::Log),
        1 => ((MAX_LEN as u16 + 1)..=u16::MAX)
            .prop_filter("a newline in LEN would end the line early", |l| !l.to_be_bytes().contains(&b'\n'))
            .prop_map(Piece::StrayHeader),
    ]
}

fn bytes_of(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Frame(m) => out.extend(to_frame(m).unwrap()),
            Piece::Log(s) => out.extend_from_slice(s.as_bytes()),
            Piece::StrayHeader(len) => {
                out.extend_from_slice(&[0x94, 0xC3]);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(b"\n");
            }
        }
    }
    out
}

fn expected(pieces: &[Piece]) -> Vec<Item<FromRadio>> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Frame(m) => Item::Frame(m.clone()),
            Piece::Log(s) => Item::Log(s.as_bytes().to_vec()),
            Piece::StrayHeader(len) => {
                let mut v = vec![0x94, 0xC3];
                v.extend_from_slice(&len.to_be_bytes());
                v.push(b'\n');
                Item::Log(v)
            }
        })
        .collect()
}

fn decode_split(bytes: &[u8], cuts: &[usize]) -> Vec<Item<FromRadio>> {
    let mut dec = FrameDecoder::new();
    let mut items = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain([bytes.len()]) {
        dec.push(&bytes[start..c]);
        start = c;
        while let Some(item) = dec.next_item(decode_as::<FromRadio>) {
            items.push(item);
        }
    }
    items
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Frames, log lines and stray headers come back exactly, in order, however the stream is
    /// cut into reads.
    #[test]
    fn any_split_gives_the_same_items(pieces in prop::collection::vec(arb_piece(), 0..25),
                                      cuts in prop::collection::vec(any::<usize>(), 0..40)) {
        let bytes = bytes_of(&pieces);
        let whole = decode_split(&bytes, &[]);
        prop_assert_eq!(&whole, &expected(&pieces));
        prop_assert_eq!(decode_split(&bytes, &cuts), whole);
    }

    /// One byte at a time (the sim's slowest fault) is just another split.
    #[test]
    fn one_byte_reads(pieces in prop::collection::vec(arb_piece(), 0..10)) {
        let bytes = bytes_of(&pieces);
        let cuts: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(decode_split(&bytes, &cuts), expected(&pieces));
    }

    /// A truncated frame never yields a message: its bytes are held, and come back as text
    /// when the stream ends.
    #[test]
    fn truncated_frame_is_held_not_invented(frame in arb_from_radio(), keep in 0usize..1000) {
        let bytes = to_frame(&frame).unwrap();
        let keep = keep % bytes.len();
        let mut dec = FrameDecoder::new();
        dec.push(&bytes[..keep]);
        let mut got = Vec::new();
        while let Some(item) = dec.next_item(decode_as::<FromRadio>) {
            got.push(item);
        }
        prop_assert!(got.iter().all(|i| matches!(i, Item::Log(_))));
        let rest: Vec<u8> = got.into_iter().flat_map(|i| match i { Item::Log(b) => b, Item::Frame(_) => vec![] })
            .chain(dec.finish().unwrap_or_default()).collect();
        prop_assert_eq!(rest, bytes[..keep].to_vec());
    }

    /// Arbitrary garbage never panics, and every byte comes back either inside a frame or as
    /// log text (nothing is silently eaten except malformed bodies, which are rescanned).
    #[test]
    fn garbage_is_accounted_for(garbage in prop::collection::vec(any::<u8>(), 0..2000),
                                cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let whole = decode_split(&garbage, &[]);
        prop_assert_eq!(decode_split(&garbage, &cuts), whole);
    }

    /// A corrupt body between good frames is dropped and the good frames survive.
    #[test]
    fn corrupt_body_between_frames(a in arb_from_radio(), b in arb_from_radio()) {
        let mut bytes = to_frame(&a).unwrap();
        // 0xFF 0xFF... is an invalid protobuf (field 0 / bad wire type).
        bytes.extend(frame_body(&[0xFF; 7]).unwrap());
        bytes.extend(to_frame(&b).unwrap());
        let items = decode_split(&bytes, &[]);
        let frames: Vec<_> = items.into_iter().filter_map(|i| match i { Item::Frame(f) => Some(f), Item::Log(_) => None }).collect();
        prop_assert_eq!(frames, vec![a, b]);
    }
}
