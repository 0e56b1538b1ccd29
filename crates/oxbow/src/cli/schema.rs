//! `oxbow schema register|get|list|check|delete|config|mode`: the schema registry's REST API from
//! the command line (the local registry by default; `--registry URL` or `OXBOW_REGISTRY_URL`).
//! Errors print the registry's code and message; `check` exits 1 when incompatible.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// The registry's URL.
    #[arg(
        long,
        env = "OXBOW_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry: String,
}

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Register a schema under a subject; prints its id.
    Register(RegisterArgs),
    /// Print a schema: by id, or a subject's version (latest by default).
    Get(GetArgs),
    /// List subjects and their versions.
    List(ListArgs),
    /// Check a schema against a subject's versions; prints every incompatibility.
    Check(CheckArgs),
    /// Delete a subject or one version (soft; `--permanent` after a soft delete).
    Delete(DeleteArgs),
    /// Show or set the compatibility level (global, or of a subject).
    Config(ConfigArgs),
    /// Show or set the mode (READWRITE, READONLY, IMPORT), global or of a subject.
    Mode(ModeArgs),
    /// Measure register latency and look-ups by id per second.
    Bench(super::schema_bench::BenchArgs),
}

#[derive(Args, Debug)]
pub struct SchemaInput {
    /// The schema text.
    #[arg(long, conflicts_with = "file")]
    pub schema: Option<String>,
    /// A file holding the schema.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// AVRO, JSON or PROTOBUF.
    #[arg(long = "type", default_value = "AVRO")]
    pub schema_type: String,
    /// A reference, NAME=SUBJECT:VERSION (repeatable).
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    pub references: Vec<String>,
}

impl SchemaInput {
    fn body(&self) -> anyhow::Result<Value> {
        let text = match (&self.schema, &self.file) {
            (Some(s), _) => s.clone(),
            (None, Some(f)) => {
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
            }
            (None, None) => bail!("give --schema TEXT or --file PATH"),
        };
        let mut refs = Vec::new();
        for r in &self.references {
            let (name, rest) = r
                .split_once('=')
                .context("--reference NAME=SUBJECT:VERSION")?;
            let (subject, version) = rest
                .rsplit_once(':')
                .context("--reference NAME=SUBJECT:VERSION")?;
            let version: i32 = version
                .parse()
                .context("the reference's version is a number")?;
            refs.push(json!({"name": name, "subject": subject, "version": version}));
        }
        Ok(
            json!({"schema": text, "schemaType": self.schema_type.to_ascii_uppercase(), "references": refs}),
        )
    }
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    pub subject: String,
    #[command(flatten)]
    pub input: SchemaInput,
    /// Normalize the schema before registering (layout differences get one id).
    #[arg(long)]
    pub normalize: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The subject (or give --id).
    #[arg(required_unless_present = "id")]
    pub subject: Option<String>,
    /// A schema id.
    #[arg(long, conflicts_with = "subject")]
    pub id: Option<i32>,
    /// The version (a number or latest).
    #[arg(long, default_value = "latest")]
    pub version: String,
    /// Include soft-deleted versions.
    #[arg(long)]
    pub deleted: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Only subjects starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Include soft-deleted subjects and versions.
    #[arg(long)]
    pub deleted: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    pub subject: String,
    #[command(flatten)]
    pub input: SchemaInput,
    /// Against this version only (default: the versions the subject's level names).
    #[arg(long)]
    pub version: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    pub subject: String,
    /// Only this version.
    #[arg(long)]
    pub version: Option<String>,
    /// Delete for good (after a soft delete).
    #[arg(long)]
    pub permanent: bool,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The subject (default: the global config).
    pub subject: Option<String>,
    /// Set the level: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL,
    /// FULL_TRANSITIVE.
    #[arg(long, conflicts_with = "delete")]
    pub set: Option<String>,
    /// Remove the subject's (or the global) config.
    #[arg(long)]
    pub delete: bool,
}

#[derive(Args, Debug)]
pub struct ModeArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The subject (default: the global mode).
    pub subject: Option<String>,
    /// Set the mode: READWRITE, READONLY, IMPORT.
    #[arg(long, conflicts_with = "delete")]
    pub set: Option<String>,
    /// Switch to IMPORT even with subjects present.
    #[arg(long)]
    pub force: bool,
    /// Remove the subject's mode.
    #[arg(long)]
    pub delete: bool,
}

/// One call to the registry; a non-2xx answer becomes an error with its code and message.
fn call(method: &str, url: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let agent = super::common::http_agent();
    let ct = "application/vnd.schemaregistry.v1+json";
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        ("POST", b) => agent
            .post(url)
            .header("Content-Type", ct)
            .send(b.map(Value::to_string).unwrap_or_default()),
        (_, b) => agent
            .put(url)
            .header("Content-Type", ct)
            .send(b.map(Value::to_string).unwrap_or_default()),
    };
    let mut resp = resp.with_context(|| format!("{method} {url}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !(200..300).contains(&status) {
        let code = value.get("error_code").cloned().unwrap_or(json!(status));
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        bail!("registry error {code} (HTTP {status}): {message}");
    }
    Ok(value)
}

