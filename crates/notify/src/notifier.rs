//! Background delivery: [`Notifier::notify`] enqueues and returns at once; one task per sink
//! drains its own bounded queue and POSTs with retries, and every final outcome is reported.
//!
//! Each sink has its own queue and its own limit on deliveries in flight, so a sink that hangs
//! or is down delays nobody else. A delivery task takes a slot *before* it takes a notification
//! off the queue, so while every slot is busy, notifications wait in the queue, where an
//! overflow can still choose which one to drop: the oldest non-urgent one. Every notification
//! gets exactly one report per sink: delivered, failed, or dropped.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::http_client::{self, HttpClient};
use crate::notification::{EventKind, Notification};
use crate::retry::{RetryPolicy, StatusVerdict, classify, parse_retry_after};
use crate::{NotifyError, Sink};

/// How much of a receiver's error body is kept for the report.
const MAX_ERROR_BODY: usize = 512;

/// Queue and concurrency limits, per sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierConfig {
    /// Notifications waiting per sink before the oldest non-urgent one is dropped.
    pub queue_capacity: usize,
    /// Deliveries in flight per sink (each with its own retries).
    pub max_in_flight: usize,
    /// Attempts, backoff and timeouts.
    pub retry: RetryPolicy,
}

impl Default for NotifierConfig {
    /// 1024 queued and 8 in flight per sink, [`RetryPolicy::default`].
    fn default() -> Self {
        Self {
            queue_capacity: 1_024,
            max_in_flight: 8,
            retry: RetryPolicy::default(),
        }
    }
}

/// The final outcome of one notification at one sink.
#[derive(Debug)]
pub struct DeliveryReport {
    /// The sink's name.
    pub sink: String,
    /// The notification's request id.
    pub request_id: String,
    /// The notification's event.
    pub event: EventKind,
    /// Whether the notification was urgent.
    pub urgent: bool,
    /// What happened.
    pub outcome: DeliveryOutcome,
}

/// What happened to a notification at a sink.
#[derive(Debug)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// Attempts it took (1 = first time).
        attempts: u32,
        /// The receiver's status code.
        status: u16,
    },
    /// Every attempt failed, or one failed in a way retrying cannot fix.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: NotifyError,
    },
    /// Never sent.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

/// Why a notification was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The sink's queue was full and this was the oldest non-urgent notification in it (or,
    /// with only urgent ones queued, the oldest of those, or the new non-urgent one).
    QueueFull,
    /// The notifier was shut down before it could be delivered.
    ShuttingDown,
}

/// The callback that receives every [`DeliveryReport`].
///
/// It runs on the delivery tasks, and on the caller of [`Notifier::notify`] for drops, so it
/// must be quick and must not block: write an audit line, or send into a channel.
pub type ReportFn = Arc<dyn Fn(DeliveryReport) + Send + Sync>;

