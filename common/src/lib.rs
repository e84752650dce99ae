//! What the Xhuma gateway, workers and NHS simulator share.
//!
//! Layout:
//! - [`nhs_number`]: the NHS number type (Modulus 11 checked at construction).
//! - [`identity`]: who is asking (from the verified SAML assertion, or configuration).
//! - [`patient`]: PDS demographics as the gateway and workers see them.
//! - [`document`]: metadata of a cached C-CDA document (what ITI-38 advertises).
//! - [`job`]: prefetch job messages on the wire and the queue names.
//! - [`queue`]: RabbitMQ connection, topology and publish-with-confirm.
//! - [`cache`]: Redis key scheme, document storage and wait-for-completion.
//! - [`nhs`]: clients for the NHS API platform (OAuth, PDS, SDS, GP Connect).
//! - [`config`]: `XHUMA_*` settings shared by the binaries.
//! - [`telemetry`], [`shutdown`], [`process`], [`chain`]: process plumbing shared by the binaries.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cache;
pub mod chain;
pub mod cli;
pub mod config;
pub mod document;
pub mod identity;
pub mod job;
pub mod nhs;
pub mod nhs_number;
pub mod patient;
pub mod process;
pub mod queue;
pub mod shutdown;
pub mod telemetry;

pub use nhs_number::NhsNumber;
