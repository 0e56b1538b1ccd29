//! `oxbow sql "SELECT …"`: runs SQL against the broker's SQL listener (the PostgreSQL simple
//! query protocol, spoken here directly: startup with the password method when asked, one
//! query, its results) and prints each result as an aligned table, or as JSON with `--json`.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{Map, Value};

#[derive(Args)]
pub struct SqlArgs {
    /// The SQL to run (several statements separated by `;` run in order).
    pub query: String,
    /// The broker's SQL listener, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub sql: String,
    /// Print each result as a JSON array of objects (numbers and booleans typed).
    #[arg(long)]
    pub json: bool,
    /// The user to connect as (one of the bus's users when `sql.authentication = "password"`).
    #[arg(long, env = "PGUSER", default_value = "oxbow")]
    pub user: String,
    /// The user's password, sent when the listener asks for one.
    #[arg(long, env = "PGPASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// One result of the query.
struct Answer {
    columns: Vec<(String, u32)>,
    rows: Vec<Vec<Option<String>>>,
    tag: String,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let stream = TcpStream::connect(&args.sql)
        .with_context(|| format!("connecting to the SQL listener at {}", args.sql))?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608i32.to_be_bytes());
    for s in [
        "user",
        args.user.as_str(),
        "database",
        "oxbow",
        "application_name",
        "oxbow sql",
    ] {
        startup.extend_from_slice(s.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    let mut msg = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&startup);
    writer.write_all(&msg)?;
    loop {
        let (kind, body) = read_message(&mut reader)?;
        match kind {
            b'R' if body.get(..4) == Some(&[0, 0, 0, 0]) => {}
            // AuthenticationCleartextPassword.
            b'R' if body.get(..4) == Some(&[0, 0, 0, 3]) => {
                let Some(password) = &args.password else {
                    bail!("the SQL listener asks for a password: give --password or PGPASSWORD");
                };
                let mut msg = vec![b'p'];
                msg.extend_from_slice(&((password.len() + 5) as i32).to_be_bytes());
                msg.extend_from_slice(password.as_bytes());
                msg.push(0);
                writer.write_all(&msg)?;
            }
            b'R' => {
                bail!("the SQL listener asks for an authentication method oxbow sql does not speak")
            }
            b'E' => bail!("{}", error_text(&body)),
            b'Z' => break,
            _ => {}
        }
    }
    let mut query = vec![b'Q'];
    query.extend_from_slice(&((args.query.len() + 5) as i32).to_be_bytes());
    query.extend_from_slice(args.query.as_bytes());
    query.push(0);
    writer.write_all(&query)?;
    let mut answers = Vec::new();
    let mut current: Option<Answer> = None;
    let mut failure = None;
    loop {
        let (kind, body) = read_message(&mut reader)?;
        match kind {
            b'T' => {
                current = Some(Answer {
                    columns: row_description(&body)?,
                    rows: Vec::new(),
                    tag: String::new(),
                })
            }
            b'D' => {
                if let Some(a) = current.as_mut() {
                    a.rows.push(data_row(&body)?);
                }
            }
            b'C' => {
                let tag = cstring(&body, &mut 0)?;
                let mut a = current.take().unwrap_or(Answer {
                    columns: Vec::new(),
                    rows: Vec::new(),
                    tag: String::new(),
                });
                a.tag = tag;
                answers.push(a);
            }
            b'E' => failure = Some(error_text(&body)),
            b'Z' => break,
            _ => {}
        }
    }
    let _ = writer.write_all(&[b'X', 0, 0, 0, 4]);
    for a in &answers {
        if args.json {
            print_json(a);
        } else {
            print_table(a);
        }
    }
    if let Some(e) = failure {
        bail!("{e}");
    }
    Ok(())
}

fn read_message(r: &mut impl Read) -> anyhow::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)
        .context("the SQL listener closed the connection")?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if !(4..=1 << 30).contains(&len) {
        bail!("the SQL listener sent a message of length {len}");
    }
    let mut body = vec![0u8; len as usize - 4];
    r.read_exact(&mut body)?;
    Ok((head[0], body))
}

fn take<const N: usize>(b: &[u8], at: &mut usize) -> anyhow::Result<[u8; N]> {
    let s = b
        .get(*at..*at + N)
        .context("a truncated message from the SQL listener")?;
    *at += N;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

fn cstring(b: &[u8], at: &mut usize) -> anyhow::Result<String> {
    let rest = b.get(*at..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|c| *c == 0)
        .context("an unterminated string from the SQL listener")?;
    *at += end + 1;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn row_description(b: &[u8]) -> anyhow::Result<Vec<(String, u32)>> {
    let mut at = 0;
    let n = i16::from_be_bytes(take::<2>(b, &mut at)?);
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        let name = cstring(b, &mut at)?;
        take::<6>(b, &mut at)?;
        let oid = u32::from_be_bytes(take::<4>(b, &mut at)?);
        take::<8>(b, &mut at)?;
        out.push((name, oid));
    }
    Ok(out)
}

fn data_row(b: &[u8]) -> anyhow::Result<Vec<Option<String>>> {
    let mut at = 0;
    let n = i16::from_be_bytes(take::<2>(b, &mut at)?);
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        let len = i32::from_be_bytes(take::<4>(b, &mut at)?);
        if len < 0 {
            out.push(None);
            continue;
        }
        let v = b
            .get(at..at + len as usize)
            .context("a truncated data row from the SQL listener")?;
        at += len as usize;
        out.push(Some(String::from_utf8_lossy(v).into_owned()));
    }
    Ok(out)
}

fn error_text(b: &[u8]) -> String {
    let mut at = 0;
    let (mut message, mut code) = (String::new(), String::new());
    while at < b.len() && b[at] != 0 {
        let field = b[at];
        at += 1;
        let Ok(v) = cstring(b, &mut at) else { break };
        match field {
            b'M' => message = v,
            b'C' => code = v,
            _ => {}
        }
    }
    format!("ERROR {code}: {message}")
}

fn print_table(a: &Answer) {
    if a.columns.is_empty() {
        println!("{}", a.tag);
        return;
    }
    let mut widths: Vec<usize> = a.columns.iter().map(|(n, _)| n.chars().count()).collect();
    for row in &a.rows {
        for (i, v) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(v.as_deref().map_or(0, |s| s.chars().count()));
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect();
        println!("{}", padded.join("|").trim_end());
    };
    line(a.columns.iter().map(|(n, _)| n.clone()).collect());
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    for row in &a.rows {
        line(row.iter().map(|v| v.clone().unwrap_or_default()).collect());
    }
    let n = a.rows.len();
    println!("({n} row{})", if n == 1 { "" } else { "s" });
}

fn print_json(a: &Answer) {
    let rows: Vec<Value> = a
        .rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for ((name, oid), v) in a.columns.iter().zip(row) {
                obj.insert(name.clone(), typed(*oid, v.as_deref()));
            }
            Value::Object(obj)
        })
        .collect();
    println!("{}", Value::Array(rows));
}

/// A text value as JSON by its PostgreSQL type (int2/4/8, float4/8, bool; the rest strings).
fn typed(oid: u32, v: Option<&str>) -> Value {
    let Some(v) = v else { return Value::Null };
    match oid {
        20 | 21 | 23 => v.parse::<i64>().map(Value::from).unwrap_or(Value::from(v)),
        700 | 701 => v
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::from(v)),
        16 => Value::Bool(v == "t" || v == "true"),
        _ => Value::from(v),
    }
}