/// Sends notifications to every configured sink in the background. Cheap to clone; all clones
/// share the queues.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    lanes: Vec<Arc<Lane>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: let each lane deliver what it holds, then stop.
        for lane in &self.lanes {
            lane.close();
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field(
                "sinks",
                &self
                    .inner
                    .lanes
                    .iter()
                    .map(|l| l.sink.name())
                    .collect::<Vec<_>>(),
            )
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

/// One sink's queue and delivery state.
struct Lane {
    sink: Sink,
    client: HttpClient,
    retry: RetryPolicy,
    capacity: usize,
    max_in_flight: usize,
    queue: Mutex<VecDeque<Arc<Notification>>>,
    wake: Notify,
    closed: AtomicBool,
    report: ReportFn,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a valid queue behind; keep using it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// Starts one delivery task per sink on the current Tokio runtime.
    ///
    /// `report` receives the final outcome of every notification at every sink (see
    /// [`ReportFn`] for where it runs).
    pub fn start(
        sinks: Vec<Sink>,
        config: &NotifierConfig,
        report: impl Fn(DeliveryReport) + Send + Sync + 'static,
    ) -> Result<Self, NotifyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let checks: [(&'static str, bool, &str); 3] = [
            (
                "queue_capacity",
                config.queue_capacity == 0,
                "must be at least 1",
            ),
            (
                "max_in_flight",
                config.max_in_flight == 0,
                "must be at least 1",
            ),
            (
                "retry.attempts",
                config.retry.attempts == 0,
                "must be at least 1",
            ),
        ];
        for (field, bad, problem) in checks {
            if bad {
                return Err(NotifyError::InvalidConfig {
                    field,
                    problem: problem.into(),
                });
            }
        }
        if config.retry.attempt_timeout.is_zero() {
            return Err(NotifyError::InvalidConfig {
                field: "retry.attempt_timeout",
                problem: "is zero; use e.g. 5s".into(),
            });
        }
        for (i, sink) in sinks.iter().enumerate() {
            if sinks[..i].iter().any(|s| s.name() == sink.name()) {
                return Err(NotifyError::InvalidSink {
                    sink: sink.name().to_owned(),
                    problem: "two sinks have this name; give each its own, so reports say which one failed".into(),
                });
            }
        }
        let report: ReportFn = Arc::new(report);
        let mut lanes = Vec::with_capacity(sinks.len());
        for sink in sinks {
            let client =
                http_client::build(sink.name(), sink.ca_pem(), config.retry.attempt_timeout)?;
            lanes.push(Arc::new(Lane {
                sink,
                client,
                retry: config.retry.clone(),
                capacity: config.queue_capacity,
                max_in_flight: config.max_in_flight,
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                report: report.clone(),
            }));
        }
        let tasks = lanes
            .iter()
            .map(|lane| runtime.spawn(run_lane(lane.clone())))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                lanes,
                tasks: Mutex::new(tasks),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Queues `n` for every sink and returns at once. Never blocks on the network, never fails:
    /// what happens later arrives through the report callback.
    pub fn notify(&self, n: Notification) {
        let n = Arc::new(n);
        let closed = self.inner.closed.load(Ordering::Acquire);
        for lane in &self.inner.lanes {
            if closed {
                lane.report_dropped(&n, DropReason::ShuttingDown);
            } else if let Some(dropped) = lane.push(n.clone()) {
                lane.report_dropped(&dropped, DropReason::QueueFull);
            }
        }
    }

    /// Notifications waiting in the queues (all sinks), not counting deliveries in flight.
    pub fn queued(&self) -> usize {
        self.inner
            .lanes
            .iter()
            .map(|l| locked(&l.queue).len())
            .sum()
    }

    /// Stops accepting notifications and waits up to `grace` for the queued and in-flight ones
    /// to finish. Returns whether everything finished; what did not is reported as
    /// [`DropReason::ShuttingDown`].
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.closed.store(true, Ordering::Release);
        for lane in &self.inner.lanes {
            lane.close();
        }
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *locked(&self.inner.tasks));
        let aborts: Vec<_> = handles.iter().map(JoinHandle::abort_handle).collect();
        let all = async {
            for h in handles {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_ok() {
            return true;
        }
        for a in aborts {
            a.abort();
        }
        for lane in &self.inner.lanes {
            let left: Vec<_> = locked(&lane.queue).drain(..).collect();
            for n in left {
                lane.report_dropped(&n, DropReason::ShuttingDown);
            }
        }
        false
    }
}

impl Lane {
    /// Queues `n`; if the queue was full, returns the notification dropped to make room.
    fn push(&self, n: Arc<Notification>) -> Option<Arc<Notification>> {
        let dropped = {
            let mut q = locked(&self.queue);
            let dropped = if q.len() < self.capacity {
                None
            } else if let Some(i) = q.iter().position(|m| !m.is_urgent()) {
                q.remove(i)
            } else if !n.is_urgent() {
                // Everything queued is urgent: the new, non-urgent one yields.
                return Some(n);
            } else {
                q.pop_front()
            };
            q.push_back(n);
            dropped
        };
        self.wake.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Arc<Notification>> {
        locked(&self.queue).pop_front()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn send_report(&self, n: &Notification, outcome: DeliveryOutcome) {
        (self.report)(DeliveryReport {
            sink: self.sink.name().to_owned(),
            request_id: n.request_id.clone(),
            event: n.event,
            urgent: n.is_urgent(),
            outcome,
        });
    }

    fn report_dropped(&self, n: &Notification, reason: DropReason) {
        self.send_report(n, DeliveryOutcome::Dropped { reason });
    }

    /// The next notification, waiting for one; `None` once closed and empty.
    async fn next(&self) -> Option<Arc<Notification>> {
        loop {
            if let Some(n) = self.pop() {
                return Some(n);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            // `notify_one` stores a permit when nobody waits, so a push between the checks
            // above and this await is not missed.
            self.wake.notified().await;
        }
    }
}

async fn run_lane(lane: Arc<Lane>) {
    let slots = Arc::new(Semaphore::new(lane.max_in_flight));
    let mut deliveries = JoinSet::new();
    loop {
        while deliveries.try_join_next().is_some() {}
        // A slot first, then a notification: see the module docs.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(n) = lane.next().await else {
            break;
        };
        let lane = lane.clone();
        deliveries.spawn(async move {
            let guard = Unreported {
                lane: &lane,
                n: &n,
                done: false,
            };
            deliver(guard).await;
            drop(slot);
        });
    }
    while deliveries.join_next().await.is_some() {}
}

/// Reports a delivery exactly once: with its outcome, or as dropped if the task is aborted
/// (shutdown past its grace period) before it has one.
struct Unreported<'a> {
    lane: &'a Lane,
    n: &'a Notification,
    done: bool,
}

impl Unreported<'_> {
    fn finish(mut self, outcome: DeliveryOutcome) {
        self.done = true;
        self.lane.send_report(self.n, outcome);
    }
}

impl Drop for Unreported<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.lane.report_dropped(self.n, DropReason::ShuttingDown);
        }
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// Try again (after `Retry-After`, if the receiver gave one).
    Retry(NotifyError, Option<Duration>),
    /// Do not try again.
    Permanent(NotifyError),
}

