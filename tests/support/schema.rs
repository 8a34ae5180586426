//! The published Power BI schema (`tests/fixtures/contract/powerbi-embed.swagger.json`, vendored
//! from Microsoft; see `SOURCE.md` beside it) as strict JSON-schema validators, shared by the
//! schema and property tests.
//!
//! Swagger 2.0 schemas are a dialect of JSON Schema draft 4, so each definition is checked as
//! `{"$ref": "#/definitions/<Name>", "definitions": <swagger definitions>}` under draft 4, with
//! formats enforced (`uuid`, which draft 4 does not define, is added here).
//!
//! Strict means an unknown or misspelled field fails: every definition that has `properties`
//! gets `"additionalProperties": false`, and `"type": "object"` where the swagger leaves the type
//! out (as it does for `IdentityBlob`: without it a bare string would pass, since `properties`
//! and `required` only constrain objects). Definitions composed with `allOf` (`Report`,
//! `Dashboard`, `Tile`, `Dataset`) are first flattened into one object, because
//! `additionalProperties: false` on each part would make every part reject the other parts'
//! fields and nothing would validate.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Value};

pub use super::ids::{
    FIXTURE_DASHBOARD, FIXTURE_DATASET, FIXTURE_REPORT, FIXTURE_TILE, FIXTURE_TOKEN_ID, FIXTURE_WORKSPACE,
};

/// The vendored copy (see `tests/fixtures/contract/SOURCE.md`).
pub const SWAGGER_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contract/powerbi-embed.swagger.json");

/// The swagger file's `definitions`, as published.
pub fn published_definitions() -> &'static Map<String, Value> {
    static DEFINITIONS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| {
        let text = std::fs::read_to_string(SWAGGER_PATH)
            .unwrap_or_else(|e| panic!("cannot read the published schema at {SWAGGER_PATH}: {e}"));
        let swagger: Value = serde_json::from_str(&text).expect("the swagger file is JSON");
        match swagger.get("definitions") {
            Some(Value::Object(definitions)) => definitions.clone(),
            _ => panic!("the swagger file has no definitions object"),
        }
    })
}

/// The definitions with `allOf` flattened, and `additionalProperties: false` and
/// `type: object` added wherever there are `properties`.
pub fn strict_definitions() -> &'static Map<String, Value> {
    static STRICT: OnceLock<Map<String, Value>> = OnceLock::new();
    STRICT.get_or_init(|| {
        let published = published_definitions();
        published
            .iter()
            .map(|(name, definition)| {
                let mut definition = flatten_all_of(definition, published);
                if let Value::Object(object) = &mut definition {
                    if object.contains_key("properties") {
                        object.insert("additionalProperties".into(), Value::Bool(false));
                        object.entry("type").or_insert_with(|| Value::from("object"));
                    }
                }
                (name.clone(), definition)
            })
            .collect()
    })
}

/// Merges the `properties` and `required` of every `allOf` part (a `$ref` to another
/// definition, or an inline object) into the definition itself.
fn flatten_all_of(definition: &Value, definitions: &Map<String, Value>) -> Value {
    let Some(parts) = definition.get("allOf").and_then(Value::as_array) else { return definition.clone() };
    let mut properties = Map::new();
    let mut required: Vec<Value> = definition.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    for part in parts {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.strip_prefix("#/definitions/").expect("allOf parts refer to definitions");
                definitions.get(name).unwrap_or_else(|| panic!("allOf refers to a missing definition {name}"))
            }
            None => part,
        };
        assert!(part.get("allOf").is_none(), "nested allOf is not flattened by this helper");
        if let Some(Value::Object(part_properties)) = part.get("properties") {
            properties.extend(part_properties.clone());
        }
        for name in part.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
    }
    let mut flat = definition.as_object().expect("a definition is an object").clone();
    flat.remove("allOf");
    flat.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        flat.insert("required".into(), Value::Array(required));
    }
    Value::Object(flat)
}

/// `uuid` as RFC 4122 text: 8-4-4-4-12 hexadecimal digits, either case.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text
            .char_indices()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn compile(definition: &str, definitions: &Map<String, Value>) -> Validator {
    assert!(definitions.contains_key(definition), "the schema has no definition {definition}");
    let schema = json!({ "$ref": format!("#/definitions/{definition}"), "definitions": definitions });
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .should_validate_formats(true)
        .with_format("uuid", is_uuid)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the schema for {definition} does not compile: {e}"))
}

