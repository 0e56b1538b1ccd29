//! `oxbow user add|list|remove`: SCRAM users (AlterUserScramCredentials,
//! DescribeUserScramCredentials), as `kafka-configs.sh --entity-type users` manages them. The
//! password is salted and iterated here, on the client (PBKDF2, a random 32-byte salt); only the
//! salted password travels, as KIP-554 specifies.

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::common::ConnArgs;
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a SCRAM user, or change its password.
    Add(AddArgs),
    /// List SCRAM users and their mechanisms.
    List(ListArgs),
    /// Remove a user's SCRAM credential.
    Remove(RemoveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScramMechanism {
    #[value(name = "SCRAM-SHA-256")]
    Sha256,
    #[value(name = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    fn code(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    pub user: String,
    /// The password (or read from the environment variable named by --password-env).
    #[arg(long, conflicts_with = "password_env")]
    pub password: Option<String>,
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    #[arg(long, value_enum, default_value = "SCRAM-SHA-512")]
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations (4096..16384).
    #[arg(long, default_value_t = 8192)]
    pub iterations: i32,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    pub user: String,
    #[arg(long, value_enum, default_value = "SCRAM-SHA-512")]
    pub mechanism: ScramMechanism,
}

pub async fn run(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add(a) => add(a).await,
        UserCmd::List(a) => list(a).await,
        UserCmd::Remove(a) => remove(a).await,
    }
}

fn check_results(
    results: &[kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult],
) -> anyhow::Result<()> {
    for r in results {
        if r.error_code != 0 {
            bail!(
                "user {}: error code {}: {}",
                r.user.as_str(),
                r.error_code,
                r.error_message.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

async fn add(a: AddArgs) -> anyhow::Result<()> {
    let password = match (&a.password, &a.password_env) {
        (Some(p), _) => p.clone(),
        (None, Some(var)) => {
            std::env::var(var).with_context(|| format!("environment variable {var}"))?
        }
        (None, None) => bail!("give --password or --password-env"),
    };
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("no random source for the salt"))?;
    let (alg, len) = match a.mechanism {
        ScramMechanism::Sha256 => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
        ScramMechanism::Sha512 => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
    };
    let rounds = std::num::NonZeroU32::new(u32::try_from(a.iterations).unwrap_or(0))
        .context("--iterations must be positive")?;
    let mut salted = vec![0u8; len];
    ring::pbkdf2::derive(alg, rounds, &salt, password.as_bytes(), &mut salted);
    let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(a.user.clone()))
            .with_mechanism(a.mechanism.code())
            .with_iterations(a.iterations)
            .with_salt(bytes::Bytes::copy_from_slice(&salt))
            .with_salted_password(bytes::Bytes::from(salted)),
    ]);
    let mut c = RawClient::open(&a.conn).await?;
    check_results(&c.send(0, &req).await?.results)?;
    println!("user {} has a {:?} credential", a.user, a.mechanism);
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c
        .send(
            0,
            &DescribeUserScramCredentialsRequest::default().with_users(None),
        )
        .await?;
    if resp.error_code != 0 {
        bail!(
            "DescribeUserScramCredentials failed with error code {}",
            resp.error_code
        );
    }
    println!("{:<32} {:<15} ITERATIONS", "USER", "MECHANISM");
    for r in resp.results {
        for info in r.credential_infos {
            let m = if info.mechanism == 1 {
                "SCRAM-SHA-256"
            } else {
                "SCRAM-SHA-512"
            };
            println!("{:<32} {:<15} {}", r.user.as_str(), m, info.iterations);
        }
    }
    Ok(())
}

async fn remove(a: RemoveArgs) -> anyhow::Result<()> {
    let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(StrBytes::from_string(a.user.clone()))
            .with_mechanism(a.mechanism.code()),
    ]);
    let mut c = RawClient::open(&a.conn).await?;
    check_results(&c.send(0, &req).await?.results)?;
    println!("removed the {:?} credential of {}", a.mechanism, a.user);
    Ok(())
}
