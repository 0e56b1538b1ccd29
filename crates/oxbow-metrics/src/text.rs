//! The text exposition: Prometheus' format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it
//! (`Accept: application/openmetrics-text`): `# HELP`/`# TYPE` once per family, label values
//! escaped, counters named `*_total`, and `# EOF` at the end for OpenMetrics.

use std::fmt::Write as _;

use crate::Histogram;

pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Exposition {
    out: String,
    openmetrics: bool,
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn labels(pairs: &[(&str, &str)], extra: Option<(&str, String)>) -> String {
    if pairs.is_empty() && extra.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    format!("{{{}}}", parts.join(","))
}

fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Exposition {
    pub fn new(openmetrics: bool) -> Self {
        Self {
            out: String::with_capacity(64 * 1024),
            openmetrics,
        }
    }

    pub fn content_type(&self) -> &'static str {
        if self.openmetrics {
            OPENMETRICS
        } else {
            PROMETHEUS
        }
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// A counter family; `name` without `_total`; samples as (labels, value).
    pub fn counter<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
    ) {
        let family = if self.openmetrics {
            name.to_string()
        } else {
            format!("{name}_total")
        };
        self.header(&family, "counter", help);
        for (l, v) in samples {
            let _ = writeln!(self.out, "{name}_total{} {}", labels(&l, None), num(v));
        }
    }

    /// A gauge family.
    pub fn gauge<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
    ) {
        self.header(name, "gauge", help);
        for (l, v) in samples {
            let _ = writeln!(self.out, "{name}{} {}", labels(&l, None), num(v));
        }
    }

    /// A histogram family in seconds-free milliseconds (Kafka's `*timems` names).
    pub fn histogram<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, &'a Histogram)>,
    ) {
        self.header(name, "histogram", help);
        for (l, h) in samples {
            let (buckets, total, sum) = h.snapshot();
            for (bound, c) in buckets {
                let _ = writeln!(
                    self.out,
                    "{name}_bucket{} {c}",
                    labels(&l, Some(("le", num(bound))))
                );
            }
            let _ = writeln!(
                self.out,
                "{name}_bucket{} {total}",
                labels(&l, Some(("le", "+Inf".into())))
            );
            let _ = writeln!(self.out, "{name}_sum{} {}", labels(&l, None), num(sum));
            let _ = writeln!(self.out, "{name}_count{} {total}", labels(&l, None));
        }
    }

    pub fn finish(mut self) -> String {
        if self.openmetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_families_when_exposing_should_write_prometheus_text_and_openmetrics() {
        let mut e = Exposition::new(false);
        e.counter("kafka_x", "help", vec![(vec![("topic", "a\"b")], 3.0)]);
        e.gauge("kafka_g", "g", vec![(vec![], 1.5)]);
        let text = e.finish();
        assert!(
            text.contains("# TYPE kafka_x_total counter\nkafka_x_total{topic=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("kafka_g 1.5\n"));
        let mut o = Exposition::new(true);
        o.counter("kafka_x", "help", vec![(vec![], 1.0)]);
        let text = o.finish();
        assert!(
            text.contains("# TYPE kafka_x counter\nkafka_x_total 1\n") && text.ends_with("# EOF\n"),
            "{text}"
        );
    }
}
