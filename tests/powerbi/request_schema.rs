//! Serialized request bodies (and the response fixtures other tests use) against the published
//! Power BI schema, made strict so an unknown or misspelled field fails. Negative controls prove
//! the validator does reject what it should, so these tests cannot pass vacuously.

use crate::support::ids::{DATASET, REPORT, WORKSPACE};
use crate::support::schema::*;
use powerbi_embed::ReportId;
use powerbi_embed::{
    DatasourceIdentity, DatasourceSelector, EffectiveIdentity, GenerateTokenRequest, GenerateTokenRequestBuilder,
    GenerateTokenRequestV2, TokenKind, XmlaPermissions,
};
use serde_json::{json, Value};

const REPORT_2: ReportId = ReportId::from_u128(0xa1b2c3d4_e5f6_4a7b_8c9d_0e1f2a3b4c5d);

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn v1<K: TokenKind>(request: &GenerateTokenRequest<K>) -> Value {
    json_of(request.expose_json())
}

fn v2(request: &GenerateTokenRequestV2) -> Value {
    json_of(request.expose_json())
}

// ---- the validator itself ----------------------------------------------------------------

#[test]
fn every_definition_with_properties_is_strict() {
    let strict = strict_definitions();
    assert_eq!(strict.len(), published_definitions().len());
    let with_properties: Vec<_> = strict.iter().filter(|(_, d)| d.get("properties").is_some()).collect();
    assert!(with_properties.len() >= 20, "only {} definitions have properties", with_properties.len());
    for (name, definition) in with_properties {
        assert_eq!(definition["additionalProperties"], json!(false), "{name} is not strict");
        assert_eq!(definition["type"], json!("object"), "{name} does not insist on an object");
    }
    // The allOf compositions were flattened, keeping every part's fields and requirements.
    let report = &strict["Report"];
    assert!(report.get("allOf").is_none());
    for field in ["id", "name", "embedUrl", "webUrl", "datasetId", "reportType", "users", "subscriptions"] {
        assert!(report["properties"].get(field).is_some(), "Report lost {field}");
    }
    assert_eq!(report["required"], json!(["id"]));
}

/// Each pair is (a valid instance, the same instance with one mistake). The valid one must pass,
/// so each rejection is caused by exactly the mistake.
#[test]
fn negative_controls_the_validator_rejects_misspellings_nulls_wrong_enums_and_types() {
    let cases: &[(&str, &str, Value, Value)] = &[
        (
            "misspelled top-level field",
            "GenerateTokenRequest",
            json!({"accessLevel": "View"}),
            json!({"accesLevel": "View"}),
        ),
        (
            "misspelled nested field",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "identities": [{"username": "u"}]}),
            json!({"accessLevel": "View", "identities": [{"username": "u", "userName": "u"}]}),
        ),
        (
            "misspelled V2 report field",
            "GenerateTokenRequestV2",
            json!({"reports": [{"id": REPORT, "allowEdit": true}]}),
            json!({"reports": [{"id": REPORT, "allowEdits": true}]}),
        ),
        (
            "snake_case instead of camelCase",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "lifetimeInMinutes": 5}),
            json!({"accessLevel": "View", "lifetime_in_minutes": 5}),
        ),
        (
            "null optional field",
            "GenerateTokenRequest",
            json!({"accessLevel": "Create", "datasetId": DATASET}),
            json!({"accessLevel": "Create", "datasetId": null}),
        ),
        (
            "null lifetime",
            "GenerateTokenRequestV2",
            json!({"datasets": [{"id": DATASET}]}),
            json!({"datasets": [{"id": DATASET}], "lifetimeInMinutes": null}),
        ),
        (
            "null list",
            "GenerateTokenRequest",
            json!({"accessLevel": "View"}),
            json!({"accessLevel": "View", "identities": null}),
        ),
        ("wrong access level", "GenerateTokenRequest", json!({"accessLevel": "Edit"}), json!({"accessLevel": "Admin"})),
        (
            "access level in lower case",
            "GenerateTokenRequest",
            json!({"accessLevel": "View"}),
            json!({"accessLevel": "view"}),
        ),
        (
            "wrong XMLA permission",
            "GenerateTokenRequestV2",
            json!({"datasets": [{"id": DATASET, "xmlaPermissions": "ReadOnly"}]}),
            json!({"datasets": [{"id": DATASET, "xmlaPermissions": "ReadWrite"}]}),
        ),
        (
            "number as a string",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "lifetimeInMinutes": 30}),
            json!({"accessLevel": "View", "lifetimeInMinutes": "30"}),
        ),
        (
            "fractional lifetime",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "lifetimeInMinutes": 30}),
            json!({"accessLevel": "View", "lifetimeInMinutes": 30.5}),
        ),
        (
            "non-uuid report id",
            "GenerateTokenRequestV2",
            json!({"reports": [{"id": REPORT}]}),
            json!({"reports": [{"id": "sales"}]}),
        ),
        (
            "non-uuid workspace id",
            "GenerateTokenRequestV2",
            json!({"reports": [{"id": REPORT}], "targetWorkspaces": [{"id": WORKSPACE}]}),
            json!({"reports": [{"id": REPORT}], "targetWorkspaces": [{"id": "me"}]}),
        ),
        (
            "identity without username",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "identities": [{"username": "u", "roles": ["r"]}]}),
            json!({"accessLevel": "View", "identities": [{"roles": ["r"]}]}),
        ),
        (
            "identity blob as a bare string",
            "GenerateTokenRequest",
            json!({"accessLevel": "View", "identities": [{"username": "u", "identityBlob": {"value": "b"}}]}),
            json!({"accessLevel": "View", "identities": [{"username": "u", "identityBlob": "b"}]}),
        ),
        (
            "datasource without connection details",
            "GenerateTokenRequestV2",
            json!({"datasets": [{"id": DATASET}], "datasourceIdentities": [{"identityBlob": "b", "datasources": [{"datasourceType": "Sql", "connectionDetails": {}}]}]}),
            json!({"datasets": [{"id": DATASET}], "datasourceIdentities": [{"identityBlob": "b", "datasources": [{"datasourceType": "Sql"}]}]}),
        ),
        (
            "role as a number",
            "EffectiveIdentity",
            json!({"username": "u", "roles": ["1"]}),
            json!({"username": "u", "roles": [1]}),
        ),
        (
            "embed token with a non-uuid id",
            "EmbedToken",
            embed_token_fixture("t", "2026-11-23T13:00:00Z"),
            json!({"token": "t", "tokenId": "1", "expiration": "2026-11-23T13:00:00Z"}),
        ),
        (
            "embed token with a non-date expiration",
            "EmbedToken",
            embed_token_fixture("t", "2026-11-23T13:00:00Z"),
            embed_token_fixture("t", "tomorrow"),
        ),
        (
            "report with an unknown field",
            "Report",
            report_fixture(),
            merged(report_fixture(), json!({"embedURL": "x"})),
        ),
        (
            "report type outside the enum",
            "Report",
            report_fixture(),
            merged(report_fixture(), json!({"reportType": "Excel"})),
        ),
        (
            "dataset with a camelCase field the API spells in PascalCase",
            "Dataset",
            dataset_fixture(),
            merged(dataset_fixture(), json!({"qnaEmbedURL": "x"})),
        ),
    ];
    for (what, definition, valid, mutated) in cases {
        assert_strictly_valid(definition, valid);
        let violations = strict_violations(definition, mutated);
        assert!(!violations.is_empty(), "{what}: the strict {definition} schema accepted {mutated}");
    }
}

