//! The command line of every service binary: `--help` is its configuration reference.
//!
//! Each `XHUMA_*` setting a binary reads is declared once, beside its constant, as a
//! [`Setting`] (variable, default, one line of help). A binary's `main` hands its [`Cli`] to
//! [`parse`], which builds a clap command with one `--flag` per setting backed by
//! `env = "XHUMA_…"`, so the environment (how deployments configure us) and flags (handy by
//! hand) reach the typed config through one lookup, [`Settings::lookup`]. `--help` prints every
//! setting with its variable and default but never the values in the environment (they may be
//! secrets). A usage error exits 64, as a bad value does ([`crate::process::EXIT_CONFIG`]).

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

use crate::process::EXIT_CONFIG;

/// One `XHUMA_*` variable as `--help` shows it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub var: &'static str,
    /// What applies when unset, as people read it (`""`: nothing, the setting is off/optional).
    pub default: &'static str,
    pub help: &'static str,
    /// A shorter flag kept for compatibility (`xhuma-worker --stages`).
    pub alias: Option<&'static str>,
}

// === impl Setting ===

impl Setting {
    pub const fn new(var: &'static str, default: &'static str, help: &'static str) -> Self {
        Self {
            var,
            default,
            help,
            alias: None,
        }
    }

    pub const fn alias(self, alias: &'static str) -> Self {
        Self {
            alias: Some(alias),
            ..self
        }
    }

    /// `XHUMA_REDIS_URL` → `redis-url`.
    pub fn flag(&self) -> String {
        self.var
            .strip_prefix("XHUMA_")
            .unwrap_or(self.var)
            .to_ascii_lowercase()
            .replace('_', "-")
    }
}

/// Settings shown together under one heading of `--help`.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub heading: &'static str,
    pub settings: &'static [Setting],
}

/// A binary's command line: its settings and, for `xhuma-audit migrate`, its subcommands.
#[derive(Debug, Clone, Copy)]
pub struct Cli {
    pub name: &'static str,
    pub version: &'static str,
    pub about: &'static str,
    pub groups: &'static [Group],
    /// `(name, help)`: modes other than serving.
    pub subcommands: &'static [(&'static str, &'static str)],
}

// === impl Cli ===

impl Cli {
    /// Every setting once, in `--help` order (a variable shared by two groups, such as
    /// `XHUMA_LEASE_TTL_MS`, is listed under the first).
    pub fn settings(&self) -> Vec<(&'static str, Setting)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for group in self.groups {
            for s in group.settings {
                if seen.insert(s.var) {
                    out.push((group.heading, *s));
                }
            }
        }
        out
    }

    /// Of `read` (from [`variables_read`]), the variables no group declares.
    pub fn undeclared(&self, read: &[String]) -> Vec<String> {
        let declared: std::collections::HashSet<_> =
            self.settings().into_iter().map(|(_, s)| s.var).collect();
        read.iter()
            .filter(|v| !declared.contains(v.as_str()))
            .cloned()
            .collect()
    }

    /// The clap command (for `--help` and tests).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(self.name)
            .version(self.version)
            .about(self.about)
            .after_help(
                "Every option can be given as its XHUMA_* environment variable instead; a flag \
                 overrides the variable. A bad value exits 64 naming the variable.",
            );
        for (heading, s) in self.settings() {
            let help = if s.default.is_empty() {
                s.help.to_string()
            } else {
                format!("{} [default: {}]", s.help, s.default)
            };
            let mut arg = Arg::new(s.var)
                .long(s.flag())
                .env(s.var)
                .value_name("VALUE")
                .action(ArgAction::Set)
                .help(help)
                // The environment may hold secrets (URLs with passwords, keys): never echo it.
                .hide_env_values(true)
                .help_heading(heading);
            if let Some(alias) = s.alias {
                arg = arg.visible_alias(alias);
            }
            cmd = cmd.arg(arg);
        }
        for (name, help) in self.subcommands {
            cmd = cmd.subcommand(Command::new(*name).about(*help));
        }
        cmd
    }

    /// Parses `args` (the first is the program name) and the environment.
    pub fn try_parse_from<I, T>(&self, args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = self.command().try_get_matches_from(args)?;
        let mut values = HashMap::new();
        for (_, s) in self.settings() {
            if let Some(v) = matches.get_one::<String>(s.var) {
                values.insert(s.var, v.clone());
            }
        }
        Ok(Settings {
            values,
            subcommand: matches.subcommand_name().map(str::to_string),
        })
    }
}

