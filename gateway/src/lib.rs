//! The IHE responding gateway (being built: issue 4).
pub mod backend;
pub mod records;
