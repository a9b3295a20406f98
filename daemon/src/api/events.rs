//! The event stream: `GET /v1/events`, newline-delimited JSON of the audit events, the backlog
//! then live, with keepalives; with `messages=true`, also the texts heard and queued as they
//! commit (`{"message": {...}}`, live only); it ends when the client goes away or the server
//! stops. `GET /v1/stream` is the same feed as server-sent events (`text/event-stream`) for a
//! browser's `EventSource`: the backlog after `Last-Event-ID` (or `?after=ID`), then live, each
//! event as `id: <id>`, `event: audit`, `data: <the JSON of /v1/events>`, with `: ka` comment
//! lines as keepalives.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::request::read;
use super::{ApiError, ApiResult, Shared};
use crate::store::{rfc3339, EventView, MessageLive};

/// Audit events read from the database per page of an event stream's backlog.
const BACKLOG_PAGE: usize = 500;
/// Lines waiting for a slow event watcher before the feeder waits.
const STREAM_QUEUE: usize = 64;
/// An event watcher that reads nothing for this long is dropped.
const STREAM_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Event streams carry `{"keepalive": ...}` this often so clients can tell a quiet station
/// from a dead daemon.
pub const KEEPALIVE: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Send the stored events after this id first; without it, only live ones.
    after: Option<i64>,
    /// Also the messages heard and queued, live, as `{"message": {...}}` lines (not in the
    /// backlog: an incident's conversation is in its detail, the rest in `/v1/messages`).
    #[serde(default)]
    messages: bool,
}

/// `GET /v1/events`: newline-delimited JSON. The backlog after `after` (if given), then live
/// events as they commit, each once and in id order; `{"lagged": n}` when this watcher fell
/// behind the live buffer (what it missed follows, read back from the database), and
/// `{"keepalive": "<time>"}` every [`KEEPALIVE`]. With `messages=true`, each text heard or
/// queued as `{"message": {id, incident, at, direction, node, text, language, understood,
/// delivery}}` once it commits, and `{"lagged_messages": n}` when this watcher missed some.
pub(super) async fn events(
    State(st): State<Shared>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    // Subscribe before reading the backlog so nothing committed in between is missed.
    let live = st.api.store.subscribe();
    let messages = q.messages.then(|| st.api.store.subscribe_messages());
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(feed(st, q.after, Format::Lines, (live, messages), tx));
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(Lines(rx)),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// Send the stored events after this id first (`Last-Event-ID` wins when both are given:
    /// it is what a reconnecting `EventSource` sends with its first URL).
    after: Option<i64>,
}

/// `GET /v1/stream`: the audit events of `/v1/events` as server-sent events. The backlog after
/// `Last-Event-ID` or `after` (if given), then live; each event `id: <id>\nevent: audit\ndata:
/// <json>\n\n`; `event: lagged` (`data: {"lagged": n}`) when this watcher fell behind (what it
/// missed follows); `event: stream_error` (`data: {"error": ...}`, not EventSource's own
/// `error`) before it ends when the database cannot be read; `: ka` every [`KEEPALIVE`]. No
/// messages: the desk refetches what it shows.
pub(super) async fn stream(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    // An empty Last-Event-ID is none (the spec's reset).
    let last_event_id = headers
        .get("last-event-id")
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace));
    let after = match last_event_id {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id"))?,
        ),
        None => q.after,
    };
    let live = st.api.store.subscribe();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(feed(st, after, Format::Sse, (live, None), tx));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(Lines(rx)),
    )
        .into_response())
}

/// How a feed writes what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Newline-delimited JSON (`/v1/events`).
    Lines,
    /// Server-sent events (`/v1/stream`).
    Sse,
}

/// The response body of an event stream: lines from its feeder task.
struct Lines(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Lines {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|line| line.map(Ok))
    }
}

/// Where an event stream stands: the last id sent, its format, and its way out.
struct Feed {
    st: Shared,
    last: i64,
    format: Format,
    tx: mpsc::Sender<Bytes>,
}