/// Parses the process's arguments and environment; `Err` is the exit code (0 after `--help`
/// or `--version`, 64 after a usage error, with clap's message printed).
pub fn parse(cli: &Cli) -> Result<Settings, ExitCode> {
    cli.try_parse_from(std::env::args_os()).map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(EXIT_CONFIG)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// What the command line and the environment set.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    values: HashMap<&'static str, String>,
    subcommand: Option<String>,
}

// === impl Settings ===

impl Settings {
    /// A lookup for `Config::from_lookup`: a declared setting's flag or variable; a variable no
    /// group declares (tests make sure there is none) is still read from the environment.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |var| match self.values.get(var) {
            Some(v) => Some(v.clone()),
            None => crate::config::process_env(var),
        }
    }

    pub fn subcommand(&self) -> Option<&str> {
        self.subcommand.as_deref()
    }
}

/// The variables `read` asks for, in order, while it sees `values` (what a config needs to
/// build at all) and nothing else: what a config builder reads, so a test can prove that
/// `--help` lists all of them ([`Cli::undeclared`]).
pub fn variables_read(
    values: &[(&str, &str)],
    read: impl FnOnce(&dyn Fn(&str) -> Option<String>),
) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::new());
    read(&|var: &str| {
        seen.borrow_mut().push(var.to_string());
        values
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    });
    seen.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[Setting] = &[
        Setting::new("XHUMA_REDIS_URL", "1", "The first"),
        Setting::new("DEMO_SECRET", "", "A secret"),
    ];
    const B: &[Setting] = &[
        Setting::new("XHUMA_REDIS_URL", "1", "Listed again"),
        Setting::new("DEMO_STAGES", "both", "Stages").alias("stages"),
    ];
    const CLI: Cli = Cli {
        name: "xhuma-test",
        version: "0.0.0",
        about: "A test binary",
        groups: &[
            Group {
                heading: "First",
                settings: A,
            },
            Group {
                heading: "Second",
                settings: B,
            },
        ],
        subcommands: &[("migrate", "Only migrate")],
    };

    #[test]
    fn flags_are_named_after_their_variables_and_listed_once() {
        assert_eq!(A[0].flag(), "redis-url");
        assert_eq!(A[1].flag(), "demo-secret");
        let vars: Vec<_> = CLI.settings().iter().map(|(_, s)| s.var).collect();
        assert_eq!(vars, ["XHUMA_REDIS_URL", "DEMO_SECRET", "DEMO_STAGES"]);
        CLI.command().debug_assert();
    }

    #[test]
    fn a_flag_or_its_alias_reaches_the_lookup_and_subcommands_parse() {
        let s = CLI
            .try_parse_from(["xhuma-test", "--redis-url", "7", "--stages", "sds"])
            .unwrap();
        let lookup = s.lookup();
        assert_eq!(lookup("XHUMA_REDIS_URL").as_deref(), Some("7"));
        assert_eq!(lookup("DEMO_STAGES").as_deref(), Some("sds"));
        assert_eq!(s.subcommand(), None);
        let s = CLI.try_parse_from(["xhuma-test", "migrate"]).unwrap();
        assert_eq!(s.subcommand(), Some("migrate"));
    }

    #[test]
    fn help_lists_variables_and_defaults_and_unknown_flags_are_usage_errors() {
        let help = CLI.command().render_long_help().to_string();
        for needle in [
            "--redis-url",
            "XHUMA_REDIS_URL",
            "[default: 1]",
            "DEMO_SECRET",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
        let err = CLI
            .try_parse_from(["xhuma-test", "--no-such-flag"])
            .unwrap_err();
        assert!(err.use_stderr());
        let help = CLI.try_parse_from(["xhuma-test", "--help"]).unwrap_err();
        assert!(!help.use_stderr());
    }

    #[test]
    fn variables_read_records_what_a_builder_asks_for() {
        let read = variables_read(&[("XHUMA_REDIS_URL", "7")], |lookup| {
            assert_eq!(lookup("XHUMA_REDIS_URL").as_deref(), Some("7"));
            let _ = lookup("DEMO_NEW");
        });
        assert_eq!(read, ["XHUMA_REDIS_URL", "DEMO_NEW"]);
        assert_eq!(CLI.undeclared(&read), ["DEMO_NEW"]);
    }
}
