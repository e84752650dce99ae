//! Migrations: applied once even by consumers starting together; the table is append-only.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use xhuma_audit::migrate::{MIGRATIONS, MigrateError, Mode};
use xhuma_audit::store::{Store, StoreError};
use xhuma_common::audit::{AuditKind, AuditOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_rows_cannot_be_edited() {
    let (_, schema) = support::unique("migr");
    let url = support::database_url();
    let (a, b, c) = tokio::join!(
        Store::open(&url, &schema, Mode::Apply),
        Store::open(&url, &schema, Mode::Apply),
        Store::open(&url, &schema, Mode::Apply)
    );
    let store = a.unwrap();
    b.unwrap();
    c.unwrap();
    // And again, as at a restart; and as a role that may only check.
    Store::open(&url, &schema, Mode::Apply).await.unwrap();
    Store::open(&url, &schema, Mode::Verify).await.unwrap();
    let (_, fresh) = support::unique("migr-fresh");
    let pending = Store::open(&url, &fresh, Mode::Verify).await;
    assert!(matches!(
        pending,
        Err(StoreError::Migrate(MigrateError::Pending { version: 1 }))
    ));

    let db = support::db_client().await;
    let versions: Vec<i32> = db
        .query(
            &format!("SELECT version FROM {schema}.schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);

    let event = support::event(AuditKind::Iti47, AuditOutcome::NotFound, "corr-m");
    assert_eq!(
        store.insert(std::slice::from_ref(&event)).await.unwrap(),
        vec![event.id]
    );
    store.ping().await.unwrap();
    let update = db
        .execute(
            &format!("UPDATE {schema}.audit_event SET outcome = 'success'"),
            &[],
        )
        .await;
    assert!(update.is_err());
    let delete = db
        .execute(&format!("DELETE FROM {schema}.audit_event"), &[])
        .await;
    assert!(delete.is_err());

    // A migration edited after it was applied is refused at start.
    db.execute(
        &format!("UPDATE {schema}.schema_migrations SET checksum = 'edited'"),
        &[],
    )
    .await
    .unwrap();
    let refused = Store::open(&url, &schema, Mode::Apply).await;
    assert!(refused.is_err());

    db.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
