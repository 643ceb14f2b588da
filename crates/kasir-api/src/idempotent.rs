//! Running a write: idempotency claim, the state change, and the stored response in one transaction.
//!
//! With an `Idempotency-Key`, a write takes two transactions. The first claims the key (or finds the
//! stored answer to replay, a different body, or a request still running). The second applies the state
//! change and stores the response bytes in the same commit, so an acknowledged effect always has its
//! replay and a crash leaves neither. The second applies the change only while the claim is still this
//! request's (after the lease a repeat may take the key over). An error answer is not stored: the claim
//! is released, unless the record is no longer the claim: a write whose caller heard an error may still
//! have committed (a connection lost after the commit), and then its stored answer is what a retry gets.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use kasir_app::{AppError, Ctx};
use kasir_domain::{codes, Timestamp};
use kasir_store::{IdemRecord, IdemState, Tx};
use serde::Serialize;

use crate::auth::Principal;
use crate::body::IdemRequest;
use crate::envelope::{envelope_bytes, json_response};
use crate::{ApiError, AppState};

/// How long a claim blocks repeats before a crashed claimant's key may be taken over.
pub const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(60);

/// What a write hands back: the value, or its answer already encoded (and stored for replays).
enum Answer<T> {
    Value(T),
    Encoded(Vec<u8>),
}

enum Claim {
    New,
    Replay(u16, Vec<u8>),
    InProgress,
    Mismatch,
}

fn in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::IDEMPOTENCY_IN_PROGRESS,
        "a request with this Idempotency-Key is still being processed; retry after it finishes",
        "Idempotency-Key",
    )
}

/// Claims the key with a record `running` until `lease`, which names this claim from then on.
fn claim(
    tx: &mut dyn Tx,
    access_key: &str,
    req: &IdemRequest,
    now: Timestamp,
    lease: Timestamp,
) -> Result<Claim, ApiError> {
    let running = IdemRecord {
        request_hash: req.fingerprint.clone(),
        state: IdemState::Running,
        response_status: 0,
        response_body: Vec::new(),
        created_at: now,
        locked_until: lease,
    };
    // First claim of this key: an atomic insert, so two concurrent claims cannot both win.
    if tx.idem_insert(access_key, &req.key, &running)? {
        return Ok(Claim::New);
    }
    if let Some(rec) = tx.idem_get(access_key, &req.key)? {
        let expired = rec.created_at.plus(kasir_app::idempotency::TTL) <= now;
        if !expired {
            if rec.request_hash != req.fingerprint {
                return Ok(Claim::Mismatch);
            }
            match rec.state {
                IdemState::Done => return Ok(Claim::Replay(rec.response_status, rec.response_body)),
                IdemState::Running if rec.locked_until > now => return Ok(Claim::InProgress),
                IdemState::Running => {} // the claimant died; take the key over
            }
        }
    }
    tx.idem_put(access_key, &req.key, &running)?;
    Ok(Claim::New)
}

/// Runs `op` as the caller's write, answering 200 with its result in the success envelope.
pub async fn run<T, F>(
    state: &AppState,
    who: &Principal,
    idem: Option<IdemRequest>,
    mut op: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnMut(&mut dyn Tx, &Ctx) -> Result<T, AppError> + Send + 'static,
{
    let ctx = state.app.ctx(who.scope.clone());
    let now = ctx.now;
    let ak = who.access_key.clone();

    // The lease the claim sets: it names the claim in the effect's check and in the release.
    let lease = now.plus(IDEMPOTENCY_LEASE);
    if let Some(req) = &idem {
        let (ak2, req2) = (ak.clone(), req.clone());
        match state.app.store.write(move |tx| claim(tx, &ak2, &req2, now, lease)).await? {
            Claim::New => {}
            Claim::Replay(status, body) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let mut res = json_response(status, body);
                res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(res);
            }
            Claim::InProgress => return Err(in_progress()),
            Claim::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    codes::IDEMPOTENCY_BODY_MISMATCH,
                    "this Idempotency-Key was used with a different request; use a new key for a new request",
                    "Idempotency-Key",
                ))
            }
        }
    }

    let idem_for_write = idem.clone();
    let ak_for_write = ak.clone();
    let result = state
        .app
        .store
        .write(move |tx| -> Result<Answer<T>, ApiError> {
            if let Some(req) = &idem_for_write {
                // Still this request's claim? If this write waited past the lease, a repeat may have
                // taken the key over and be applying the change itself.
                match tx.idem_get(&ak_for_write, &req.key)? {
                    Some(rec) if rec.state == IdemState::Running && rec.locked_until == lease => {}
                    _ => return Err(in_progress()),
                }
            }
            let value = op(tx, &ctx)?;
            // Without a key the answer is encoded after the commit, off the writer's thread; with one it
            // is stored beside the change, so a replay returns the same bytes.
            let Some(req) = &idem_for_write else { return Ok(Answer::Value(value)) };
            let body = envelope_bytes(&value);
            let rec = IdemRecord {
                request_hash: req.fingerprint.clone(),
                state: IdemState::Done,
                response_status: 200,
                response_body: body.clone(),
                created_at: ctx.now,
                locked_until: ctx.now,
            };
            tx.idem_put(&ak_for_write, &req.key, &rec)?;
            Ok(Answer::Encoded(body))
        })
        .await;

    match result {
        Ok(answer) => {
            let body = match answer {
                Answer::Value(v) => envelope_bytes(&v),
                Answer::Encoded(b) => b,
            };
            // The change may have made work due now (a delivery, a timer): wake the workers.
            state.app.wake.notify_one();
            Ok(json_response(StatusCode::OK, body))
        }
        Err(e) => {
            if let Some(req) = idem {
                let release = state
                    .app
                    .store
                    .write(move |tx| tx.idem_release(&ak, &req.key, lease).map_err(ApiError::from))
                    .await;
                if let Err(err) = release {
                    // The claim lapses by itself after the lease; say so rather than hide it.
                    tracing::warn!(?err.status, "could not release an idempotency claim; it lapses after its lease");
                }
            }
            Err(e)
        }
    }
}
