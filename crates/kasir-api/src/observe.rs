//! What an operator sees: a request id on every request (and every log line it causes), metrics at
//! `GET /metrics` in Prometheus' text format, and `GET /readyz`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;

tokio::task_local! {
    /// The id of the request the current task is answering, as its `x-request-id` header value.
    pub(crate) static REQUEST_ID: HeaderValue;
}

/// The id of the request being answered by the current task, for log lines.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|v| v.to_str().unwrap_or_default().to_string()).ok()
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The client's `X-Request-Id` when it is 1 to 128 visible ASCII characters, else a new one.
pub(crate) fn choose_id(headers: &HeaderMap) -> HeaderValue {
    match headers.get(REQUEST_ID_HEADER) {
        Some(v) if (1..=128).contains(&v.len()) && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) => v.clone(),
        _ => {
            let mut id = [0u8; 24];
            id[..4].copy_from_slice(b"req_");
            let xid: &mut [u8; 20] = (&mut id[4..]).try_into().expect("20 bytes");
            kasir_domain::id::xid_into(xid);
            HeaderValue::from_bytes(&id).expect("ASCII")
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// What `/readyz` asks of the job runner: how long since its last pass (`None` before the first).
pub type WorkerPulse = Arc<dyn Fn() -> Option<Duration> + Send + Sync>;

/// The registry `/metrics` encodes, and the metrics this crate keeps itself.
pub struct Observability {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    jobs_due: Family<KindLabels, Gauge>,
    jobs_lag: Family<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Route templates, matched as the router matches them, so a label costs no allocation.
    routes: matchit::Router<&'static str>,
    /// The job runner's pulse, when this process runs one.
    pub(crate) worker: Option<WorkerPulse>,
}

impl Observability {
    /// A registry with this crate's metrics; the store's and the runner's are added to it by whoever
    /// builds the application.
    pub fn new(worker: Option<WorkerPulse>) -> Observability {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
        });
        registry.register_with_unit(
            "kasir_http_request",
            "HTTP requests by route, method and status, and how long each took",
            Unit::Seconds,
            requests.clone(),
        );
        let jobs_due = Family::<KindLabels, Gauge>::default();
        registry.register("kasir_jobs_due", "Jobs due and waiting for a worker, by kind", jobs_due.clone());
        let jobs_lag = Family::<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register_with_unit(
            "kasir_jobs_lag",
            "How long the oldest job due of each kind has waited",
            Unit::Seconds,
            jobs_lag.clone(),
        );
        let mut routes = matchit::Router::new();
        let documented = crate::openapi().paths.paths.into_keys().map(|p| &*Box::leak(p.into_boxed_str()));
        let own = ["/openapi.json", "/healthz", "/readyz", "/metrics"]
            .into_iter()
            .chain(crate::pages::ROUTES.iter().copied())
            .chain(crate::dashboard::ROUTES.iter().copied());
        for p in documented.chain(own) {
            routes.insert(p, p).expect("route templates are distinct");
        }
        Observability { registry, requests, jobs_due, jobs_lag, routes, worker }
    }

    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The route template `path` matches, for a metric's label.
    pub(crate) fn route(&self, path: &str) -> &'static str {
        self.routes.at(path).map_or("unmatched", |m| *m.value)
    }
}

impl Observability {
    /// Counts one answered request.
    pub(crate) fn answered(&self, route: &'static str, method: &'static str, status: u16, took: Duration) {
        self.requests.get_or_create(&RequestLabels { route, method, status }).observe(took.as_secs_f64());
    }
}

pub(crate) fn method_name(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`: every registered metric, the job table's state read now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let now = state.app.clock.now();
    match state.app.store.read(move |tx| tx.due_by_kind(now)).await {
        Ok(due) => {
            state.observe.jobs_due.clear();
            state.observe.jobs_lag.clear();
            for (kind, n, oldest) in due {
                let labels = KindLabels { kind };
                state.observe.jobs_due.get_or_create(&labels).set(n);
                let lag = (now.as_micros() - oldest.as_micros()).max(0) as f64 / 1e6;
                state.observe.jobs_lag.get_or_create(&labels).set(lag);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the job table"),
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &state.observe.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// The longest the job runner may go without a pass and still be called running.
const WORKER_STALE: Duration = Duration::from_secs(30);

/// `GET /readyz`: 200 when the database answers with the schema this build knows and (unless this
/// process runs none) the job runner is making passes; 503 saying what is not ready otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut problems = Vec::new();
    match state.app.store.schema_is_current().await {
        Ok(true) => {}
        Ok(false) => problems.push("the database schema is not this build's: run `kasir migrate`".to_string()),
        Err(e) => problems.push(format!("the database does not answer: {e}")),
    }
    if let Some(pulse) = &state.observe.worker {
        match pulse() {
            Some(ago) if ago <= WORKER_STALE => {}
            Some(ago) => problems.push(format!("the job runner last made a pass {}s ago", ago.as_secs())),
            None => problems.push("the job runner has not started".into()),
        }
    }
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ready" } else { "not_ready" },
        "problems": problems,
    });
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