fn cached(
    cache: &'static OnceLock<HashMap<String, Validator>>,
    definitions: &'static Map<String, Value>,
    name: &str,
) -> &'static Validator {
    let validators =
        cache.get_or_init(|| definitions.keys().map(|name| (name.clone(), compile(name, definitions))).collect());
    validators.get(name).unwrap_or_else(|| panic!("the schema has no definition {name}"))
}

/// The strict validator for one definition (compiled once per test binary).
pub fn strict(definition: &str) -> &'static Validator {
    static VALIDATORS: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    cached(&VALIDATORS, strict_definitions(), definition)
}

/// The validator for one definition exactly as published (unknown fields allowed).
pub fn lenient(definition: &str) -> &'static Validator {
    static VALIDATORS: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    cached(&VALIDATORS, published_definitions(), definition)
}

/// Every way `instance` breaks the strict `definition`, as `"<JSON pointer>: <message>"`.
pub fn strict_violations(definition: &str, instance: &Value) -> Vec<String> {
    strict(definition).iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path)).collect()
}

/// Panics with every violation if `instance` does not satisfy the strict `definition`.
#[track_caller]
pub fn assert_strictly_valid(definition: &str, instance: &Value) {
    let violations = strict_violations(definition, instance);
    assert!(violations.is_empty(), "{instance} is not a valid {definition}:\n{}", violations.join("\n"));
}

// ---- response fixtures, in the published shapes --------------------------------------------

/// A `GenerateToken` answer (without the `@odata.context` the service adds, which the schema
/// does not list).
pub fn embed_token_fixture(token: &str, expiration: &str) -> Value {
    json!({"token": token, "tokenId": FIXTURE_TOKEN_ID, "expiration": expiration})
}

pub fn report_fixture() -> Value {
    json!({
        "id": FIXTURE_REPORT,
        "name": "Sales",
        "reportType": "PowerBIReport",
        "webUrl": format!("https://app.powerbi.com/groups/{FIXTURE_WORKSPACE}/reports/{FIXTURE_REPORT}"),
        "embedUrl": format!("https://app.powerbi.com/reportEmbed?reportId={FIXTURE_REPORT}&groupId={FIXTURE_WORKSPACE}"),
        "datasetId": FIXTURE_DATASET,
        "isOwnedByMe": true,
        "description": "Monthly sales"
    })
}

pub fn dashboard_fixture() -> Value {
    json!({
        "id": FIXTURE_DASHBOARD,
        "displayName": "Operations",
        "isReadOnly": false,
        "webUrl": format!("https://app.powerbi.com/groups/{FIXTURE_WORKSPACE}/dashboards/{FIXTURE_DASHBOARD}"),
        "embedUrl": format!("https://app.powerbi.com/dashboardEmbed?dashboardId={FIXTURE_DASHBOARD}&groupId={FIXTURE_WORKSPACE}")
    })
}

pub fn tile_fixture() -> Value {
    json!({
        "id": FIXTURE_TILE,
        "title": "Revenue",
        "embedUrl": format!("https://app.powerbi.com/embed?dashboardId={FIXTURE_DASHBOARD}&tileId={FIXTURE_TILE}"),
        "embedData": "{}",
        "rowSpan": 0,
        "colSpan": 0,
        "reportId": FIXTURE_REPORT,
        "datasetId": FIXTURE_DATASET
    })
}

pub fn dataset_fixture() -> Value {
    json!({
        "id": FIXTURE_DATASET,
        "name": "SalesModel",
        "configuredBy": "owner@contoso.com",
        "CreatedDate": "2026-01-05T08:30:00.000Z",
        "webUrl": format!("https://app.powerbi.com/groups/{FIXTURE_WORKSPACE}/datasets/{FIXTURE_DATASET}"),
        "QnaEmbedURL": format!("https://app.powerbi.com/qnaEmbed?groupId={FIXTURE_WORKSPACE}"),
        "CreateReportEmbedURL": format!("https://app.powerbi.com/reportEmbed?groupId={FIXTURE_WORKSPACE}&datasetId={FIXTURE_DATASET}"),
        "IsEffectiveIdentityRequired": true,
        "IsEffectiveIdentityRolesRequired": false,
        "IsOnPremGatewayRequired": false,
        "IsRefreshable": true,
        "addRowsAPIEnabled": false,
        "targetStorageMode": "Abf"
    })
}
