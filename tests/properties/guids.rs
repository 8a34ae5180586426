//! Guid parsing against the model.

use super::*;

pub(crate) fn check_guid_parse(text: &str) -> Result<(), TestCaseError> {
    let parsed = text.parse::<Guid>();
    match (parsed, model_guid(text, false)) {
        (Ok(guid), Some(canonical)) => {
            prop_assert_eq!(guid.to_string(), canonical);
            prop_assert_eq!(u128::from_str_radix(&guid.to_string().replace('-', ""), 16).ok(), Some(guid.as_u128()));
        }
        (Err(_), None) => {}
        (parsed, expected) => prop_assert!(false, "{text:?} parsed as {parsed:?}, the model says {expected:?}"),
    }
    // The serde form follows the same rule and never panics either.
    let from_json = serde_json::from_value::<Guid>(json!(text));
    prop_assert_eq!(from_json.is_ok(), model_guid(text, false).is_some());
    Ok(())
}

#[test]
pub(crate) fn guid_from_str_agrees_with_the_model_on_arbitrary_bytes() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner.run(&vec(any::<u8>(), 0..48), |bytes| check_guid_parse(&String::from_utf8_lossy(&bytes))).unwrap();
}

#[test]
pub(crate) fn guid_from_str_agrees_with_the_model_on_guid_like_text() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner.run(&id_text(), |text| check_guid_parse(&text)).unwrap();
}

/// Every typed id parses exactly what the model accepts once trimmed, prints the canonical form,
/// and names its own field when it refuses, through `FromStr` and serde alike.
pub(crate) fn check_item_id_parse<T>(text: &str, field: &str) -> Result<(), TestCaseError>
where
    T: std::str::FromStr<Err = Error> + serde::de::DeserializeOwned + std::fmt::Display + std::fmt::Debug,
{
    match (text.parse::<T>(), model_guid(text, true)) {
        (Ok(id), Some(canonical)) => prop_assert_eq!(id.to_string(), canonical),
        (Err(error), None) => prop_assert_eq!(error.field(), Some(field)),
        (parsed, expected) => prop_assert!(false, "{text:?} parsed as {parsed:?}, the model says {expected:?}"),
    }
    let from_json = serde_json::from_value::<T>(json!(text));
    prop_assert_eq!(from_json.is_ok(), model_guid(text, true).is_some());
    Ok(())
}

#[test]
pub(crate) fn item_ids_parse_what_the_model_accepts_trimmed_and_name_their_field() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner
        .run(&id_text(), |text| {
            check_item_id_parse::<WorkspaceId>(&text, "workspace_id")?;
            check_item_id_parse::<ReportId>(&text, "report_id")?;
            check_item_id_parse::<DatasetId>(&text, "dataset_id")?;
            check_item_id_parse::<DashboardId>(&text, "dashboard_id")?;
            check_item_id_parse::<TileId>(&text, "tile_id")?;
            check_item_id_parse::<ProfileId>(&text, "profile_id")
        })
        .unwrap();
}

#[test]
pub(crate) fn guid_display_round_trips_every_value() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner
        .run(&any::<u128>(), |value| {
            let guid = Guid::from_u128(value);
            let text = guid.to_string();
            let hex = format!("{value:032x}");
            prop_assert_eq!(
                &text,
                &format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
            );
            prop_assert_eq!(text.parse::<Guid>(), Ok(guid));
            prop_assert_eq!(text.to_uppercase().parse::<Guid>(), Ok(guid));
            Ok(())
        })
        .unwrap();
}

#[test]
pub(crate) fn guid_deserialize_refuses_every_non_string() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        vec(guid_text(), 0..2).prop_map(|ids| json!(ids)),
        guid_text().prop_map(|id| json!({"id": id})),
    ];
    runner
        .run(&value, |value| {
            prop_assert!(serde_json::from_value::<Guid>(value.clone()).is_err(), "{value} became a Guid");
            Ok(())
        })
        .unwrap();
}