#[test]
fn the_published_schema_alone_would_miss_a_misspelled_field() {
    // Why the strict variant exists: as published, unknown fields are allowed.
    let misspelled = json!({"accessLevel": "View", "lifetimeInMinutes": 5, "allowSaveAS": true});
    assert!(lenient("GenerateTokenRequest").is_valid(&misspelled));
    assert!(!strict("GenerateTokenRequest").is_valid(&misspelled));
}

fn merged(mut base: Value, extra: Value) -> Value {
    let (Value::Object(base_fields), Value::Object(extra_fields)) = (&mut base, extra) else { panic!("objects only") };
    base_fields.extend(extra_fields);
    base
}

// ---- request bodies ----------------------------------------------------------------------

fn full_identity() -> EffectiveIdentity {
    EffectiveIdentity::new("customer-42@contoso.com")
        .roles(["Customer", "EU", "Sales Manager (EU)"])
        .datasets([DATASET])
        .reports([REPORT])
        .custom_data("tier=gold")
        .identity_blob("sql-access-token")
        .auditable_context("portal-user-42")
}

fn identity_sets() -> Vec<Vec<EffectiveIdentity>> {
    vec![
        vec![],
        vec![EffectiveIdentity::new("u@contoso.com").reports([REPORT])],
        vec![EffectiveIdentity::new("u@contoso.com").role("Viewer").datasets([DATASET])],
        vec![
            full_identity(),
            EffectiveIdentity::new("é".repeat(256)).roles((0..50).map(|i| format!("r{i}"))).datasets([DATASET]),
        ],
        vec![EffectiveIdentity::new("DOMAIN\\user").custom_data("").auditable_context("").datasets([DATASET])],
    ]
}

/// The bodies of `builder` with every identity set and lifetime.
fn bodies_of<K: TokenKind>(builder: GenerateTokenRequestBuilder<K>) -> Vec<Value> {
    let mut bodies = Vec::new();
    for identities in identity_sets() {
        for lifetime in [None, Some(1), Some(60), Some(i64::from(u32::MAX))] {
            let mut builder = builder.clone().identities(identities.clone());
            if let Some(minutes) = lifetime {
                builder = builder.lifetime_minutes(minutes);
            }
            bodies.push(v1(&builder.build().expect("a valid combination")));
        }
    }
    bodies
}

