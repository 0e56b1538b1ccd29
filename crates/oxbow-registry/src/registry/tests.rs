use std::sync::Arc;

use super::*;
use crate::log::MemoryLog;

const V1: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long","default":0}]}"#;
const BAD: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"branch","type":"string"}]}"#;

fn req(schema: &str) -> SchemaRequest {
    SchemaRequest {
        schema: schema.into(),
        ..SchemaRequest::default()
    }
}

#[tokio::test]
async fn given_registry_when_registering_evolving_and_reopening_should_keep_ids_and_refuse_incompatible(
) {
    let log = Arc::new(MemoryLog::default());
    let r = Registry::open(log.clone()).unwrap();
    let a = r.register("pay-value", &req(V1), false).await.unwrap();
    assert_eq!((a.id, a.version, a.created), (1, 1, true));
    // Idempotent; the same schema under another subject keeps its id.
    assert_eq!(
        r.register("pay-value", &req(V1), false).await.unwrap().id,
        1
    );
    let other = r.register("other-value", &req(V1), false).await.unwrap();
    assert_eq!((other.id, other.version), (1, 1));
    assert_eq!(
        r.register("pay-value", &req(V2), false).await.unwrap().id,
        2
    );
    let err = r.register("pay-value", &req(BAD), false).await.unwrap_err();
    assert_eq!(err.code(), 409);
    assert!(
        err.to_string()
            .contains("field 'branch' added without a default"),
        "{err}"
    );

    let again = Registry::open(log).unwrap();
    assert_eq!(
        again.versions("pay-value", Deleted::Exclude).unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        again
            .version("pay-value", VersionSpec::Latest, false)
            .unwrap()
            .id,
        2
    );
    assert_eq!(again.schema_by_id(1).unwrap().0.schema, V1);
}

#[tokio::test]
async fn given_versions_when_deleting_should_soft_then_hard_delete_and_guard_references() {
    let r = Registry::open(Arc::new(MemoryLog::default())).unwrap();
    let address = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
    r.register("address", &req(address), false).await.unwrap();
    let customer = SchemaRequest {
        schema: r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"Address"}]}"#.into(),
        references: Some(vec![crate::records::Reference {
            name: "shop.Address".into(),
            subject: "address".into(),
            version: 1,
        }]),
        ..SchemaRequest::default()
    };
    let c = r.register("customer", &customer, false).await.unwrap();
    assert_eq!(
        r.referenced_by("address", VersionSpec::Number(1)).unwrap(),
        vec![c.id]
    );
    assert_eq!(
        r.delete_subject("address", false).await.unwrap_err().code(),
        42206
    );
    assert_eq!(
        r.delete_subject("customer", true).await.unwrap_err().code(),
        40405
    );
    assert_eq!(r.delete_subject("customer", false).await.unwrap(), vec![1]);
    assert_eq!(
        r.delete_subject("customer", false)
            .await
            .unwrap_err()
            .code(),
        40404
    );
    // Soft-deleted: still readable by id, not listed.
    assert!(r.schema_by_id(c.id).is_ok());
    assert!(r
        .subjects("", Deleted::Exclude)
        .iter()
        .all(|s| s != "customer"));
    assert_eq!(r.delete_subject("customer", true).await.unwrap(), vec![1]);
    assert_eq!(r.schema_by_id(c.id).unwrap_err().code(), 40403);
    // Now the reference is gone, the address may go.
    assert_eq!(
        r.delete_version("address", VersionSpec::Latest, false)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn given_modes_when_writing_should_refuse_readonly_and_import_with_given_ids() {
    let r = Registry::open(Arc::new(MemoryLog::default())).unwrap();
    r.put_mode(Some("ro"), "READONLY", false).await.unwrap();
    assert_eq!(
        r.register("ro", &req(V1), false).await.unwrap_err().code(),
        42205
    );
    r.register("live", &req(V1), false).await.unwrap();
    assert_eq!(
        r.put_mode(None, "IMPORT", false).await.unwrap_err().code(),
        42205
    );
    r.put_mode(Some("imported"), "IMPORT", false).await.unwrap();
    let imported = SchemaRequest {
        id: Some(100),
        version: Some(7),
        ..req(V2)
    };
    let got = r.register("imported", &imported, false).await.unwrap();
    assert_eq!((got.id, got.version), (100, 7));
    assert_eq!(
        r.register("imported", &req(V2), false)
            .await
            .unwrap_err()
            .code(),
        42205
    );
    // The next id allocated outside import is above the imported one.
    r.delete_mode(Some("imported")).await.unwrap();
    let next = r.register("fresh", &req(BAD), false).await.unwrap();
    assert_eq!(next.id, 101);
    assert_eq!(
        r.put_mode(None, "BOGUS", false).await.unwrap_err().code(),
        42204
    );
}

#[tokio::test]
async fn given_configs_when_setting_levels_should_apply_the_most_specific() {
    let r = Registry::open(Arc::new(MemoryLog::default())).unwrap();
    assert_eq!(
        r.get_config(None, false)
            .unwrap()
            .compatibility_level
            .as_deref(),
        Some("BACKWARD")
    );
    assert_eq!(r.get_config(Some("s"), false).unwrap_err().code(), 40408);
    r.register("s", &req(V1), false).await.unwrap();
    r.put_config(
        Some("s"),
        ConfigUpdate {
            compatibility: Some("none".into()),
            ..ConfigUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.effective_level("s"), Level::None);
    r.register("s", &req(BAD), false).await.unwrap();
    let e = r
        .put_config(
            None,
            ConfigUpdate {
                compatibility: Some("SIDEWAYS".into()),
                ..ConfigUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), 42203);
    assert_eq!(
        r.delete_config(Some("nope")).await.unwrap_err().code(),
        40401
    );
    let (ok, msgs) = r.check_compatibility("s", None, &req(V2), false).unwrap();
    assert!(ok && msgs.is_empty());
}
