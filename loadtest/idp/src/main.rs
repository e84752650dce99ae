//! `xhuma-idp sign`: reads a SOAP 1.2 request on stdin, writes it signed on stdout (see the
//! library docs). Used by `deploy/local/try` and the README's curl example.

use std::io::{Read, Write};

use anyhow::Context;
use clap::Parser;
use time::{Duration, OffsetDateTime};
use xhuma_test_idp::{Claims, Signer, sign_request};

#[derive(Parser)]
#[command(about = "Signs a SOAP request's SAML assertion with a test IdP key")]
struct Args {
    /// PEM private key of the IdP.
    #[arg(long)]
    key: String,
    /// PEM certificate of the IdP (the one the gateway pins).
    #[arg(long)]
    cert: String,
    /// Holder-of-key PEM private key (signs the wsu:Timestamp).
    #[arg(long, requires = "hok_cert")]
    hok_key: Option<String>,
    /// Holder-of-key PEM certificate.
    #[arg(long, requires = "hok_key")]
    hok_cert: Option<String>,
    /// The patient the request is about (resource-id).
    #[arg(long)]
    nhs: String,
    /// Audience (the gateway's XHUMA_SAML_AUDIENCE).
    #[arg(long)]
    audience: Option<String>,
    /// Issuer (the gateway's XHUMA_SAML_TRUSTED_ISSUERS).
    #[arg(long)]
    issuer: Option<String>,
    /// Purpose of use code (nhin-purpose).
    #[arg(long, default_value = "TREATMENT")]
    purpose: String,
    /// Assertion lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    lifetime_secs: i64,
    /// RSA-SHA1 as Epic signs (default RSA-SHA256).
    #[arg(long)]
    sha1: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the request on stdin")?;
    let mut claims = Claims::epic_like(&args.nhs, args.audience.as_deref());
    if let Some(i) = args.issuer {
        claims.issuer = i;
    }
    claims.purpose_of_use.code = args.purpose;
    claims.lifetime = Duration::seconds(args.lifetime_secs);
    let mut signer = Signer::from_files(&args.key, &args.cert)?;
    if let (Some(k), Some(c)) = (&args.hok_key, &args.hok_cert) {
        signer = signer.with_holder_of_key(
            std::fs::read(k).with_context(|| k.clone())?,
            std::fs::read(c).with_context(|| c.clone())?,
        );
    }
    signer.sha1 = args.sha1;
    let signed = sign_request(&input, &claims, &signer, OffsetDateTime::now_utc())?;
    std::io::stdout().write_all(signed.as_bytes())?;
    Ok(())
}
