//! Item lookups.

use super::*;

/// How a field is read: the contract's type, and whether `null` is the same as absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A GUID string, required.
    Guid,
    /// A string; `null` is not specified (no verdict).
    Text,
    /// An optional string (`null` is absent).
    OptionalText,
    /// An optional boolean.
    OptionalBool,
    /// An optional GUID.
    OptionalGuid,
    /// Not read: any value is fine.
    Unread,
}

pub(crate) fn kinds(item: Item) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match item {
        Item::Report => &[
            ("id", Guid),
            ("name", Text),
            ("embedUrl", Text),
            ("webUrl", OptionalText),
            ("datasetId", OptionalGuid),
            ("reportType", OptionalText),
            ("description", OptionalText),
            ("isOwnedByMe", Unread),
        ],
        Item::Dashboard => &[
            ("id", Guid),
            ("displayName", Text),
            ("embedUrl", Text),
            ("webUrl", OptionalText),
            ("isReadOnly", OptionalBool),
        ],
        Item::Tile => &[
            ("id", Guid),
            ("title", OptionalText),
            ("embedUrl", Text),
            ("embedData", OptionalText),
            ("rowSpan", Unread),
            ("colSpan", Unread),
            ("reportId", OptionalGuid),
            ("datasetId", OptionalGuid),
        ],
        Item::Dataset => &[
            ("id", Guid),
            ("name", Text),
            ("configuredBy", OptionalText),
            // The fixture spells these as the swagger does (PascalCase); the live camelCase is
            // covered by tests/live_corpus.rs and the models' casing tests.
            ("CreatedDate", OptionalText),
            ("webUrl", OptionalText),
            ("QnaEmbedURL", OptionalText),
            ("CreateReportEmbedURL", OptionalText),
            ("IsEffectiveIdentityRequired", OptionalBool),
            ("IsEffectiveIdentityRolesRequired", OptionalBool),
            ("IsOnPremGatewayRequired", OptionalBool),
            ("IsRefreshable", OptionalBool),
            ("addRowsAPIEnabled", Unread),
            ("targetStorageMode", OptionalText),
        ],
    }
}

