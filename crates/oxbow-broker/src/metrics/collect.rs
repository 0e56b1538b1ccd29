//! A scrape: the broker's counters, then what is read from its state at that moment (partitions'
//! logs, groups and their lag, connections, the process).

use std::sync::Arc;

use oxbow_metrics::server::Collect;
use oxbow_metrics::Exposition;

use crate::Broker;

/// The broker as `/metrics`, `/health` and `/ready` see it.
pub struct BrokerCollector {
    pub broker: Arc<Broker>,
    /// The `cluster_name` label of the lag series (Kafka Lag Exporter's).
    pub cluster_name: String,
}

fn api_name(key: i16) -> String {
    kafka_protocol::messages::ApiKey::try_from(key)
        .map(|k| format!("{k:?}"))
        .unwrap_or_else(|_| key.to_string())
}

impl Collect for BrokerCollector {
    fn collect(&self, out: &mut Exposition) {
        self.topic_metrics(out);
        self.request_metrics(out);
        self.connections(out);
        self.logs(out);
        self.storage(out);
        self.threads(out);
        self.groups_and_lag(out);
        process(out, &self.broker);
    }

    fn health(&self) -> Result<(), String> {
        if self.broker.logs.is_offline() {
            return Err(format!(
                "log directory {} offline",
                self.broker.logs.location().display()
            ));
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        !self.broker.listeners().is_empty() && !self.broker.logs.is_offline()
    }
}

impl BrokerCollector {
    fn topic_metrics(&self, out: &mut Exposition) {
        let m = &self.broker.metrics;
        let topics = m.topics();
        type Pick = fn(&super::TopicCounters) -> u64;
        let families: [(&str, &str, Pick); 7] = [
            (
                "kafka_server_brokertopicmetrics_messagesin",
                "Records appended",
                |t| t.messages_in.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesin",
                "Bytes of record batches appended",
                |t| t.bytes_in.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesout",
                "Bytes of records fetched",
                |t| t.bytes_out.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_failedproducerequests",
                "Produce requests (per partition) that failed",
                |t| t.failed_produce_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_failedfetchrequests",
                "Fetch requests (per partition) that failed",
                |t| t.failed_fetch_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_totalproducerequests",
                "Produce requests (per partition)",
                |t| t.total_produce_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_totalfetchrequests",
                "Fetch requests (per partition)",
                |t| t.total_fetch_requests.get(),
            ),
        ];
        for (name, help, pick) in families {
            let mut samples: Vec<(Vec<(&str, &str)>, f64)> =
                vec![(vec![], pick(&m.all_topics) as f64)];
            for (topic, c) in &topics {
                samples.push((vec![("topic", topic.as_str())], pick(c) as f64));
            }
            out.counter(name, help, samples);
        }
    }

    fn request_metrics(&self, out: &mut Exposition) {
        let m = &self.broker.metrics;
        let reqs: Vec<(String, &super::RequestStats)> =
            m.requests().map(|(k, s)| (api_name(k), s)).collect();
        let versions: Vec<String> = (0..=super::MAX_VERSION).map(|v| v.to_string()).collect();
        out.counter(
            "kafka_network_requestmetrics_requests",
            "Requests served, per API and version",
            reqs.iter().flat_map(|(n, s)| {
                s.by_version
                    .iter()
                    .zip(&versions)
                    .filter(|(c, _)| c.get() > 0)
                    .map(move |(c, v)| {
                        (
                            vec![("request", n.as_str()), ("version", v.as_str())],
                            c.get() as f64,
                        )
                    })
            }),
        );
        out.histogram(
            "kafka_network_requestmetrics_totaltimems",
            "Time from a request read to its response ready, in ms",
            reqs.iter()
                .map(|(n, s)| (vec![("request", n.as_str())], &s.total)),
        );
        out.histogram(
            "kafka_network_requestmetrics_localtimems",
            "Time in the request's handler, in ms",
            reqs.iter()
                .map(|(n, s)| (vec![("request", n.as_str())], &s.local)),
        );
        out.histogram(
            "kafka_network_requestmetrics_remotetimems",
            "Time waiting for the response's condition (an fsync, data for a long poll), in ms",
            reqs.iter()
                .map(|(n, s)| (vec![("request", n.as_str())], &s.remote)),
        );
    }

    fn connections(&self, out: &mut Exposition) {
        let listeners = self.broker.listeners();
        let names: Vec<String> = listeners.iter().map(|(l, _)| l.name.clone()).collect();
        out.gauge(
            "kafka_server_socketservermetrics_connection_count",
            "Open connections, per listener",
            listeners
                .iter()
                .zip(&names)
                .map(|((l, _), n)| (vec![("listener", n.as_str())], l.stats.open() as f64)),
        );
        out.counter(
            "kafka_server_socketservermetrics_connection_creation",
            "Connections accepted, per listener",
            listeners
                .iter()
                .zip(&names)
                .map(|((l, _), n)| (vec![("listener", n.as_str())], l.stats.accepted() as f64)),
        );
    }