impl Feed {
    /// Queues bytes; false when the watcher is gone or stopped reading.
    async fn send(&self, bytes: Vec<u8>) -> bool {
        matches!(
            tokio::time::timeout(STREAM_SEND_TIMEOUT, self.tx.send(bytes.into())).await,
            Ok(Ok(()))
        )
    }

    /// Queues one JSON value: a line, or a server-sent event named `kind` (with `id`).
    async fn line(&self, kind: &str, id: Option<i64>, value: &impl Serialize) -> bool {
        let Ok(json) = serde_json::to_vec(value) else {
            return false;
        };
        let mut out = Vec::with_capacity(json.len() + 48);
        if self.format == Format::Sse {
            if let Some(id) = id {
                out.extend_from_slice(format!("id: {id}\n").as_bytes());
            }
            out.extend_from_slice(format!("event: {kind}\ndata: ").as_bytes());
        }
        // serde_json writes no raw newline, so the JSON is one `data:` line.
        out.extend_from_slice(&json);
        out.push(b'\n');
        if self.format == Format::Sse {
            out.push(b'\n');
        }
        self.send(out).await
    }

    async fn keepalive(&self) -> bool {
        match self.format {
            Format::Lines => {
                let now = rfc3339(self.st.api.clock.now_ms());
                self.line("keepalive", None, &json!({ "keepalive": now }))
                    .await
            }
            Format::Sse => self.send(b": ka\n\n".to_vec()).await,
        }
    }

    async fn event(&mut self, ev: &EventView) -> bool {
        if ev.id <= self.last {
            return true;
        }
        self.last = ev.id;
        self.line("audit", Some(ev.id), ev).await
    }

    /// Sends every stored event after the last one sent.
    async fn catch_up(&mut self) -> bool {
        loop {
            let after = self.last;
            let page = match read(&self.st, move |r| r.events(None, after, BACKLOG_PAGE)).await {
                Ok(page) => page,
                Err(e) => {
                    self.line("stream_error", None, &json!({ "error": e.message }))
                        .await;
                    return false;
                }
            };
            for ev in &page {
                if !self.event(ev).await {
                    return false;
                }
            }
            if page.len() < BACKLOG_PAGE {
                return true;
            }
        }
    }
}

async fn feed(
    st: Shared,
    after: Option<i64>,
    format: Format,
    (mut live, mut messages): (
        broadcast::Receiver<EventView>,
        Option<broadcast::Receiver<MessageLive>>,
    ),
    tx: mpsc::Sender<Bytes>,
) {
    let mut stop = st.stop.subscribe();
    let mut f = Feed {
        st,
        last: after.unwrap_or(0),
        format,
        tx,
    };
    if after.is_some() && !f.catch_up().await {
        return;
    }
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        // In order: a commit publishes its messages before its events, so a message waiting
        // goes before an event and follows what was heard or said as it happened (a watcher far behind
        // may see a message before events of an earlier commit).
        let alive = tokio::select! {
            biased;
            // The watcher gone or the server stopping first, whatever is waiting.
            _ = f.tx.closed() => false,
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => false,
            r = next_message(&mut messages) => match r {
                Ok(m) => f.line("message", None, &json!({ "message": m })).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    f.line("lagged_messages", None, &json!({ "lagged_messages": n })).await
                }
                Err(broadcast::error::RecvError::Closed) => false,
            },
            r = live.recv() => match r {
                Ok(ev) => f.event(&ev).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    f.line("lagged", None, &json!({ "lagged": n })).await && f.catch_up().await
                }
                Err(broadcast::error::RecvError::Closed) => false,
            },
            _ = beat.tick() => f.keepalive().await,
        };
        if !alive {
            return;
        }
    }
}

/// The next live message, or never when the watcher did not ask for them.
async fn next_message(
    messages: &mut Option<broadcast::Receiver<MessageLive>>,
) -> Result<MessageLive, broadcast::error::RecvError> {
    match messages {
        Some(m) => m.recv().await,
        None => std::future::pending().await,
    }
}
