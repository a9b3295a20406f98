//! `POST /v1/purge`: runs the retention purge now (`faroctl purge`). It purges only what is
//! due by `[retention]` (never what is not yet due) and answers what it purged, in counts.

use axum::extract::State;
use axum::Json;

use super::request::Operator;
use super::{ApiResult, Shared};
use crate::store::PurgeReport;

pub(super) async fn purge(
    State(st): State<Shared>,
    // A write: only a caller with peer credentials (the socket's group) may ask.
    Operator(who): Operator,
) -> ApiResult<Json<PurgeReport>> {
    let who = crate::incident::Actor::Operator(who).to_string();
    Ok(Json(
        st.api.store.purge_now(st.api.clock.now_ms(), &who).await?,
    ))
}