    fn logs(&self, out: &mut Exposition) {
        struct Row {
            topic: String,
            partition: String,
            size: u64,
            segments: usize,
            start: i64,
            end: i64,
        }
        let mut rows = Vec::new();
        for t in self.broker.metadata.topics.all() {
            for p in &t.partitions {
                rows.push(Row {
                    topic: t.meta.name.clone(),
                    partition: p.tp.partition.to_string(),
                    size: p.log.size_bytes(),
                    segments: p.log.segments().len(),
                    start: p.log.log_start_offset(),
                    end: p.log.log_end_offset(),
                });
            }
        }
        fn l(r: &Row) -> Vec<(&str, &str)> {
            vec![
                ("topic", r.topic.as_str()),
                ("partition", r.partition.as_str()),
            ]
        }
        out.gauge(
            "kafka_log_log_size",
            "Bytes of the partition's log",
            rows.iter().map(|r| (l(r), r.size as f64)),
        );
        out.gauge(
            "kafka_log_log_numlogsegments",
            "Segments of the partition's log",
            rows.iter().map(|r| (l(r), r.segments as f64)),
        );
        out.gauge(
            "kafka_log_log_logstartoffset",
            "First offset of the partition's log",
            rows.iter().map(|r| (l(r), r.start as f64)),
        );
        out.gauge(
            "kafka_log_log_logendoffset",
            "Offset after the last record of the partition's log",
            rows.iter().map(|r| (l(r), r.end as f64)),
        );
    }

    /// Log fsync times and the log directory's file system.
    fn storage(&self, out: &mut Exposition) {
        out.histogram(
            "kafka_log_logflushstats_logflushrateandtimems",
            "Time of each log fsync (group commit), in ms",
            [(vec![], &*self.broker.metrics.log_flush)],
        );
        if let Ok((total, usable)) = crate::disk::disk_space(self.broker.data_dir()) {
            out.gauge(
                "oxbow_log_dir_total_bytes",
                "Size of the file system holding the log directory",
                [(vec![], total as f64)],
            );
            out.gauge(
                "oxbow_log_dir_usable_bytes",
                "Bytes free for the broker on the file system holding the log directory",
                [(vec![], usable as f64)],
            );
        }
    }

    /// How busy the network threads are. Requests are read, handled and answered on the same
    /// threads (tokio's workers), so Kafka's network-processor and request-handler idle ratios
    /// are one figure here: the share of time between two scrapes the workers were not busy.
    fn threads(&self, out: &mut Exposition) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rt = handle.metrics();
        let workers = rt.num_workers();
        let busy: Vec<std::time::Duration> = (0..workers)
            .map(|w| rt.worker_total_busy_duration(w))
            .collect();
        let names: Vec<String> = (0..workers).map(|w| w.to_string()).collect();
        out.counter(
            "oxbow_network_thread_busy_seconds",
            "Time each network thread spent busy (rate() is its busy ratio)",
            busy.iter()
                .zip(&names)
                .map(|(b, n)| (vec![("thread", n.as_str())], b.as_secs_f64())),
        );
        let total: std::time::Duration = busy.iter().sum();
        let now = std::time::Instant::now();
        let m = &self.broker.metrics;
        let (since, before) = m
            .busy_sample
            .lock()
            .replace((now, total))
            .unwrap_or((m.started, std::time::Duration::ZERO));
        let wall = now.duration_since(since).as_secs_f64() * workers.max(1) as f64;
        let ratio = if wall > 0.0 {
            (total.saturating_sub(before).as_secs_f64() / wall).clamp(0.0, 1.0)
        } else {
            0.0
        };
        out.gauge(
            "oxbow_network_threads_busy_ratio",
            "Share of time the network threads were busy since the previous scrape (0..1)",
            [(vec![], ratio)],
        );
        for (name, help) in [
            (
                "kafka_network_socketserver_networkprocessoravgidlepercent",
                "Share of time the network threads were idle since the previous scrape (0..1)",
            ),
            (
                "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
                "Share of time the request handlers (the network threads) were idle since the previous scrape (0..1)",
            ),
        ] {
            out.gauge(name, help, [(vec![], 1.0 - ratio)]);
        }
    }

