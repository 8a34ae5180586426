//! Builder properties: the V1 and V2 builders agree with the model.

use super::*;

#[test]
pub(crate) fn v1_builder_accepts_exactly_what_the_rules_allow_and_sends_exactly_the_inputs() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner
        .run(&v1_input(), |input| {
            let violations = input.violations();
            if let Some(body) = check_verdict(input.build(), &violations, |body| body.clone())? {
                let schema_errors = strict_violations("GenerateTokenRequest", &body);
                prop_assert!(schema_errors.is_empty(), "{body} breaks the schema: {schema_errors:?}");
                prop_assert_eq!(body, input.expected_json());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
pub(crate) fn v2_builder_accepts_exactly_what_the_rules_allow_and_sends_exactly_the_inputs() {
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    runner
        .run(&v2_input(), |input| {
            let violations = input.violations();
            if let Some(body) = check_verdict(input.build(), &violations, |r| r.expose_json().to_owned())? {
                let schema_errors = strict_violations("GenerateTokenRequestV2", &body);
                prop_assert!(schema_errors.is_empty(), "{body} breaks the schema: {schema_errors:?}");
                prop_assert_eq!(body, input.expected_json());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
pub(crate) fn the_generators_reach_both_verdicts_and_every_rule() {
    // A property whose inputs are all valid (or all invalid) proves little: check the mix.
    let mut runner = TestRunner::new(config(BUILDER_CASES));
    let mut fields = std::collections::BTreeSet::new();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..400 {
        let v1 = v1_input().new_tree(&mut runner).unwrap().current();
        let v2 = v2_input().new_tree(&mut runner).unwrap().current();
        for violations in [v1.violations(), v2.violations()] {
            if violations.is_empty() {
                ok += 1;
            } else {
                refused += 1;
            }
            // Field names without indices, e.g. identities[].roles[].
            fields.extend(violations.iter().map(|f| {
                f.split('[').map(|p| p.split_once(']').map_or(p, |(_, rest)| rest)).collect::<Vec<_>>().join("[]")
            }));
        }
    }
    assert!(ok > 50 && refused > 50, "{ok} valid and {refused} invalid inputs");
    for rule in [
        "lifetimeInMinutes",
        "request",
        "identities[].username",
        "identities[].roles",
        "identities[].roles[]",
        "identities[].identityBlob",
        "datasourceIdentities[].identityBlob",
        "datasourceIdentities[].datasources",
        "datasourceIdentities[].datasources[].datasourceType",
    ] {
        assert!(fields.contains(rule), "the generators never break {rule}: {fields:?}");
    }
}
