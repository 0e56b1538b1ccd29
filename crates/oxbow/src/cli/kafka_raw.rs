//! A minimal Kafka client over one TCP connection, for the admin requests librdkafka does not
//! expose (ListGroups with states, DescribeGroups with assignments, OffsetFetch of all partitions,
//! a one-record Fetch for lag in time).

use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    FindCoordinatorRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};

use super::common::{ConnArgs, RawAuth};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted (a guard against a garbage length).
const MAX_RESPONSE: usize = 256 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct RawClient {
    stream: TcpStream,
    correlation: i32,
}

impl RawClient {
    /// Connects to the first bootstrap address.
    pub async fn connect(bootstrap: &str) -> anyhow::Result<RawClient> {
        let addr = bootstrap.split(',').next().unwrap_or(bootstrap).trim();
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        let _ = stream.set_nodelay(true);
        Ok(RawClient {
            stream,
            correlation: 0,
        })
    }

    /// Connects to the first bootstrap broker of `conn`, authenticating as it says.
    pub async fn open(conn: &ConnArgs) -> anyhow::Result<RawClient> {
        RawClient::open_at(conn, &conn.bootstrap).await
    }

    async fn open_at(conn: &ConnArgs, addr: &str) -> anyhow::Result<RawClient> {
        let mut c = RawClient::connect(addr).await?;
        if let RawAuth::Plain { username, password } = conn.raw_auth()? {
            let hs = c
                .send(
                    1,
                    &SaslHandshakeRequest::default()
                        .with_mechanism(StrBytes::from_static_str("PLAIN")),
                )
                .await?;
            if hs.error_code != 0 {
                bail!(
                    "SaslHandshake PLAIN refused with error code {}",
                    hs.error_code
                );
            }
            let token = format!("\0{username}\0{password}");
            let auth = c
                .send(
                    2,
                    &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                )
                .await?;
            if auth.error_code != 0 {
                bail!(
                    "authentication as {username} failed: {}",
                    auth.error_message
                        .as_deref()
                        .unwrap_or("error code")
                        .to_string()
                        + &format!(" ({})", auth.error_code)
                );
            }
        }
        Ok(c)
    }

    /// Connects to the coordinator of `group` (found through the bootstrap broker).
    pub async fn coordinator(conn: &ConnArgs, group: &str) -> anyhow::Result<RawClient> {
        let bootstrap = conn.bootstrap.as_str();
        let mut c = RawClient::open(conn).await?;
        let req =
            FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string()));
        let resp = c.send(3, &req).await?;
        if resp.error_code != 0 {
            bail!(
                "FindCoordinator for group {group} failed with error code {}",
                resp.error_code
            );
        }
        let addr = format!("{}:{}", resp.host.as_str(), resp.port);
        if bootstrap.split(',').next().map(str::trim) == Some(addr.as_str()) {
            return Ok(c);
        }
        RawClient::open_at(conn, &addr).await
    }

    /// Sends one request and reads its response.
    pub async fn send<R: Request>(&mut self, version: i16, req: &R) -> anyhow::Result<R::Response> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("oxbow-cli")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .context("encoding request header")?;
        req.encode(&mut body, version).context("encoding request")?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len()).context("request too large")?);
        frame.extend_from_slice(&body);
        let io = async {
            self.stream.write_all(&frame).await?;
            let len = self.stream.read_i32().await?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l >= 4 && *l <= MAX_RESPONSE);
            let Some(len) = len else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "bad response length",
                ));
            };
            let mut buf = vec![0u8; len];
            self.stream.read_exact(&mut buf).await?;
            Ok(buf)
        };
        let buf = tokio::time::timeout(TIMEOUT, io)
            .await
            .context("request timed out")?
            .context("request failed")?;
        let mut buf = Bytes::from(buf);
        let head = ResponseHeader::decode(
            &mut buf,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .context("decoding response header")?;
        if head.correlation_id != self.correlation {
            bail!(
                "response correlation id {} does not match {}",
                head.correlation_id,
                self.correlation
            );
        }
        let resp =
            <R::Response as Decodable>::decode(&mut buf, version).context("decoding response")?;
        if buf.has_remaining() {
            bail!("{} trailing bytes after the response", buf.remaining());
        }
        Ok(resp)
    }
}
