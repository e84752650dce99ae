//! Schema migrations, embedded in the binary and applied at start.
//!
//! An ordered list of SQL files from `migrations/`, recorded in `schema_migrations` (version,
//! name, checksum, applied_at) in the audit schema. All pending migrations run in one
//! transaction under an advisory lock, so two consumers starting together apply them once and a
//! failed migration leaves nothing half-done. A recorded migration whose SQL has since changed
//! is refused: migrations are append-only, fix forward with a new one.
//!
//! Why not a crate (refinery, sqlx-migrate): one table and a handful of files do not need a
//! second database layer, and each of those crates adds minutes to a cold build on two cores.

use tokio_postgres::Client;

/// One migration: version (ascending, never reused), name, SQL.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit_event",
        sql: include_str!("../migrations/0001_audit_event.sql"),
    },
    Migration {
        version: 2,
        name: "request_context",
        sql: include_str!("../migrations/0002_request_context.sql"),
    },
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({name}) failed")]
    Apply {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("migration {version} was changed after it was applied (checksum differs)")]
    Changed { version: i32 },
    #[error("the database has migration {version}, which this binary does not know")]
    Unknown { version: i32 },
    #[error(
        "migration {version} is not applied yet (run `xhuma-audit migrate` as the schema owner)"
    )]
    Pending { version: i32 },
    #[error("cannot read or lock the migration table")]
    Table(#[source] tokio_postgres::Error),
}

/// What the service does with migrations at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply pending migrations (needs a role that may create schemas and tables).
    Apply,
    /// Only check every migration is applied (an `INSERT, SELECT` role; migrations run apart
    /// with `xhuma-audit migrate` as the owner).
    Verify,
}

/// Checks that `schema` has exactly the migrations this binary knows, without changing it.
pub async fn verify(client: &Client, schema: &str) -> Result<(), MigrateError> {
    let rows = client
        .query(
            &format!("SELECT version, checksum FROM {schema}.schema_migrations"),
            &[],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // No schema or no migration table yet: nothing is applied.
        Err(error)
            if error
                .code()
                .is_some_and(|c| matches!(c.code(), "42P01" | "3F000")) =>
        {
            Vec::new()
        }
        Err(error) => return Err(MigrateError::Table(error)),
    };
    let applied = recorded(rows)?;
    match MIGRATIONS.iter().find(|m| !applied.contains(&m.version)) {
        Some(m) => Err(MigrateError::Pending { version: m.version }),
        None => Ok(()),
    }
}

/// The recorded versions, checked against the known migrations.
fn recorded(rows: Vec<tokio_postgres::Row>) -> Result<Vec<i32>, MigrateError> {
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i32 = row.get(0);
        let sum: String = row.get(1);
        match MIGRATIONS.iter().find(|m| m.version == version) {
            Some(m) if sum == checksum(m.sql) => applied.push(version),
            Some(_) => return Err(MigrateError::Changed { version }),
            None => return Err(MigrateError::Unknown { version }),
        }
    }
    Ok(applied)
}

/// Brings `schema` up to date; returns the versions applied now.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await.map_err(MigrateError::Table)?;
    // Serialise concurrent starters on this schema; released at commit or rollback.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('xhuma-audit-migrate:' || $1))",
        &[&schema],
    )
    .await
    .map_err(MigrateError::Table)?;
    // `schema` is checked to be a plain identifier by the config.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             checksum   text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(MigrateError::Table)?;
    let rows = tx
        .query("SELECT version, checksum FROM schema_migrations", &[])
        .await
        .map_err(MigrateError::Table)?;
    let applied_before = recorded(rows)?;
    let mut applied_now = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied_before.contains(&m.version))
    {
        let apply = |source| MigrateError::Apply {
            version: m.version,
            name: m.name,
            source,
        };
        tx.batch_execute(m.sql).await.map_err(apply)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .await
        .map_err(apply)?;
        applied_now.push(m.version);
    }
    tx.commit().await.map_err(MigrateError::Table)?;
    Ok(applied_now)
}

/// FNV-1a 64 of the SQL text: enough to notice an edited migration (not a security check).
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_and_checksums_differ() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum(""), "cbf29ce484222325");
    }
}