async fn deliver(report: Unreported<'_>) {
    let lane = report.lane;
    let policy = &lane.retry;
    let body = match lane.sink.body(report.n) {
        Ok(b) => b,
        Err(error) => {
            return report.finish(DeliveryOutcome::Failed { attempts: 0, error });
        }
    };
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let result =
            tokio::time::timeout(policy.attempt_timeout, attempt_once(lane, report.n, &body))
                .await
                .unwrap_or(Err(AttemptError::Retry(
                    NotifyError::Timeout {
                        after: policy.attempt_timeout,
                    },
                    None,
                )));
        let (error, retry_after) = match result {
            Ok(status) => {
                return report.finish(DeliveryOutcome::Delivered {
                    attempts: attempt,
                    status,
                });
            }
            Err(AttemptError::Permanent(error)) => {
                return report.finish(DeliveryOutcome::Failed {
                    attempts: attempt,
                    error,
                });
            }
            Err(AttemptError::Retry(error, retry_after)) => (error, retry_after),
        };
        if attempt >= policy.attempts {
            return report.finish(DeliveryOutcome::Failed {
                attempts: attempt,
                error,
            });
        }
        let wait = match retry_after {
            Some(requested) if requested > policy.max_retry_after => {
                return report.finish(DeliveryOutcome::Failed {
                    attempts: attempt,
                    error: NotifyError::RetryAfterTooLong {
                        requested,
                        max: policy.max_retry_after,
                    },
                });
            }
            Some(requested) => requested,
            None => policy.backoff(attempt, fastrand::f64()),
        };
        tokio::time::sleep(wait).await;
    }
}

async fn attempt_once(lane: &Lane, n: &Notification, body: &Bytes) -> Result<u16, AttemptError> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(lane.sink.url().clone());
    for (name, value) in lane.sink.headers(n, body, now) {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(body.clone()))
        .map_err(|source| AttemptError::Permanent(NotifyError::BuildRequest { source }))?;
    let response = lane.client.request(request).await.map_err(|source| {
        AttemptError::Retry(
            NotifyError::Connect {
                endpoint: lane.sink.endpoint().to_owned(),
                source,
            },
            None,
        )
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let text = error_snippet(response.into_body()).await;
    match classify(status) {
        StatusVerdict::Delivered => Ok(status),
        StatusVerdict::Retry => Err(AttemptError::Retry(
            NotifyError::ReceiverFailed { status, body: text },
            retry_after.filter(|_| status == 429 || status == 503),
        )),
        StatusVerdict::Permanent => Err(AttemptError::Permanent(NotifyError::Rejected {
            status,
            body: text,
        })),
    }
}

/// The start of a response body as printable text, for reports.
async fn error_snippet(mut body: Incoming) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_owned()
}
