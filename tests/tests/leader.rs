//! Leader election end to end: two scheduler replicas (separate clients)
//! on one Lease in the in-memory API server. Only the leader schedules; when
//! it dies mid-run without releasing the Lease, the standby takes over once
//! the Lease expires and binds the rest; no pod is bound twice.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Config};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasm_scheduler::leader::{self, Ended, LeaseConfig};
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::{self, Options, SchedulerError};
use wasm_scheduler_apiserver::ApiServer;
use wasm_scheduler_tests::e2e::{eventually, logs, node, pod};
use wasm_scheduler_tests::runtime;

type Replica = JoinHandle<(Ended, Option<Result<(), SchedulerError>>)>;

/// A replica: its own client, the built-in profile, and a short Lease.
fn replica(
    server: &ApiServer,
    identity: &str,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Replica> {
    let client = Client::try_from(Config::new(server.url().parse()?))?;
    let profile = Profile::builtin("wasm-scheduler", runtime())?;
    let options = Options {
        identity: identity.to_string(),
        ..Options::default()
    };
    let lease = LeaseConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(250),
        ..LeaseConfig::new("default", "wasm-scheduler", identity)
    };
    let scheduler_client = client.clone();
    Ok(tokio::spawn(leader::lead(
        client,
        lease,
        stop,
        move |leading| scheduler::run(scheduler_client, options, vec![profile], leading),
    )))
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get("wasm-scheduler")
        .await
        .ok()?
        .spec?
        .holder_identity
}

async fn scheduled_by(events: &Api<Event>, identity: &str) -> usize {
    events
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|e| {
                    e.reason.as_deref() == Some("Scheduled")
                        && e.reporting_instance.as_deref() == Some(identity)
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_dead_leader_and_no_pod_is_bound_twice() -> anyhow::Result<()> {
    logs();
    let server = ApiServer::start("127.0.0.1:0").await?;
    let client = Client::try_from(Config::new(server.url().parse()?))?;
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..20 {
        nodes
            .create(&PostParams::default(), &node(&format!("n{i}"), "4"))
            .await?;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let (stop, stopped) = watch::channel(false);
    let a = replica(&server, "replica-a", stopped.clone())?;
    eventually("replica-a to hold the lease", || async {
        (holder(&leases).await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let b = replica(&server, "replica-b", stopped.clone())?;

    let create = |range: std::ops::Range<usize>| {
        let pods = pods.clone();
        async move {
            for i in range {
                pods.create(
                    &PostParams::default(),
                    &pod(&format!("p{i}"), "wasm-scheduler", "100m"),
                )
                .await?;
            }
            anyhow::Ok(())
        }
    };
    // Half the pods while A leads; the other half only after A is gone, so
    // the standby must take over to bind them.
    create(0..250).await?;
    eventually("150 pods bound by the leader", || async {
        (server.store().bind_counts().0 >= 150).then_some(())
    })
    .await;
    assert_eq!(
        scheduled_by(&events, "replica-b").await,
        0,
        "the standby schedules nothing while the leader holds the lease"
    );
    // The leader dies: no release, no drain. The standby must wait out the lease.
    a.abort();
    let _ = a.await;
    create(250..500).await?;

    eventually("all 500 pods bound", || async {
        (server.store().bind_counts().0 >= 500).then_some(())
    })
    .await;
    // Let any straggling binding land before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.store().bind_counts().0,
        500,
        "every pod bound exactly once"
    );
    assert_eq!(holder(&leases).await.as_deref(), Some("replica-b"));
    let lease = leases.get("wasm-scheduler").await?;
    assert_eq!(lease.spec.and_then(|s| s.lease_transitions), Some(1));
    assert!(
        scheduled_by(&events, "replica-b").await > 0,
        "the new leader bound the rest"
    );

    stop.send(true)?;
    let (ended, result) = b.await?;
    assert_eq!(ended, Ended::Released);
    result.expect("replica-b ran")?;
    // A clean stop gives the lease up at once.
    assert_eq!(holder(&leases).await, None);
    server.shutdown().await;
    Ok(())
}
