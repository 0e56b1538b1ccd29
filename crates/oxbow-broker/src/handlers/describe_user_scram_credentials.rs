//! DescribeUserScramCredentials: which SCRAM mechanisms each user has, with the iterations
//! (never the keys); DESCRIBE on the cluster. A named user without credentials answers
//! RESOURCE_NOT_FOUND, as Kafka does.

use std::sync::Arc;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 0);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> Reply {
    let mut resp = DescribeUserScramCredentialsResponse::default();
    if !ctx.authorize_cluster(Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return Reply::Now(ResponseKind::DescribeUserScramCredentials(resp));
    }
    let all = broker.scram.describe();
    let names: Vec<String> = match &req.users {
        Some(users) if !users.is_empty() => users.iter().map(|u| u.name.to_string()).collect(),
        _ => all.keys().cloned().collect(),
    };
    resp.results = names
        .into_iter()
        .map(|name| {
            let mut r = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(name.clone()));
            match all.get(&name) {
                Some(creds) => {
                    r.credential_infos = creds
                        .iter()
                        .map(|(m, i)| {
                            CredentialInfo::default()
                                .with_mechanism(*m as i8)
                                .with_iterations(*i)
                        })
                        .collect()
                }
                None => {
                    r.error_code = ResponseError::ResourceNotFound.code();
                    r.error_message = message(format!(
                        "Attempt to describe a user credential that does not exist: {name}"
                    ));
                }
            }
            r
        })
        .collect();
    Reply::Now(ResponseKind::DescribeUserScramCredentials(resp))
}
