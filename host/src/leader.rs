//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go's
//! `leaderelection` does it: a candidate takes the Lease when it is free or
//! when its holder has not renewed it for a lease duration (measured on the
//! candidate's own clock, from when it last saw the record change, so clock
//! skew between replicas does not matter); the leader renews it every retry
//! period and gives up leading if it could not renew within the renew
//! deadline. Only the leader schedules.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Where the Lease is and how it is held.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity, written as the holder.
    pub identity: String,
    /// How long a Lease not renewed stays with its holder (upstream: 15 s).
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal (upstream: 10 s).
    pub renew_deadline: Duration,
    /// How often candidates try and leaders renew (upstream: 2 s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// kube-scheduler's defaults: 15 s, 10 s, 2 s.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A replica identity: the host name (the pod name in a cluster) and a
/// random suffix, so two processes on one host differ.
pub fn identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "wasm-scheduler".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}_{:08x}", nanos ^ std::process::id())
}

/// What a candidate last saw of the Lease, and when (on its own clock).
struct Observed {
    record: Option<(String, Option<i64>)>,
    at: Instant,
}

/// How [`lead`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `stop` turned true before this replica ever led.
    Stopped,
    /// It led and stopped when asked; the Lease was released.
    Released,
    /// It lost the Lease (not renewed in time, or taken over).
    Lost,
}

/// Waits to acquire the Lease, then runs `work` while leading. `work` gets a
/// stop signal that turns true when leadership is lost or `stop` turns true;
/// it must then stop taking work and return. Returns how it ended and what
/// `work` returned, if it ran.
pub async fn lead<F, Fut, T>(
    client: Client,
    config: LeaseConfig,
    mut stop: watch::Receiver<bool>,
    work: F,
) -> (Ended, Option<T>)
where
    F: FnOnce(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut seen = Observed {
        record: None,
        at: Instant::now(),
    };
    let lease = format!("{}/{}", config.namespace, config.name);
    tracing::info!(%lease, identity = %config.identity, "waiting to acquire the lease");
    loop {
        if *stop.borrow() {
            return (Ended::Stopped, None);
        }
        match try_acquire_or_renew(&api, &config, &mut seen).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%lease, error = %crate::events::chain(&e), "cannot read or take the lease")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.retry_period) => {}
            changed = stop.changed() => if changed.is_err() {
                return (Ended::Stopped, None);
            }
        }
    }
    tracing::info!(%lease, identity = %config.identity, "became leader");
    let (stop_work, work_stopped) = watch::channel(false);
    let work = work(work_stopped);
    tokio::pin!(work);
    let mut renewed = Instant::now();
    let (ended, out) = loop {
        tokio::select! {
            out = &mut work => break (Ended::Released, out),
            _ = stop.changed() => {
                let _ = stop_work.send(true);
                break (Ended::Released, (&mut work).await);
            }
            _ = tokio::time::sleep(config.retry_period) => {
                let lost = match try_acquire_or_renew(&api, &config, &mut seen).await {
                    Ok(true) => {
                        renewed = Instant::now();
                        false
                    }
                    Ok(false) => {
                        tracing::error!(%lease, "the lease was taken over; stopping");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(%lease, error = %crate::events::chain(&e), "cannot renew the lease");
                        let late = renewed.elapsed() > config.renew_deadline;
                        if late {
                            tracing::error!(%lease, deadline = ?config.renew_deadline, "could not renew the lease in time; stopping");
                        }
                        late
                    }
                };
                if lost {
                    let _ = stop_work.send(true);
                    break (Ended::Lost, (&mut work).await);
                }
            }
        }
    };
    if ended == Ended::Released {
        release(&api, &config).await;
    }
    (ended, Some(out))
}

fn micro_now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One try: take the Lease if it is free, expired or ours, and write our
/// renewal. `false` when another replica holds it (or won the race).
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    config: &LeaseConfig,
    seen: &mut Observed,
) -> Result<bool, kube::Error> {
    let seconds = config.lease_duration.as_secs().max(1) as i32;
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let mut lease = Lease::default();
        lease.metadata.name = Some(config.name.clone());
        lease.metadata.namespace = Some(config.namespace.clone());
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(micro_now()),
            renew_time: Some(micro_now()),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        });
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.take().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let record = (
        holder.clone(),
        spec.renew_time.as_ref().map(|t| t.0.as_millisecond()),
    );
    if seen.record.as_ref() != Some(&record) {
        seen.record = Some(record);
        seen.at = Instant::now();
    }
    let held_for =
        Duration::from_secs(spec.lease_duration_seconds.unwrap_or(seconds).max(0) as u64);
    if !holder.is_empty() && holder != config.identity && seen.at.elapsed() < held_for {
        return Ok(false);
    }
    let taking_over = holder != config.identity;
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(config.identity.clone()),
        lease_duration_seconds: Some(seconds),
        acquire_time: if taking_over {
            Some(micro_now())
        } else {
            spec.acquire_time
        },
        renew_time: Some(micro_now()),
        lease_transitions: Some(
            spec.lease_transitions.unwrap_or(0) + i32::from(taking_over && !holder.is_empty()),
        ),
        ..spec
    });
    // The update carries the resourceVersion read above: a concurrent
    // writer makes it fail with 409, and only one replica wins.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up on a clean stop, so a standby takes over at once
/// instead of after a lease duration.
async fn release(api: &Api<Lease>, config: &LeaseConfig) {
    let Ok(Some(mut lease)) = api.get_opt(&config.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(micro_now());
    if let Err(e) = api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        tracing::warn!(error = %crate::events::chain(&e), "cannot release the lease");
    } else {
        tracing::info!(lease = %format!("{}/{}", config.namespace, config.name), "lease released");
    }
}
