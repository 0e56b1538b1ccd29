//! Helpers for the consumer-group tests: a broker with fast group timeouts, group members that
//! record their rebalance callbacks, and polling loops that drive several members at once.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::FutureRecord;

use super::common::{TestBroker, OP_TIMEOUT};

/// A broker whose group timeouts suit tests (no initial delay, short sessions).
pub fn fast_broker() -> TestBroker {
    TestBroker::builder()
        .with_env("OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("OXBOW_GROUP_MIN_SESSION_TIMEOUT_MS", "1000")
        .with_env("OXBOW_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS", "200")
        .with_env("OXBOW_GROUP_CONSUMER_SESSION_TIMEOUT_MS", "4000")
        .start()
}

/// What a member's rebalance callbacks saw.
#[derive(Default)]
pub struct Events {
    pub assigns: usize,
    pub revoked: Vec<i32>,
}

pub struct Recorder {
    pub events: Arc<Mutex<Events>>,
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Ok(mut e) = self.events.lock() {
            match r {
                Rebalance::Assign(_) => e.assigns += 1,
                Rebalance::Revoke(tpl) => e
                    .revoked
                    .extend(tpl.elements().iter().map(|x| x.partition())),
                Rebalance::Error(_) => {}
            }
        }
    }
}

/// How long a member may take to leave its group when dropped.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(20);

/// A subscribed group member. Dropping it closes the consumer (leaving the group) on a helper
/// thread: librdkafka's close has no time limit, and a test must not hang in a destructor.
pub struct Member {
    /// None once closed.
    consumer: Option<BaseConsumer<Recorder>>,
    pub events: Arc<Mutex<Events>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            if !close_bounded(consumer, CLOSE_LIMIT) {
                eprintln!(
                    "a group member did not finish closing within {CLOSE_LIMIT:?}; left behind"
                );
            }
        }
    }
}

/// Closes `consumer` on a helper thread; false when that has not finished within `limit` (the
/// thread is then left to finish, or not, on its own).
fn close_bounded(consumer: BaseConsumer<Recorder>, limit: Duration) -> bool {
    let (done_tx, done_rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("member-close".into())
        .spawn(move || {
            drop(consumer);
            let _ = done_tx.send(());
        });
    spawned.is_ok() && done_rx.recv_timeout(limit).is_ok()
}

impl Member {
    pub fn classic(broker: &TestBroker, group: &str, topic: &str, strategy: &str) -> Member {
        Self::with_instance(broker, group, topic, strategy, None)
    }

    pub fn with_instance(
        broker: &TestBroker,
        group: &str,
        topic: &str,
        strategy: &str,
        instance: Option<&str>,
    ) -> Member {
        let mut cfg = vec![
            ("group.id", group),
            ("partition.assignment.strategy", strategy),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "200"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ];
        if let Some(i) = instance {
            cfg.push(("group.instance.id", i));
        }
        Self::build(broker, &cfg, topic)
    }

    pub fn consumer_protocol(broker: &TestBroker, group: &str, topic: &str) -> Member {
        let cfg = [
            ("group.id", group),
            ("group.protocol", "consumer"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ];
        Self::build(broker, &cfg, topic)
    }

    fn build(broker: &TestBroker, cfg: &[(&str, &str)], topic: &str) -> Member {
        let events = Arc::new(Mutex::new(Events::default()));
        let consumer: BaseConsumer<Recorder> = broker
            .client_config(cfg)
            .create_with_context(Recorder {
                events: events.clone(),
            })
            .expect("create group member");
        consumer.subscribe(&[topic]).expect("subscribe");
        Member {
            consumer: Some(consumer),
            events,
        }
    }

    /// Leaves the group and closes the consumer; false unless that finished within `limit`.
    pub fn close_within(mut self, limit: Duration) -> bool {
        self.consumer
            .take()
            .is_some_and(|c| close_bounded(c, limit))
    }

    /// The member's consumer (it is open until the member is closed or dropped).
    pub fn consumer(&self) -> &BaseConsumer<Recorder> {
        self.consumer
            .as_ref()
            .expect("the member is open until closed or dropped")
    }

    /// Partitions currently assigned.
    pub fn owned(&self) -> BTreeSet<i32> {
        self.consumer()
            .assignment()
            .map(|t| t.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }
}

/// Polls every member until `done` holds or `timeout` passes; returns whether it held.
pub fn poll_until(members: &[Member], timeout: Duration, done: impl Fn(&[Member]) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        for m in members {
            let _ = m.consumer().poll(Duration::from_millis(20));
        }
        if done(members) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

/// Polls every member for `d`.
pub fn poll_for(members: &[Member], d: Duration) {
    let _ = poll_until(members, d, |_| false);
}

pub fn owned_all(members: &[Member]) -> Vec<BTreeSet<i32>> {
    members.iter().map(Member::owned).collect()
}

pub fn union(members: &[Member]) -> BTreeSet<i32> {
    members.iter().flat_map(|m| m.owned()).collect()
}

/// Produces `n` records spread over `partitions` partitions.
pub async fn produce_keyed(broker: &TestBroker, topic: &str, partitions: i32, n: usize) {
    let producer = broker.producer(&[]);
    for i in 0..n {
        let payload = format!("v{i}");
        let rec = FutureRecord::<(), _>::to(topic)
            .payload(&payload)
            .partition(i as i32 % partitions);
        producer.send(rec, OP_TIMEOUT).await.expect("produce");
    }
}