/// Every valid combination of kind, access level, `allowSaveAs`, identities and lifetime, as
/// the bodies are sent.
fn all_v1_bodies() -> Vec<Value> {
    let mut bodies = Vec::new();
    for save_as in [None, Some(false), Some(true)] {
        for report in [GenerateTokenRequest::report_view(), GenerateTokenRequest::report_edit()] {
            bodies.extend(bodies_of(match save_as {
                Some(allow) => report.allow_save_as(allow),
                None => report,
            }));
        }
    }
    // Report creation: the dataset's handle adds `datasetId` when it sends the body (the exact
    // body on the wire is checked in tests/powerbi_client.rs).
    for mut body in bodies_of(GenerateTokenRequest::report_creation()) {
        body["datasetId"] = json!(DATASET);
        bodies.push(body);
    }
    bodies.extend(bodies_of(GenerateTokenRequest::dashboard()));
    bodies.extend(bodies_of(GenerateTokenRequest::tile()));
    bodies.extend(bodies_of(GenerateTokenRequest::qna()));
    bodies
}

#[test]
fn every_v1_request_body_is_a_strictly_valid_generate_token_request() {
    let bodies = all_v1_bodies();
    assert_eq!(bodies.len(), 10 * 5 * 4);
    for body in &bodies {
        assert_strictly_valid("GenerateTokenRequest", body);
    }
}

fn v2_builders() -> Vec<powerbi_embed::GenerateTokenRequestV2Builder> {
    let datasource = DatasourceIdentity::new("sql-access-token")
        .datasource(DatasourceSelector::new("Sql").server("contoso.database.windows.net").database("sales"))
        .datasource(DatasourceSelector::new("Web").url("https://contoso.com/feed").path("/feed"))
        .datasource(DatasourceSelector::new("File"));
    vec![
        GenerateTokenRequestV2::builder().report(REPORT),
        GenerateTokenRequestV2::builder().dataset(DATASET),
        GenerateTokenRequestV2::builder()
            .report_with_edit(REPORT, true)
            .report_with_edit(REPORT_2, false)
            .dataset(DATASET),
        GenerateTokenRequestV2::builder()
            .dataset_with_xmla(DATASET, XmlaPermissions::ReadOnly)
            .dataset_with_xmla("8E8B1C3A-0000-4000-8000-000000000001".parse().unwrap(), XmlaPermissions::Off),
        GenerateTokenRequestV2::builder()
            .report(REPORT)
            .dataset(DATASET)
            .target_workspace(WORKSPACE)
            .target_workspace("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}".parse().unwrap()),
        GenerateTokenRequestV2::builder()
            .dataset(DATASET)
            .datasource_identity(datasource.clone())
            .datasource_identity(datasource),
    ]
}

#[test]
fn every_v2_request_body_is_a_strictly_valid_generate_token_request_v2() {
    let mut checked = 0;
    for builder in v2_builders() {
        for identities in identity_sets() {
            for lifetime in [None, Some(1), Some(45)] {
                let mut builder = builder.clone().identities(identities.clone());
                if let Some(minutes) = lifetime {
                    builder = builder.lifetime_minutes(minutes);
                }
                let request = builder.build().expect("a valid combination");
                assert_strictly_valid("GenerateTokenRequestV2", &v2(&request));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 5 * 3);
}

#[test]
fn a_v2_body_is_not_a_v1_body() {
    // The two request shapes are told apart by the strict schema: a V2 body sent to a V1
    // endpoint (or the reverse) would be caught here.
    let v2_body = v2(&GenerateTokenRequestV2::builder().report(REPORT).build().unwrap());
    assert!(!strict("GenerateTokenRequest").is_valid(&v2_body));
    let v1_body = v1(&GenerateTokenRequest::report_view().build().unwrap());
    assert!(!strict("GenerateTokenRequestV2").is_valid(&v1_body));
}

// ---- responses ---------------------------------------------------------------------------

#[test]
fn response_fixtures_follow_the_published_definitions() {
    assert_strictly_valid("EmbedToken", &embed_token_fixture("H4sIAAAAAAAEAB2Wxa6E", "2026-11-23T13:00:00Z"));
    assert_strictly_valid("EmbedToken", &embed_token_fixture("t", "2026-11-23T13:00:00.1234567+01:00"));
    assert_strictly_valid("Report", &report_fixture());
    assert_strictly_valid("Dashboard", &dashboard_fixture());
    assert_strictly_valid("Tile", &tile_fixture());
    assert_strictly_valid("Dataset", &dataset_fixture());
    // A missing required field is caught in each.
    for (definition, fixture) in [
        ("EmbedToken", embed_token_fixture("t", "2026-11-23T13:00:00Z")),
        ("Report", report_fixture()),
        ("Dashboard", dashboard_fixture()),
        ("Tile", tile_fixture()),
        ("Dataset", dataset_fixture()),
    ] {
        let mut without_id = fixture;
        let key = if definition == "EmbedToken" { "tokenId" } else { "id" };
        without_id.as_object_mut().unwrap().remove(key);
        assert!(!strict(definition).is_valid(&without_id), "{definition} without {key} passed");
    }
}
