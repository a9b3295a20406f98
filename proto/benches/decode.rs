//! Frame decoder throughput: `cargo bench -p faro-proto --bench decode`.
//!
//! Prints frames/s (median and range of several runs) for a realistic stream of FromRadio
//! packets (positions and texts from many nodes), with and without protobuf decoding, and with
//! device log text between frames. A benchmark prints figures; nothing here asserts a time.

use std::time::Instant;

use faro_proto::frame::{decode_as, frame_body, to_frame, FrameDecoder, Item};
use faro_proto::mesh::{self, from_radio, FromRadio, Message, PortNum, Position};

fn stream(n: usize, with_log: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut p = if i % 4 == 0 {
            mesh::packet(
                PortNum::TextMessageApp,
                format!("patrulla {i} —Él ok").into_bytes(),
            )
        } else {
            let pos = Position {
                latitude_i: Some(314_746_300 + i as i32),
                longitude_i: Some(-1_115_448_500 - i as i32),
                altitude: Some(800),
                time: 1_790_000_000 + i as u32,
                precision_bits: 32,
                ..Default::default()
            };
            mesh::packet(PortNum::PositionApp, pos.encode_to_vec())
        };
        p.from = 0x94c3_0000 + (i as u32 % 500);
        p.to = mesh::BROADCAST;
        p.id = 0x1000_0000 + i as u32;
        p.hop_limit = 2;
        p.hop_start = 3;
        p.rx_snr = 5.5;
        p.rx_rssi = -90;
        let msg = FromRadio {
            id: i as u32,
            payload_variant: Some(from_radio::PayloadVariant::Packet(p)),
        };
        out.extend(to_frame(&msg).expect("fits"));
        if with_log && i % 10 == 0 {
            out.extend_from_slice("DEBUG | 12:00:01 [Router] Received text msg —É\r\n".as_bytes());
        }
    }
    out
}

fn run(bytes: &[u8], n: usize, chunk: usize, decode: bool) -> f64 {
    let mut dec = FrameDecoder::new();
    let start = Instant::now();
    let mut frames = 0usize;
    for c in bytes.chunks(chunk) {
        dec.push(c);
        if decode {
            while let Some(item) = dec.next_item(decode_as::<FromRadio>) {
                if let Item::Frame(_) = item {
                    frames += 1;
                }
            }
        } else {
            while let Some(item) = dec.next_item(|b| Some(b.len())) {
                if let Item::Frame(_) = item {
                    frames += 1;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(frames, n, "every frame decoded");
    n as f64 / secs
}

fn report(name: &str, mut rates: Vec<f64>) {
    rates.sort_by(f64::total_cmp);
    let med = rates[rates.len() / 2];
    println!(
        "{name:<46} median {:>6.2} M frames/s  (range {:.2}..{:.2}, {} runs)",
        med / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6,
        rates.len()
    );
}

fn main() {
    let n: usize = std::env::var("FARO_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runs: usize = std::env::var("FARO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let plain = stream(n, false);
    let logged = stream(n, true);
    let _ = frame_body(&[]);
    println!(
        "decoder benchmark: {n} frames, {} bytes ({} bytes with log text), one core",
        plain.len(),
        logged.len()
    );
    for (name, bytes, chunk, decode) in [
        ("framing only, 4 KiB reads", &plain, 4096, false),
        (
            "framing + FromRadio decode, 4 KiB reads",
            &plain,
            4096,
            true,
        ),
        (
            "framing + decode, log text, 4 KiB reads",
            &logged,
            4096,
            true,
        ),
        ("framing + decode, 64-byte reads", &plain, 64, true),
    ] {
        let rates = (0..runs).map(|_| run(bytes, n, chunk, decode)).collect();
        report(name, rates);
    }
}
