//! The `GenerateToken` request builders: every documented rule is refused with
//! `Error::InvalidInput` naming the exact field, and every accepted request serializes to exactly
//! the expected JSON (unset fields omitted, never `null`), without leaking identity blobs
//! through `Debug`.

use std::fmt::Debug;

use crate::support::ids::{DATASET, REPORT, WORKSPACE};
use powerbi_embed::{
    AccessLevel, DatasetId, DatasourceIdentity, DatasourceSelector, EffectiveIdentity, Error, ForReport,
    GenerateTokenRequest, GenerateTokenRequestV2, ReportId, Result, TokenKind, XmlaPermissions,
};
use serde_json::{json, Value};

const DATASET_2: DatasetId = DatasetId::from_u128(0x0d4a3c2b_1e0f_4a9b_8c7d_6e5f4a3b2c1d);
const REPORT_2: ReportId = ReportId::from_u128(0xa1b2c3d4_e5f6_4a7b_8c9d_0e1f2a3b4c5d);
/// An Azure SQL access token stand-in: it must reach the body and nothing else.
const BLOB: &str = "eyJhbGciOi.SQL-ACCESS-TOKEN.c2lnbmF0dXJl";

/// The field of the `InvalidInput` error `result` must be.
#[track_caller]
fn invalid_field<T: Debug>(result: Result<T>) -> String {
    match result {
        Err(Error::InvalidInput { field, reason }) => {
            assert!(!reason.is_empty(), "InvalidInput for {field} without a reason");
            field.into_owned()
        }
        other => panic!("expected Error::InvalidInput, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid<T: Debug>(result: Result<T>, field: &str) {
    assert_eq!(invalid_field(result), field);
}

/// The body of a V1 request as JSON, checking it never holds a `null`.
#[track_caller]
fn body<K: TokenKind>(request: &GenerateTokenRequest<K>) -> Value {
    parse_body(request.expose_json())
}

#[track_caller]
fn body_v2(request: &GenerateTokenRequestV2) -> Value {
    parse_body(request.expose_json())
}

#[track_caller]
fn parse_body(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
    assert!(!contains_null(&value), "optional fields must be omitted, not null: {text}");
    value
}

fn contains_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(contains_null),
        Value::Object(fields) => fields.values().any(contains_null),
        _ => false,
    }
}

/// An identity for `name` on [`DATASET`]: valid unless the test breaks a rule on purpose.
fn user(name: &str) -> EffectiveIdentity {
    EffectiveIdentity::new(name).datasets([DATASET])
}

/// An identity with no dataset or report yet (alone, it breaks the dataset rule).
fn bare(name: &str) -> EffectiveIdentity {
    EffectiveIdentity::new(name)
}

fn v1_with_identity(identity: EffectiveIdentity) -> Result<GenerateTokenRequest<ForReport>> {
    GenerateTokenRequest::report_view().identity(identity).build()
}

fn v2_with_identity(identity: EffectiveIdentity) -> Result<GenerateTokenRequestV2> {
    GenerateTokenRequestV2::builder().dataset(DATASET).identity(identity).build()
}

fn sql_source() -> DatasourceSelector {
    DatasourceSelector::new("Sql").server("contoso.database.windows.net").database("sales")
}

// ---- kind and access level --------------------------------------------------------------

// Which kind of item a request is for, and the access level, are fixed by the constructor: a
// request for one kind cannot be sent to another, an access level cannot be changed, and
// `allowSaveAs` exists only for reports. Those mistakes do not compile (the `compile_fail`
// examples on `GenerateTokenRequest` and `TokenKind`), so only the levels are checked here.

#[test]
fn each_constructor_fixes_its_access_level() {
    assert_eq!(GenerateTokenRequest::report_view().build().unwrap().access_level(), AccessLevel::View);
    assert_eq!(GenerateTokenRequest::report_edit().build().unwrap().access_level(), AccessLevel::Edit);
    assert_eq!(GenerateTokenRequest::report_creation().build().unwrap().access_level(), AccessLevel::Create);
    assert_eq!(GenerateTokenRequest::dashboard().build().unwrap().access_level(), AccessLevel::View);
    assert_eq!(GenerateTokenRequest::tile().build().unwrap().access_level(), AccessLevel::View);
    assert_eq!(GenerateTokenRequest::qna().build().unwrap().access_level(), AccessLevel::View);
}