/// Whether `value` (absent when `None`) is accepted for a field of `kind`; `None` = no verdict.
pub(crate) fn accepts(kind: Kind, value: Option<&Value>) -> Option<bool> {
    use Kind::*;
    let is_guid = |v: &Value| v.as_str().is_some_and(|s| model_guid(s, false).is_some());
    Some(match (kind, value) {
        (Unread, _) => true,
        (Guid, None) => false,
        (_, None) => true,
        (Guid, Some(v)) => is_guid(v),
        (Text, Some(Value::Null)) => return None,
        (Text, Some(v)) => v.is_string(),
        (OptionalText, Some(v)) => v.is_string() || v.is_null(),
        (OptionalBool, Some(v)) => v.is_boolean() || v.is_null(),
        // A reference to another item: a GUID, or none (`null`, or the empty string the service
        // writes in places).
        (OptionalGuid, Some(v)) => is_guid(v) || v.is_null() || v.as_str() == Some(""),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item {
    Report,
    Dashboard,
    Tile,
    Dataset,
}

#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    None,
    AddUnknownFields,
    Remove(prop::sample::Index),
    Replace(prop::sample::Index, Value),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop::sample::select(vec![
        Value::Null,
        json!(5),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!("8E8B1C3A-0000-4000-8000-000000000001"),
        json!(1e300),
    ]);
    prop_oneof![
        1 => Just(Mutation::None),
        1 => Just(Mutation::AddUnknownFields),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
        4 => (any::<prop::sample::Index>(), value).prop_map(|(at, v)| Mutation::Replace(at, v)),
    ]
}

#[test]
pub(crate) fn lookups_parse_their_items_or_give_a_typed_error_never_a_panic() {
    let item = prop::sample::select(vec![Item::Report, Item::Dashboard, Item::Tile, Item::Dataset]);
    run_async(HTTP_CASES, (item, mutation()), |server, (item, mutation)| async move {
        let (fixture, route) = match item {
            Item::Report => {
                (report_fixture(), format!("/v1.0/myorg/groups/{FIXTURE_WORKSPACE}/reports/{FIXTURE_REPORT}"))
            }
            Item::Dashboard => {
                (dashboard_fixture(), format!("/v1.0/myorg/groups/{FIXTURE_WORKSPACE}/dashboards/{FIXTURE_DASHBOARD}"))
            }
            Item::Tile => (
                tile_fixture(),
                format!("/v1.0/myorg/groups/{FIXTURE_WORKSPACE}/dashboards/{FIXTURE_DASHBOARD}/tiles/{FIXTURE_TILE}"),
            ),
            Item::Dataset => {
                (dataset_fixture(), format!("/v1.0/myorg/groups/{FIXTURE_WORKSPACE}/datasets/{FIXTURE_DATASET}"))
            }
        };
        let kinds = kinds(item);
        // The table covers exactly the fixture's fields.
        prop_assert_eq!(fixture.as_object().unwrap().len(), kinds.len());
        let mut body = fixture.clone();
        let object = body.as_object_mut().unwrap();
        let verdict = match &mutation {
            Mutation::None => Some(true),
            Mutation::AddUnknownFields => {
                object.insert("@odata.context".into(), json!("http://x/$metadata#reports/$entity"));
                object.insert("users".into(), json!([]));
                object.insert("newField".into(), json!({"a": [1, null]}));
                Some(true)
            }
            Mutation::Remove(at) => {
                let (name, kind) = kinds[at.index(kinds.len())];
                object.remove(name);
                accepts(kind, None)
            }
            Mutation::Replace(at, value) => {
                let (name, kind) = kinds[at.index(kinds.len())];
                object.insert(name.into(), value.clone());
                accepts(kind, Some(value))
            }
        };
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(&body))
            .expect(1)
            .mount(&server)
            .await;
        let client = power_bi_client(&server, &clock(), RetryPolicy::none());
        let outcome: Result<String, Error> = match item {
            Item::Report => client
                .workspace(FIXTURE_WORKSPACE.parse().unwrap())
                .report(FIXTURE_REPORT.parse().unwrap())
                .get()
                .await
                .map(|r| r.id.to_string()),
            Item::Dashboard => client
                .workspace(FIXTURE_WORKSPACE.parse().unwrap())
                .dashboard(FIXTURE_DASHBOARD.parse().unwrap())
                .get()
                .await
                .map(|d| d.id.to_string()),
            Item::Tile => client
                .workspace(FIXTURE_WORKSPACE.parse().unwrap())
                .dashboard(FIXTURE_DASHBOARD.parse().unwrap())
                .tile(FIXTURE_TILE.parse().unwrap())
                .get()
                .await
                .map(|t| t.id.to_string()),
            Item::Dataset => client
                .workspace(FIXTURE_WORKSPACE.parse().unwrap())
                .dataset(FIXTURE_DATASET.parse().unwrap())
                .get()
                .await
                .map(|d| d.id.to_string()),
        };
        match (&outcome, verdict) {
            (Ok(id), Some(true) | None) => {
                let sent = body["id"].as_str().unwrap();
                let expected = model_guid(sent, false).unwrap();
                prop_assert_eq!(id, &expected);
            }
            (Err(Error::UnexpectedResponse(unexpected)), Some(false) | None) => {
                prop_assert_eq!(unexpected.status, 200);
                assert_no_leak(outcome.as_ref().unwrap_err(), &[STATIC_ENTRA_TOKEN])?;
            }
            (outcome, verdict) => {
                prop_assert!(false, "{item:?} {mutation:?}: got {outcome:?}, expected accepted = {verdict:?}")
            }
        }
        Ok(())
    });
}