/// A subject for a URL path (every byte outside the unreserved set escaped, `/` included).
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn base(r: &RegistryArgs) -> String {
    r.registry.trim_end_matches('/').to_string()
}

pub fn run(cmd: SchemaCmd) -> anyhow::Result<()> {
    match cmd {
        SchemaCmd::Bench(a) => return super::schema_bench::run(a),
        SchemaCmd::Register(a) => {
            let q = if a.normalize { "?normalize=true" } else { "" };
            let url = format!(
                "{}/subjects/{}/versions{q}",
                base(&a.registry),
                seg(&a.subject)
            );
            let out = call("POST", &url, Some(&a.input.body()?))?;
            println!("{}", out.get("id").cloned().unwrap_or(out));
        }
        SchemaCmd::Get(a) => {
            let url = match (a.id, &a.subject) {
                (Some(id), _) => format!("{}/schemas/ids/{id}", base(&a.registry)),
                (None, Some(s)) => format!(
                    "{}/subjects/{}/versions/{}{}",
                    base(&a.registry),
                    seg(s),
                    seg(&a.version),
                    if a.deleted { "?deleted=true" } else { "" }
                ),
                (None, None) => bail!("give a subject or --id"),
            };
            let out = call("GET", &url, None)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        SchemaCmd::List(a) => {
            let mut url = format!("{}/subjects?deleted={}", base(&a.registry), a.deleted);
            if let Some(p) = &a.prefix {
                url.push_str(&format!("&subjectPrefix={}", seg(p)));
            }
            let subjects = call("GET", &url, None)?;
            let subjects: Vec<String> = serde_json::from_value(subjects).unwrap_or_default();
            if subjects.is_empty() {
                println!("no subjects");
            }
            for s in subjects {
                let vurl = format!(
                    "{}/subjects/{}/versions?deleted={}",
                    base(&a.registry),
                    seg(&s),
                    a.deleted
                );
                let versions = call("GET", &vurl, None).unwrap_or(json!([]));
                println!("{s}  versions {versions}");
            }
        }
        SchemaCmd::Check(a) => {
            let url = match &a.version {
                Some(v) => format!(
                    "{}/compatibility/subjects/{}/versions/{}?verbose=true",
                    base(&a.registry),
                    seg(&a.subject),
                    seg(v)
                ),
                None => format!(
                    "{}/compatibility/subjects/{}/versions?verbose=true",
                    base(&a.registry),
                    seg(&a.subject)
                ),
            };
            let out = call("POST", &url, Some(&a.input.body()?))?;
            if out.get("is_compatible") == Some(&Value::Bool(true)) {
                println!("compatible");
            } else {
                println!("incompatible:");
                for m in out
                    .get("messages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    println!("  {}", m.as_str().unwrap_or_default());
                }
                std::process::exit(1);
            }
        }
        SchemaCmd::Delete(a) => {
            let q = if a.permanent { "?permanent=true" } else { "" };
            let url = match &a.version {
                Some(v) => format!(
                    "{}/subjects/{}/versions/{}{q}",
                    base(&a.registry),
                    seg(&a.subject),
                    seg(v)
                ),
                None => format!("{}/subjects/{}{q}", base(&a.registry), seg(&a.subject)),
            };
            let out = call("DELETE", &url, None)?;
            println!(
                "deleted {} {out}",
                if a.permanent { "permanently" } else { "(soft)" }
            );
        }
        SchemaCmd::Config(a) => {
            let url = match &a.subject {
                Some(s) => format!("{}/config/{}", base(&a.registry), seg(s)),
                None => format!("{}/config", base(&a.registry)),
            };
            let out = if let Some(level) = &a.set {
                call(
                    "PUT",
                    &url,
                    Some(&json!({"compatibility": level.to_ascii_uppercase()})),
                )?
            } else if a.delete {
                call("DELETE", &url, None)?
            } else {
                call("GET", &format!("{url}?defaultToGlobal=true"), None)?
            };
            let level = out
                .get("compatibilityLevel")
                .or_else(|| out.get("compatibility"))
                .cloned()
                .unwrap_or(out);
            println!(
                "{}",
                level
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| level.to_string())
            );
        }
        SchemaCmd::Mode(a) => {
            let url = match &a.subject {
                Some(s) => format!("{}/mode/{}", base(&a.registry), seg(s)),
                None => format!("{}/mode", base(&a.registry)),
            };
            let out = if let Some(mode) = &a.set {
                call(
                    "PUT",
                    &format!("{url}?force={}", a.force),
                    Some(&json!({"mode": mode.to_ascii_uppercase()})),
                )?
            } else if a.delete {
                call("DELETE", &url, None)?
            } else {
                call("GET", &format!("{url}?defaultToGlobal=true"), None)?
            };
            println!(
                "{}",
                out.get("mode").and_then(Value::as_str).unwrap_or_default()
            );
        }
    }
    Ok(())
}
