//! A station device for benchmarks: after its client has finished the handshake, it writes a
//! prepared stream of frames, as fast as the terminal takes them or at a fixed rate.
//!
//! The handshake, heartbeats, queue status, rate limits and ACK bookkeeping come from the same
//! [`Device`] state machine the mesh uses, so any client that talks to a real radio (farod, the
//! official Python client) talks to this one. What differs is where the received packets come
//! from: instead of the simulated air (which paces them by LoRa time on air and would drop them
//! in the firmware's 32-packet to-phone queue), the stream is written straight after the device's
//! own frames. Whole frames only: the device's own frames (queue status, ACKs) go in between.
//!
//! What the client sends is reported as [`BurstEvent::ClientPacket`] the moment its frame is
//! decoded, and a reliable DM is acknowledged by its destination at once (the air is not
//! simulated here), so the client's reliable sends complete.

use std::io;
use std::time::Duration;

use faro_proto::frame::{decode_as, FrameDecoder, Item};
use faro_proto::mesh::{routing, MeshPacket, ToRadio, BROADCAST};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::device::{routing_packet, ApiState, Clock, ConnId, Device, Output, ToClient, Transport};
use crate::frontend::{Pty, Renderer};
use crate::scenario::{NodeSpec, RadioSettings};
use crate::Faults;

/// The stream a [`serve_pty`] device writes once its client is live.
#[derive(Debug, Clone, Default)]
pub struct BurstSpec {
    /// Encoded frames (`94 C3 LEN BODY`), written in order.
    pub frames: Vec<Vec<u8>>,
    /// Indices of frames whose write is reported with [`BurstEvent::Written`] (the instant the
    /// write holding the frame's last byte returned).
    pub timed: Vec<usize>,
    /// Frames per second; `None`: as fast as the terminal takes them.
    pub rate: Option<f64>,
}

/// What a burst device reports.
#[derive(Debug, Clone)]
pub enum BurstEvent {
    /// The client finished the handshake; the first frame of the stream follows.
    Live {
        /// When.
        at: Instant,
    },
    /// A timed frame's last byte was written.
    Written {
        /// Its index in [`BurstSpec::frames`].
        index: usize,
        /// When the write returned.
        at: Instant,
    },
    /// The whole stream was written.
    Finished {
        /// When the last write returned.
        at: Instant,
        /// Bytes of the stream (not counting the device's own frames).
        bytes: u64,
    },
    /// The client sent a mesh packet (decoded as it arrived).
    ClientPacket {
        /// When its frame was decoded.
        at: Instant,
        /// The packet.
        packet: Box<MeshPacket>,
    },
    /// The terminal failed (the burst device stops).
    Failed {
        /// Why.
        error: String,
    },
}

/// A device of its own (no mesh) for the burst: the station `me` with `others` in its NodeDB.
pub fn device(me: NodeSpec, others: &[NodeSpec], radio: RadioSettings, seed: u64) -> Device {
    let now = Instant::now();
    let epoch0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let others: Vec<(NodeSpec, Option<u32>)> = others.iter().map(|n| (n.clone(), None)).collect();
    Device::new(me, &others, radio, Clock { start: now, epoch0 }, now, seed)
}

const CONN: ConnId = 1;
/// Bytes of stream kept ready for the terminal.
const WRITE_AHEAD: usize = 64 * 1024;

