//! Test helpers: an in-process `nhs-sim` on port 0 and clients pointed at it; RabbitMQ
//! helpers in [`amqp`].
#![allow(dead_code, clippy::unwrap_used)]

pub mod amqp;

use xhuma_common::NhsNumber;
use xhuma_common::identity::Requester;
use xhuma_common::nhs::{NhsClients, NhsConfig, ProviderEndpoint};
use xhuma_simulator::{SimHandle, Simulator, SimulatorBuilder};

pub async fn sim() -> SimHandle {
    start(Simulator::builder()).await
}

pub async fn start(b: SimulatorBuilder) -> SimHandle {
    b.spawn().await.expect("simulator starts")
}

pub fn config(sim: &SimHandle) -> NhsConfig {
    NhsConfig::for_simulator(&sim.base_url())
}

pub fn clients(cfg: &NhsConfig) -> NhsClients {
    NhsClients::new(cfg).expect("clients build")
}

pub fn nhs(s: &str) -> NhsNumber {
    NhsNumber::parse(s).expect("valid NHS number")
}

pub fn requester() -> Requester {
    Requester {
        subject_id: "CONE, Stephen".into(),
        organization: "St Elsewhere Hospital".into(),
        organization_id: "urn:oid:1.2.3".into(),
        ods_code: Some("RRV00".into()),
        ..Default::default()
    }
}

pub fn trace() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The SDS endpoint of the demonstrator practice.
pub async fn demo_endpoint(c: &NhsClients) -> ProviderEndpoint {
    c.sds
        .gp_connect_endpoint("B82617", "corr-1")
        .await
        .expect("SDS answers")
        .expect("B82617 has an endpoint")
}

/// A plain HTTP client for hand-made requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
