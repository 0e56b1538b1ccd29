//! DescribeCluster: the cluster id, this node as controller and as the only broker.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType, CLUSTER_NAME};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 1);

/// Endpoint type of brokers (v1 `endpoint_type`); 2 would be controllers.
const ENDPOINT_BROKERS: i8 = 1;

/// The cluster's `authorized_operations` as Kafka reports them: the allowed operations when the
/// principal may describe the cluster, else none.
pub fn cluster_operations(ctx: &RequestContext) -> i32 {
    if ctx.authorize_cluster(Operation::Describe) {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> Reply {
    let mut resp = DescribeClusterResponse::default().with_error_message(None);
    if ctx.api_version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        resp.error_code = ResponseError::UnsupportedEndpointType.code();
        resp.error_message = message(format!(
            "The broker only handles endpoint type {ENDPOINT_BROKERS} (brokers), not {}",
            req.endpoint_type
        ));
        resp.endpoint_type = req.endpoint_type;
        return Reply::Now(ResponseKind::DescribeCluster(resp));
    }
    let (host, port) = ctx.session.listener.advertised();
    resp.cluster_id = StrBytes::from_string(broker.cluster_id.clone());
    resp.controller_id = BrokerId(broker.node_id);
    resp.brokers = vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id))
        .with_host(StrBytes::from_string(host))
        .with_port(port)
        .with_rack(None)];
    if req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = cluster_operations(ctx);
    }
    Reply::Now(ResponseKind::DescribeCluster(resp))
}