    fn groups_and_lag(&self, out: &mut Exposition) {
        let now = crate::now_ms();
        let b = &self.broker;
        // (group, state, [(topic, partition, committed)]) read under the coordinator's lock.
        let groups: Vec<(String, &'static str, Vec<(String, i32, i64)>)> =
            b.groups.read_all(|all| {
                let mut v: Vec<_> = all
                    .values()
                    .map(|g| {
                        let offsets = g
                            .offsets
                            .iter()
                            .map(|((t, p), e)| (t.clone(), *p, e.offset))
                            .collect();
                        (g.id.clone(), g.state_name(), offsets)
                    })
                    .collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            });
        let mut by_state: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for (_, s, _) in &groups {
            *by_state.entry(s).or_default() += 1;
        }
        out.gauge(
            "kafka_coordinator_group_groupmetadatamanager_numgroups",
            "Consumer groups",
            [(vec![], groups.len() as f64)],
        );
        for (state, name) in [
            ("Stable", "numgroupsstable"),
            ("Empty", "numgroupsempty"),
            ("PreparingRebalance", "numgroupspreparingrebalance"),
            ("CompletingRebalance", "numgroupscompletingrebalance"),
            ("Dead", "numgroupsdead"),
        ] {
            out.gauge(
                &format!("kafka_coordinator_group_groupmetadatamanager_{name}"),
                &format!("Consumer groups in state {state}"),
                [(vec![], by_state.get(state).copied().unwrap_or(0) as f64)],
            );
        }
        out.gauge(
            "kafka_server_group_coordinator_metrics_group_completed_rebalance_count",
            "Rebalances completed since start (classic generations and KIP-848 group epochs)",
            [(
                vec![],
                oxbow_coordinator::REBALANCES.load(std::sync::atomic::Ordering::Relaxed) as f64,
            )],
        );
        out.gauge(
            "kafka_coordinator_group_groups",
            "Consumer groups by state (classic and KIP-848 states)",
            by_state
                .iter()
                .map(|(s, n)| (vec![("state", *s)], *n as f64)),
        );

        struct Lag {
            group: String,
            topic: String,
            partition: String,
            offset: i64,
            lag: i64,
            seconds: f64,
        }
        let mut lags = Vec::new();
        for (group, _, offsets) in &groups {
            for (topic, partition, committed) in offsets {
                let Some((lag, seconds)) =
                    super::lag::partition_lag(b, topic, *partition, *committed, now)
                else {
                    continue;
                };
                lags.push(Lag {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: partition.to_string(),
                    offset: *committed,
                    lag,
                    seconds,
                });
            }
        }
        let c = self.cluster_name.as_str();
        fn l<'a>(c: &'a str, x: &'a Lag) -> Vec<(&'a str, &'a str)> {
            vec![
                ("cluster_name", c),
                ("group", x.group.as_str()),
                ("topic", x.topic.as_str()),
                ("partition", x.partition.as_str()),
            ]
        }
        out.gauge(
            "kafka_consumergroup_group_offset",
            "The group's committed offset",
            lags.iter().map(|x| (l(c, x), x.offset as f64)),
        );
        out.gauge(
            "kafka_consumergroup_group_lag",
            "Records the group has not committed",
            lags.iter().map(|x| (l(c, x), x.lag as f64)),
        );
        out.gauge("kafka_consumergroup_group_lag_seconds", "Now minus the timestamp of the first record the group has not committed (0 when caught up)", lags.iter().map(|x| (l(c, x), x.seconds)));
        let mut per_group: std::collections::BTreeMap<&str, (i64, f64, i64)> =
            std::collections::BTreeMap::new();
        for x in &lags {
            let e = per_group.entry(x.group.as_str()).or_insert((0, 0.0, 0));
            e.0 = e.0.max(x.lag);
            e.1 = e.1.max(x.seconds);
            e.2 += x.lag;
        }
        out.gauge(
            "kafka_consumergroup_group_max_lag",
            "The group's largest lag in records",
            per_group
                .iter()
                .map(|(n, v)| (vec![("cluster_name", c), ("group", *n)], v.0 as f64)),
        );
        out.gauge(
            "kafka_consumergroup_group_max_lag_seconds",
            "The group's largest lag in seconds",
            per_group
                .iter()
                .map(|(n, v)| (vec![("cluster_name", c), ("group", *n)], v.1)),
        );
        out.gauge(
            "kafka_consumergroup_group_sum_lag",
            "The group's lag in records, summed over partitions",
            per_group
                .iter()
                .map(|(n, v)| (vec![("cluster_name", c), ("group", *n)], v.2 as f64)),
        );
    }
}

/// The process's own series, as Prometheus' client libraries name them.
fn process(out: &mut Exposition, broker: &Broker) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = match (fields.get(11), fields.get(12)) {
        (Some(u), Some(s)) => {
            (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / ticks
        }
        _ => 0.0,
    };
    let page = 4096.0;
    let rss = fields
        .get(21)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        * page;
    out.counter(
        "process_cpu_seconds",
        "CPU time of the broker process",
        [(vec![], cpu)],
    );
    out.gauge(
        "process_resident_memory_bytes",
        "Resident memory of the broker process",
        [(vec![], rss)],
    );
    out.gauge(
        "kafka_server_uptime_seconds",
        "Seconds since the broker started",
        [(vec![], broker.metrics.started.elapsed().as_secs_f64())],
    );
}
