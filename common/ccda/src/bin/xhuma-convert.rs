//! `xhuma-convert`: GP Connect bundle(s) → C-CDA, for people and scripts.
//!
//! ```text
//! xhuma-convert bundle.json > ccd.xml
//! xhuma-convert --out DIR FILE|DIR...      (DIR inputs: every *.json inside)
//! ```
//! A per-file summary (sections, entries, warnings) goes to stderr. Exit code
//! 0 when every file converted, 1 when any failed, 64 on bad usage (clap; `--help` says it all).
//! `--now RFC3339` and `--id UUID` fix the clock and document id (for
//! reproducible output); by default the document id is derived from the file
//! content so re-running gives the same bytes within one second.
//! `--nhs NUMBER` refuses a bundle about anyone else (as the worker does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xhuma_ccda::{Context, Conversion, convert};

/// GP Connect Access Record Structured bundle(s) → HL7 C-CDA R2.1 Continuity of Care Document.
#[derive(Debug, clap::Parser)]
#[command(
    name = "xhuma-convert",
    version,
    after_help = "A per-file summary (sections, entries, warnings) goes to stderr. Exit status: \
                  0 when every file converted, 1 when any failed, 64 on bad usage."
)]
struct Args {
    /// Write DIR/<name>.xml for every input (inputs may be directories: every *.json inside);
    /// without it, exactly one bundle is converted to stdout.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Bundle files (JSON) or directories of them.
    #[arg(required = true, value_name = "FILE|DIR")]
    inputs: Vec<PathBuf>,
    /// Fix the document's clock (RFC 3339), for reproducible output.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<time::OffsetDateTime>,
    /// Fix the document id (default: derived from the bundle's bytes).
    #[arg(long, value_name = "UUID")]
    id: Option<uuid::Uuid>,
    /// Refuse a bundle about anyone but this NHS number, as the worker does.
    #[arg(long, value_name = "NUMBER")]
    nhs: Option<String>,
    /// No per-file summary.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_now(v: &str) -> Result<time::OffsetDateTime, time::error::Parse> {
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
}

/// Parses the command line; `Err` is the exit code (0 after `--help`, 64 on bad usage).
fn parse_args() -> Result<Args, ExitCode> {
    use clap::Parser;
    Args::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// `sysexits.h` EX_USAGE.
const USAGE: u8 = 64;

fn expand(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "json"))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    files
}

fn context(bytes: &[u8], a: &Args) -> Context {
    let now = a.now.unwrap_or_else(|| {
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    });
    let id = a.id.unwrap_or_else(|| {
        // Content-derived, so the same bundle converted twice gets the same id.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &h.to_be_bytes())
    });
    let cx = Context::new(now, id);
    match &a.nhs {
        Some(n) => cx.for_patient(n.clone()),
        None => cx,
    }
}

fn summary(name: &str, c: &Conversion) -> String {
    let entries: usize = c.report.sections.iter().map(|s| s.entries).sum();
    let unreadable: usize = c.report.sections.iter().map(|s| s.unreadable).sum();
    let per: Vec<String> = c
        .report
        .sections
        .iter()
        .map(|s| format!("{}={}", s.title, s.entries))
        .collect();
    format!(
        "{name}: ok, {} sections, {entries} entries, {unreadable} not shown, {} warnings [{}]",
        c.report.sections.len(),
        c.report.warnings.len(),
        per.join(", ")
    )
}

fn run_one(path: &Path, a: &Args) -> Result<Conversion, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    convert(&bytes, &context(&bytes, a)).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let files = expand(&a.inputs);
    let mut failed = 0;
    match &a.out {
        None => {
            if files.len() != 1 {
                eprintln!(
                    "xhuma-convert: {} bundles found; without --out DIR convert exactly one",
                    files.len()
                );
                return ExitCode::from(USAGE);
            }
            match run_one(&files[0], &a) {
                Ok(c) => {
                    use std::io::Write;
                    if std::io::stdout().write_all(&c.xml).is_err() {
                        return ExitCode::FAILURE;
                    }
                    if !a.quiet {
                        eprintln!("{}", summary(&files[0].display().to_string(), &c));
                        for w in &c.report.warnings {
                            eprintln!("  warning: {w}");
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{}: error: {e}", files[0].display());
                    failed += 1;
                }
            }
        }
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("{}: cannot create: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            for f in &files {
                let name = f.display().to_string();
                match run_one(f, &a) {
                    Ok(c) => {
                        let stem = f
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "out".into());
                        let target = dir.join(format!("{stem}.xml"));
                        if let Err(e) = std::fs::write(&target, &c.xml) {
                            eprintln!("{name}: error: cannot write {}: {e}", target.display());
                            failed += 1;
                            continue;
                        }
                        if !a.quiet {
                            eprintln!("{}", summary(&name, &c));
                        }
                    }
                    Err(e) => {
                        eprintln!("{name}: error: {e}");
                        failed += 1;
                    }
                }
            }
            eprintln!("{} converted, {failed} failed", files.len() - failed);
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