#[test]
fn the_debug_form_names_the_kind() {
    let request = GenerateTokenRequest::qna().build().unwrap();
    assert!(format!("{request:?}").contains(r#"kind: "Q&A""#), "{request:?}");
    let builder = GenerateTokenRequest::report_creation();
    assert!(format!("{builder:?}").contains(r#"kind: "report creation""#), "{builder:?}");
}

// ---- lifetime ----------------------------------------------------------------------------

#[test]
fn zero_or_negative_lifetime_names_lifetime_in_minutes() {
    for minutes in [0, -5, i64::MIN] {
        assert_invalid(GenerateTokenRequest::report_view().lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        assert_invalid(
            GenerateTokenRequestV2::builder().report(REPORT).lifetime_minutes(minutes).build(),
            "lifetimeInMinutes",
        );
    }
}

#[test]
fn lifetime_beyond_the_wire_integer_names_lifetime_in_minutes() {
    let too_large = i64::from(u32::MAX) + 1;
    assert_invalid(GenerateTokenRequest::report_view().lifetime_minutes(too_large).build(), "lifetimeInMinutes");
    assert_invalid(
        GenerateTokenRequestV2::builder().report(REPORT).lifetime_minutes(i64::MAX).build(),
        "lifetimeInMinutes",
    );
}

#[test]
fn one_minute_lifetime_is_accepted() {
    let request = GenerateTokenRequest::report_view().lifetime_minutes(1).build().unwrap();
    assert_eq!(request.lifetime_minutes(), Some(1));
    assert_eq!(body(&request), json!({"accessLevel": "View", "lifetimeInMinutes": 1}));
}

// ---- effective identity: username --------------------------------------------------------

#[test]
fn empty_username_names_the_identity_username() {
    assert_invalid(v1_with_identity(user("")), "identities[0].username");
    assert_invalid(v2_with_identity(user("")), "identities[0].username");
}

#[test]
fn username_of_257_characters_is_refused_and_256_accepted_counting_characters() {
    // 'é' is two bytes: 256 of them are 512 bytes, still within the limit of 256 characters.
    let at_limit = "é".repeat(256);
    assert_eq!(at_limit.len(), 512);
    let request = v1_with_identity(user(&at_limit)).unwrap();
    assert_eq!(body(&request)["identities"][0]["username"], json!(at_limit));
    assert!(v2_with_identity(user(&at_limit)).is_ok());

    let over = "é".repeat(257);
    assert_invalid(v1_with_identity(user(&over)), "identities[0].username");
    assert_invalid(v2_with_identity(user(&over)), "identities[0].username");
    assert_invalid(v1_with_identity(user(&"a".repeat(257))), "identities[0].username");
    assert!(v1_with_identity(user(&"a".repeat(256))).is_ok());
}

#[test]
fn username_with_a_space_or_tab_is_refused() {
    for name in ["jane doe@contoso.com", "jane@contoso.com ", " jane", "jane\tdoe", "jane\ndoe"] {
        assert_invalid(v1_with_identity(user(name)), "identities[0].username");
        assert_invalid(v2_with_identity(user(name)), "identities[0].username");
    }
}

#[test]
fn the_second_identity_is_named_by_its_index() {
    let result = GenerateTokenRequest::report_view().identity(user("ok@contoso.com")).identity(user("not ok")).build();
    assert_invalid(result, "identities[1].username");
    let result = GenerateTokenRequestV2::builder()
        .report(REPORT)
        .identities([user("a@contoso.com"), user("b@contoso.com").role("x,y")])
        .build();
    assert_invalid(result, "identities[1].roles[0]");
}

// ---- effective identity: roles -----------------------------------------------------------

#[test]
fn fifty_one_roles_are_refused_and_fifty_accepted() {
    let roles = |n: usize| (0..n).map(|i| format!("role-{i}")).collect::<Vec<_>>();
    let request = v1_with_identity(user("u@contoso.com").roles(roles(50))).unwrap();
    assert_eq!(body(&request)["identities"][0]["roles"].as_array().map(Vec::len), Some(50));
    assert_invalid(v1_with_identity(user("u@contoso.com").roles(roles(51))), "identities[0].roles");
    assert_invalid(v2_with_identity(user("u@contoso.com").roles(roles(51))), "identities[0].roles");
}

#[test]
fn role_of_51_characters_is_refused_and_50_accepted_counting_characters() {
    let at_limit = "ü".repeat(50);
    let request = v1_with_identity(user("u").roles(["first", &at_limit])).unwrap();
    assert_eq!(body(&request)["identities"][0]["roles"], json!(["first", at_limit]));
    let over = "r".repeat(51);
    assert_invalid(v1_with_identity(user("u").roles(["first", "second", &over])), "identities[0].roles[2]");
    assert_invalid(v2_with_identity(user("u").role(over)), "identities[0].roles[0]");
}

#[test]
fn role_with_a_comma_is_refused() {
    assert_invalid(v1_with_identity(user("u").roles(["Viewer", "EU,US"])), "identities[0].roles[1]");
    assert_invalid(v1_with_identity(user("u").role(",")), "identities[0].roles[0]");
}

#[test]
fn empty_role_is_refused() {
    assert_invalid(v1_with_identity(user("u").roles(["Viewer", ""])), "identities[0].roles[1]");
    assert_invalid(v2_with_identity(user("u").role("")), "identities[0].roles[0]");
}

#[test]
fn role_of_only_whitespace_counts_as_empty() {
    assert_invalid(v1_with_identity(user("u").roles(["Viewer", " \t"])), "identities[0].roles[1]");
}

#[test]
fn role_with_inner_spaces_is_accepted() {
    // Only usernames exclude spaces; a role may contain any character but ','.
    let request = v1_with_identity(user("u").role("Sales Manager (EU)")).unwrap();
    assert_eq!(body(&request)["identities"][0]["roles"], json!(["Sales Manager (EU)"]));
}

// ---- effective identity: ids and blob ----------------------------------------------------

#[test]
fn empty_identity_blob_is_refused() {
    assert_invalid(v1_with_identity(user("u").identity_blob("")), "identities[0].identityBlob");
}

#[test]
fn identity_ids_are_sent_in_the_canonical_form_like_every_other_id() {
    // Parsed with braces, upper case and surrounding spaces; sent as Power BI writes ids.
    let dataset: DatasetId = " {CFAFBEB1-8037-4D0C-896E-A46FB27FF229} ".parse().unwrap();
    let report: ReportId = "5B218778-E7A5-4D73-8187-F10824047715".parse().unwrap();
    let identity = bare("u").datasets([dataset]).reports([report]);
    let request = v1_with_identity(identity.clone()).unwrap();
    let expected = json!({"username": "u", "datasets": ["cfafbeb1-8037-4d0c-896e-a46fb27ff229"],
        "reports": ["5b218778-e7a5-4d73-8187-f10824047715"]});
    assert_eq!(body(&request)["identities"][0], expected);
    let request = GenerateTokenRequestV2::builder().dataset(dataset).identity(identity).build().unwrap();
    let body = body_v2(&request);
    assert_eq!(body["datasets"], json!([{"id": "cfafbeb1-8037-4d0c-896e-a46fb27ff229"}]));
    assert_eq!(body["identities"][0]["datasets"], json!(["cfafbeb1-8037-4d0c-896e-a46fb27ff229"]));
}

#[test]
fn identity_with_neither_datasets_nor_reports_names_its_datasets_before_any_request() {
    // Power BI answers 400 "DatasetId is required for any EffectiveIdentity" to such a body.
    for (v1, v2) in [
        (v1_with_identity(bare("u@contoso.com")).map(drop), v2_with_identity(bare("u@contoso.com")).map(drop)),
        (
            v1_with_identity(bare("u@contoso.com").roles(["Viewer"]).custom_data("x")).map(drop),
            v2_with_identity(bare("u@contoso.com").identity_blob(BLOB)).map(drop),
        ),
    ] {
        for outcome in [v1, v2] {
            let error = outcome.unwrap_err();
            assert_eq!(error.field(), Some("identities[0].datasets"));
            assert_eq!(
                error.to_string(),
                "invalid identities[0].datasets: is empty, and so is reports: name the dataset (or paginated \
                 report) the identity applies to"
            );
        }
    }
    // The second identity is named by its index, whichever request carries it.
    let result = GenerateTokenRequest::report_view().identities([user("a"), bare("b")]).build();
    assert_invalid(result, "identities[1].datasets");
    let result = GenerateTokenRequestV2::builder().report(REPORT).identities([user("a"), bare("b")]).build();
    assert_invalid(result, "identities[1].datasets");
    // A paginated report alone is enough, as is a dataset alone.
    let request = v1_with_identity(bare("u").reports([REPORT])).unwrap();
    assert_eq!(body(&request)["identities"][0], json!({"username": "u", "reports": [REPORT]}));
    let request = v2_with_identity(bare("u").datasets([DATASET])).unwrap();
    assert_eq!(body_v2(&request)["identities"][0], json!({"username": "u", "datasets": [DATASET]}));
}

// ---- V2 ----------------------------------------------------------------------------------

#[test]
fn v2_without_reports_or_datasets_names_request() {
    assert_invalid(GenerateTokenRequestV2::builder().build(), "request");
    // Target workspaces and identities alone do not say what the token is for.
    assert_invalid(
        GenerateTokenRequestV2::builder().target_workspace(WORKSPACE).identity(user("u")).build(),
        "request",
    );
}

#[test]
fn datasource_identity_with_an_empty_blob_is_refused() {
    let result = GenerateTokenRequestV2::builder()
        .dataset(DATASET)
        .datasource_identity(DatasourceIdentity::new("").datasource(sql_source()))
        .build();
    assert_invalid(result, "datasourceIdentities[0].identityBlob");
}

#[test]
fn datasource_identity_without_datasources_is_refused() {
    let result = GenerateTokenRequestV2::builder()
        .dataset(DATASET)
        .datasource_identity(DatasourceIdentity::new(BLOB).datasource(sql_source()))
        .datasource_identity(DatasourceIdentity::new(BLOB))
        .build();
    assert_invalid(result, "datasourceIdentities[1].datasources");
}

#[test]
fn datasource_without_a_type_is_refused() {
    let result = GenerateTokenRequestV2::builder()
        .dataset(DATASET)
        .datasource_identity(
            DatasourceIdentity::new(BLOB).datasource(sql_source()).datasource(DatasourceSelector::new(" ")),
        )
        .build();
    assert_invalid(result, "datasourceIdentities[0].datasources[1].datasourceType");
}

// ---- exact bodies ------------------------------------------------------------------------

#[test]
fn view_token_body_is_minimal() {
    let request = GenerateTokenRequest::report_view().build().unwrap();
    assert_eq!(request.expose_json(), r#"{"accessLevel":"View"}"#);
    assert_eq!(request.access_level(), AccessLevel::View);
    assert_eq!(request.lifetime_minutes(), None);
    assert_eq!(body(&GenerateTokenRequest::dashboard().build().unwrap()), json!({"accessLevel": "View"}));
    assert_eq!(body(&GenerateTokenRequest::tile().build().unwrap()), json!({"accessLevel": "View"}));
    assert_eq!(body(&GenerateTokenRequest::qna().build().unwrap()), json!({"accessLevel": "View"}));
}

#[test]
fn edit_token_body_carries_allow_save_as_and_lifetime() {
    let request = GenerateTokenRequest::report_edit().allow_save_as(true).lifetime_minutes(30).build().unwrap();
    assert_eq!(request.access_level(), AccessLevel::Edit);
    assert_eq!(request.lifetime_minutes(), Some(30));
    assert_eq!(body(&request), json!({"accessLevel": "Edit", "allowSaveAs": true, "lifetimeInMinutes": 30}));

    let request = GenerateTokenRequest::report_view().allow_save_as(false).build().unwrap();
    assert_eq!(body(&request), json!({"accessLevel": "View", "allowSaveAs": false}));
}

#[test]
fn create_token_body_leaves_the_dataset_to_its_handle() {
    // `datasetId` is written when the dataset's handle sends the request (tests/powerbi_client.rs).
    let request = GenerateTokenRequest::report_creation().lifetime_minutes(15).build().unwrap();
    assert_eq!(request.access_level(), AccessLevel::Create);
    assert_eq!(body(&request), json!({"accessLevel": "Create", "lifetimeInMinutes": 15}));
}

#[test]
fn identity_body_has_every_field_in_schema_names() {
    let full = bare("customer-42@contoso.com")
        .roles(["Customer", "EU"])
        .datasets([DATASET])
        .reports([REPORT])
        .custom_data("tier=gold")
        .identity_blob(BLOB)
        .auditable_context("portal-user-42");
    let request = GenerateTokenRequest::report_view()
        .identities([full, user("bare@contoso.com")])
        .lifetime_minutes(10)
        .build()
        .unwrap();
    assert_eq!(
        body(&request),
        json!({
            "accessLevel": "View",
            "identities": [
                {
                    "username": "customer-42@contoso.com",
                    "roles": ["Customer", "EU"],
                    "datasets": [DATASET],
                    "reports": [REPORT],
                    "customData": "tier=gold",
                    "identityBlob": {"value": BLOB},
                    "auditableContext": "portal-user-42"
                },
                {"username": "bare@contoso.com", "datasets": [DATASET]}
            ],
            "lifetimeInMinutes": 10
        })
    );
}

#[test]
fn v2_body_has_every_list_in_schema_names() {
    let request = GenerateTokenRequestV2::builder()
        .report(REPORT)
        .report_with_edit(REPORT_2, true)
        .dataset(DATASET)
        .dataset_with_xmla(DATASET_2, XmlaPermissions::ReadOnly)
        .dataset_with_xmla("8E8B1C3A-0000-4000-8000-000000000001".parse().unwrap(), XmlaPermissions::Off)
        .target_workspace(WORKSPACE)
        .identity(user("u@contoso.com").role("Viewer"))
        .lifetime_minutes(45)
        .datasource_identity(
            DatasourceIdentity::new(BLOB)
                .datasource(sql_source())
                .datasource(DatasourceSelector::new("Web").url("https://contoso.com/feed").path("/feed")),
        )
        .build()
        .unwrap();
    assert_eq!(request.lifetime_minutes(), Some(45));
    assert_eq!(
        body_v2(&request),
        json!({
            "datasets": [
                {"id": DATASET},
                {"id": DATASET_2, "xmlaPermissions": "ReadOnly"},
                {"id": "8e8b1c3a-0000-4000-8000-000000000001", "xmlaPermissions": "Off"}
            ],
            "reports": [{"id": REPORT}, {"id": REPORT_2, "allowEdit": true}],
            "targetWorkspaces": [{"id": WORKSPACE}],
            "identities": [{"username": "u@contoso.com", "roles": ["Viewer"], "datasets": [DATASET]}],
            "lifetimeInMinutes": 45,
            "datasourceIdentities": [{
                "identityBlob": BLOB,
                "datasources": [
                    {"datasourceType": "Sql", "connectionDetails": {"server": "contoso.database.windows.net", "database": "sales"}},
                    {"datasourceType": "Web", "connectionDetails": {"url": "https://contoso.com/feed", "path": "/feed"}}
                ]
            }]
        })
    );
}

#[test]
fn v2_minimal_bodies_omit_every_unset_list() {
    let request = GenerateTokenRequestV2::builder().report_with_edit(REPORT, false).build().unwrap();
    assert_eq!(request.lifetime_minutes(), None);
    assert_eq!(body_v2(&request), json!({"reports": [{"id": REPORT, "allowEdit": false}]}));
    let request = GenerateTokenRequestV2::builder().dataset(DATASET).build().unwrap();
    assert_eq!(request.expose_json(), format!(r#"{{"datasets":[{{"id":"{DATASET}"}}]}}"#));
}

// ---- secrets stay out of Debug -----------------------------------------------------------

#[test]
fn debug_never_shows_an_identity_blob() {
    let identity = user("u@contoso.com").identity_blob(BLOB);
    let source = DatasourceIdentity::new(BLOB).datasource(sql_source());
    let v1_builder = GenerateTokenRequest::report_view().identity(identity.clone());
    let v2_builder = GenerateTokenRequestV2::builder()
        .dataset(DATASET)
        .identity(identity.clone())
        .datasource_identity(source.clone());
    let v1 = v1_builder.clone().build().unwrap();
    let v2 = v2_builder.clone().build().unwrap();
    // The blob does go to Power BI ...
    assert!(v1.expose_json().contains(BLOB));
    assert!(v2.expose_json().contains(BLOB));
    // ... and nowhere else.
    let printed = [
        format!("{identity:?}"),
        format!("{identity:#?}"),
        format!("{source:?}"),
        format!("{v1_builder:?}"),
        format!("{v2_builder:?}"),
        format!("{v1:?}"),
        format!("{v1:#?}"),
        format!("{v2:?}"),
    ];
    for text in &printed {
        assert!(!text.contains(BLOB) && !text.contains("SQL-ACCESS-TOKEN"), "blob leaked: {text}");
    }
    assert!(printed[0].contains("redacted"), "the identity shows that a blob is set: {}", printed[0]);
}

#[test]
fn errors_never_show_an_identity_blob() {
    let bad = user("not valid").identity_blob(BLOB);
    let error = v1_with_identity(bad).unwrap_err();
    assert!(!format!("{error} {error:?}").contains(BLOB));
}