/// Serves `dev` on `pty` (one client, serial) until the events receiver is dropped or the
/// terminal fails. `events` is unbounded so a measurement is never delayed or dropped: it
/// carries one event per timed frame and per packet the client sends, plus three. The stream starts when the client's API state first becomes live; a client
/// that asks for the config again later gets the device's answer, not the stream again.
pub async fn serve_pty(
    pty: Pty,
    mut dev: Device,
    spec: BurstSpec,
    events: mpsc::UnboundedSender<BurstEvent>,
) {
    let Pty {
        master,
        slave: _slave, // held open so the master never reads EIO between client opens
        path: _,
    } = pty;
    let (mut rd, mut wr) = tokio::io::split(master);
    let (to_radio_tx, mut to_radio_rx) = mpsc::channel::<ToRadio>(256);
    let reader_events = events.clone();
    let reader = tokio::spawn(async move {
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => {
                    // No client has the slave open: poll again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Ok(n) => n,
                Err(e) => {
                    let _ = reader_events.send(BurstEvent::Failed {
                        error: format!("reading the terminal: {e}"),
                    });
                    return;
                }
            };
            dec.push(&buf[..n]);
            while let Some(item) = dec.next_item(decode_as::<ToRadio>) {
                if let Item::Frame(msg) = item {
                    if let Some(faro_proto::mesh::to_radio::PayloadVariant::Packet(p)) =
                        &msg.payload_variant
                    {
                        let _ = reader_events.send(BurstEvent::ClientPacket {
                            at: Instant::now(),
                            packet: Box::new(p.clone()),
                        });
                    }
                    if to_radio_tx.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    dev.attach(CONN, Transport::Serial, Instant::now());
    let mut renderer = Renderer::new(Faults::none());
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_AHEAD * 2);
    let mut out_pos = 0usize;
    // Stream offset (bytes written of the stream so far) and the end offsets of timed frames.
    let mut written_stream: u64 = 0;
    let mut queued_stream: u64 = 0;
    // (end offset in the stream, frame index) for timed frames queued but not yet written.
    let mut marks: std::collections::VecDeque<(u64, usize)> = Default::default();
    // How many bytes of `out` belong to the stream, per contiguous run: (len, is_stream).
    let mut runs: std::collections::VecDeque<(usize, bool)> = Default::default();
    let mut timed = spec.timed.clone();
    timed.sort_unstable();
    let mut timed_next = 0usize;
    let mut next_frame = 0usize;
    let mut live_at: Option<Instant> = None;
    let mut finished = false;

    loop {
        // The device's own frames first, whole.
        while let Some(item) = dev.pop(CONN) {
            if let ToClient::Log(_) = item {
                continue;
            }
            let bytes = renderer.render(&item);
            push_run(&mut runs, bytes.len(), false);
            out.extend_from_slice(&bytes);
        }
        if live_at.is_none() && dev.api_state(CONN) == Some(ApiState::SendPackets) {
            let now = Instant::now();
            live_at = Some(now);
            if events.send(BurstEvent::Live { at: now }).is_err() {
                break;
            }
        }
        // Then the stream, as far as the rate allows.
        if let Some(t0) = live_at {
            let due = match spec.rate {
                None => spec.frames.len(),
                Some(r) => {
                    let secs = t0.elapsed().as_secs_f64();
                    ((secs * r).floor() as usize + 1).min(spec.frames.len())
                }
            };
            while next_frame < due && out.len() - out_pos < WRITE_AHEAD {
                let f = &spec.frames[next_frame];
                out.extend_from_slice(f);
                push_run(&mut runs, f.len(), true);
                queued_stream += f.len() as u64;
                while timed_next < timed.len() && timed[timed_next] < next_frame {
                    timed_next += 1;
                }
                if timed.get(timed_next) == Some(&next_frame) {
                    marks.push_back((queued_stream, next_frame));
                    timed_next += 1;
                }
                next_frame += 1;
            }
        }
        for o in dev.take_outputs() {
            if let Output::Transmit(p) = o {
                dev.tx_done();
                if p.want_ack && p.to != BROADCAST && p.to != dev.node_num() {
                    // The destination heard it and acknowledges at once.
                    let ack = routing_packet(
                        p.to,
                        dev.node_num(),
                        p.id ^ 0x5a5a_5a5a,
                        p.id,
                        routing::Error::None,
                        3,
                    );
                    dev.receive(ack, Instant::now());
                }
            }
        }
        if out_pos > 0 && out_pos == out.len() {
            out.clear();
            out_pos = 0;
        }
        if !finished
            && live_at.is_some()
            && next_frame == spec.frames.len()
            && written_stream == queued_stream
        {
            finished = true;
            let _ = events.send(BurstEvent::Finished {
                at: Instant::now(),
                bytes: written_stream,
            });
        }

        let pacing = match (spec.rate, live_at) {
            (Some(r), Some(t0)) if next_frame < spec.frames.len() => {
                Some(t0 + Duration::from_secs_f64(next_frame as f64 / r))
            }
            _ => None,
        };
        let deadline = dev.next_deadline();
        let pending = out_pos < out.len();
        tokio::select! {
            msg = to_radio_rx.recv() => match msg {
                Some(msg) => dev.handle_to_radio(CONN, msg, Instant::now()),
                None => break,
            },
            res = wr.write(&out[out_pos..]), if pending => match res {
                Ok(n) => {
                    let now = Instant::now();
                    out_pos += n;
                    let mut left = n;
                    while left > 0 {
                        let Some((len, stream)) = runs.front_mut() else { break };
                        let take = left.min(*len);
                        if *stream {
                            written_stream += take as u64;
                        }
                        *len -= take;
                        left -= take;
                        if *len == 0 {
                            runs.pop_front();
                        }
                    }
                    while marks.front().is_some_and(|(end, _)| *end <= written_stream) {
                        if let Some((_, index)) = marks.pop_front() {
                            let _ = events.send(BurstEvent::Written { index, at: now });
                        }
                    }
                }
                Err(e) => {
                    let _ = events.send(BurstEvent::Failed { error: format!("writing the terminal: {e}") });
                    break;
                }
            },
            () = sleep_until_opt(deadline) => dev.poll(Instant::now()),
            () = sleep_until_opt(pacing) => {}
            () = events.closed() => break,
        }
        let _ = wr.flush().await;
    }
    reader.abort();
}

fn push_run(runs: &mut std::collections::VecDeque<(usize, bool)>, len: usize, stream: bool) {
    if len == 0 {
        return;
    }
    match runs.back_mut() {
        Some((l, s)) if *s == stream => *l += len,
        _ => runs.push_back((len, stream)),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens a PTY for [`serve_pty`].
pub fn open_pty() -> io::Result<Pty> {
    crate::frontend::open_pty()
}
