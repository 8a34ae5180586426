//! Strategies: inputs for the builders, near and far from valid.

use super::*;

pub(crate) fn guid_text() -> impl Strategy<Value = String> {
    (any::<u128>(), any::<bool>(), any::<bool>(), 0..4u8).prop_map(|(value, upper, braces, padding)| {
        let hex = format!("{value:032x}");
        let mut text = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
        if upper {
            text = text.to_uppercase();
        }
        if braces {
            text = format!("{{{text}}}");
        }
        match padding {
            1 => format!(" {text} "),
            2 => format!("\t{text}\n"),
            _ => text,
        }
    })
}

/// A GUID with one character removed, replaced or inserted.
pub(crate) fn near_miss_guid() -> impl Strategy<Value = String> {
    (guid_text(), any::<prop::sample::Index>(), 0..3u8, prop::char::any()).prop_map(|(text, at, edit, c)| {
        let mut chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len());
        match edit {
            0 => {
                chars.remove(i);
            }
            1 => chars[i] = c,
            _ => chars.insert(i, c),
        }
        chars.into_iter().collect()
    })
}

/// The lowercase hyphenated form Power BI writes, independently of the crate's formatter.
pub(crate) fn canonical(value: u128) -> String {
    let hex = format!("{value:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

pub(crate) fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => guid_text(),
        2 => near_miss_guid(),
        1 => ".{0,40}",
        1 => Just(String::new()),
    ]
}

pub(crate) fn username() -> impl Strategy<Value = String> {
    // The limits (256 and 257 characters, with multibyte ones) come up often on purpose.
    prop_oneof![
        20 => "[A-Za-z0-9._@!#^~\\\\-]{1,40}",
        1 => Just(String::new()),
        1 => "[a-z]{1,8}[ \t\u{a0}][a-z]{1,8}",
        1 => "[a-zé€]{256}",
        1 => "[a-zé€]{257}",
        1 => ".{0,30}",
    ]
}

pub(crate) fn role() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => "[A-Za-z][A-Za-z0-9 ()_-]{0,20}",
        1 => "[a-z]{0,5},[a-z]{0,5}",
        1 => Just(String::new()),
        1 => "[ \t]{1,3}",
        2 => "[aü]{50}",
        2 => "[aü]{51}",
        1 => ".{0,12}",
    ]
}

pub(crate) fn roles() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![5 => vec(role(), 0..4), 1 => vec("[A-Za-z]{1,10}", 50..=51)]
}

pub(crate) fn optional_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof!["[ -~]{0,20}", Just(String::new()), ".{0,10}"])
}

pub(crate) fn identity() -> impl Strategy<Value = IdentityInput> {
    (
        username(),
        roles(),
        vec(any::<u128>(), 0..3),
        vec(any::<u128>(), 0..2),
        optional_text(),
        prop::option::of(prop_oneof!["[A-Za-z0-9._-]{1,60}", Just(String::new())]),
        optional_text(),
    )
        .prop_map(|(username, roles, datasets, reports, custom_data, blob, auditable_context)| IdentityInput {
            username,
            roles,
            datasets,
            reports,
            custom_data,
            blob,
            auditable_context,
        })
}

pub(crate) fn lifetime() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(prop_oneof![
        8 => 1..=1440i64,
        1 => -5..=0i64,
        1 => any::<i64>(),
        1 => (i64::from(u32::MAX) - 2)..=(i64::from(u32::MAX) + 2),
    ])
}

/// The kind of item a V1 request is for: its constructor fixes the access level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    ReportView,
    ReportEdit,
    ReportCreation,
    Dashboard,
    Tile,
    Qna,
}

#[derive(Debug, Clone)]
pub(crate) struct V1Input {
    pub(crate) target: Target,
    /// Only reports have `allowSaveAs` (on the other kinds the setter does not exist).
    pub(crate) allow_save_as: Option<bool>,
    pub(crate) identities: Vec<IdentityInput>,
    pub(crate) lifetime: Option<i64>,
}

pub(crate) fn v1_input() -> impl Strategy<Value = V1Input> {
    let target = prop::sample::select(vec![
        Target::ReportView,
        Target::ReportEdit,
        Target::ReportCreation,
        Target::Dashboard,
        Target::Tile,
        Target::Qna,
    ]);
    (target, prop::option::weighted(0.3, any::<bool>()), vec(identity(), 0..3), lifetime()).prop_map(
        |(target, allow_save_as, identities, lifetime)| V1Input {
            target,
            allow_save_as: allow_save_as.filter(|_| matches!(target, Target::ReportView | Target::ReportEdit)),
            identities,
            lifetime,
        },
    )
}

impl V1Input {
    /// The request's body (as the request holds it: report creation's `datasetId` is added by
    /// the dataset's handle when sent), or the builder's error.
    pub(crate) fn build(&self) -> Result<String, Error> {
        fn finish<K: TokenKind>(builder: GenerateTokenRequestBuilder<K>, input: &V1Input) -> Result<String, Error> {
            let mut builder = builder.identities(input.identities.iter().map(IdentityInput::build));
            if let Some(minutes) = input.lifetime {
                builder = builder.lifetime_minutes(minutes);
            }
            builder.build().map(|request| request.expose_json().to_owned())
        }
        let report = |builder: GenerateTokenRequestBuilder<_>| match self.allow_save_as {
            Some(allow) => builder.allow_save_as(allow),
            None => builder,
        };
        match self.target {
            Target::ReportView => finish(report(GenerateTokenRequest::report_view()), self),
            Target::ReportEdit => finish(report(GenerateTokenRequest::report_edit()), self),
            Target::ReportCreation => finish(GenerateTokenRequest::report_creation(), self),
            Target::Dashboard => finish(GenerateTokenRequest::dashboard(), self),
            Target::Tile => finish(GenerateTokenRequest::tile(), self),
            Target::Qna => finish(GenerateTokenRequest::qna(), self),
        }
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if lifetime_violation(self.lifetime) {
            broken.push("lifetimeInMinutes".to_owned());
        }
        broken.extend(identity_violations(&self.identities));
        broken
    }

    pub(crate) fn expected_json(&self) -> Value {
        let mut object = Map::new();
        let level = match self.target {
            Target::ReportEdit => "Edit",
            Target::ReportCreation => "Create",
            _ => "View",
        };
        object.insert("accessLevel".into(), json!(level));
        if let Some(allow) = self.allow_save_as {
            object.insert("allowSaveAs".into(), json!(allow));
        }
        if !self.identities.is_empty() {
            object.insert("identities".into(), self.identities.iter().map(IdentityInput::expected_json).collect());
        }
        if let Some(minutes) = self.lifetime {
            object.insert("lifetimeInMinutes".into(), json!(minutes));
        }
        Value::Object(object)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SelectorInput {
    pub(crate) datasource_type: String,
    pub(crate) server: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) path: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct DatasourceIdentityInput {
    pub(crate) blob: String,
    pub(crate) datasources: Vec<SelectorInput>,
}

#[derive(Debug, Clone)]
pub(crate) struct V2Input {
    pub(crate) reports: Vec<(u128, Option<bool>)>,
    pub(crate) datasets: Vec<(u128, Option<XmlaPermissions>)>,
    pub(crate) workspaces: Vec<u128>,
    pub(crate) identities: Vec<IdentityInput>,
    pub(crate) lifetime: Option<i64>,
    pub(crate) datasource_identities: Vec<DatasourceIdentityInput>,
}

pub(crate) fn selector() -> impl Strategy<Value = SelectorInput> {
    let text = || prop::option::of("[a-z./:]{0,20}");
    (
        prop_oneof![
            Just("Sql".to_owned()),
            Just("Web".to_owned()),
            Just(String::new()),
            Just(" ".to_owned()),
            "[A-Za-z]{1,12}"
        ],
        text(),
        text(),
        text(),
        text(),
    )
        .prop_map(|(datasource_type, server, database, url, path)| SelectorInput {
            datasource_type,
            server,
            database,
            url,
            path,
        })
}

pub(crate) fn v2_input() -> impl Strategy<Value = V2Input> {
    let xmla = prop::option::of(prop::sample::select(vec![XmlaPermissions::Off, XmlaPermissions::ReadOnly]));
    let datasource_identity =
        (prop_oneof![4 => "[A-Za-z0-9._-]{1,40}", 1 => Just(String::new())], vec(selector(), 0..3))
            .prop_map(|(blob, datasources)| DatasourceIdentityInput { blob, datasources });
    (
        vec((any::<u128>(), prop::option::of(any::<bool>())), 0..3),
        vec((any::<u128>(), xmla), 0..3),
        vec(any::<u128>(), 0..2),
        vec(identity(), 0..3),
        lifetime(),
        vec(datasource_identity, 0..2),
    )
        .prop_map(|(reports, datasets, workspaces, identities, lifetime, datasource_identities)| V2Input {
            reports,
            datasets,
            workspaces,
            identities,
            lifetime,
            datasource_identities,
        })
}

impl V2Input {
    pub(crate) fn build(&self) -> Result<GenerateTokenRequestV2, Error> {
        let mut builder = GenerateTokenRequestV2::builder();
        for &(id, allow_edit) in &self.reports {
            builder = match allow_edit {
                Some(allow) => builder.report_with_edit(ReportId::from_u128(id), allow),
                None => builder.report(ReportId::from_u128(id)),
            };
        }
        for &(id, xmla) in &self.datasets {
            builder = match xmla {
                Some(permissions) => builder.dataset_with_xmla(DatasetId::from_u128(id), permissions),
                None => builder.dataset(DatasetId::from_u128(id)),
            };
        }
        for &id in &self.workspaces {
            builder = builder.target_workspace(WorkspaceId::from_u128(id));
        }
        builder = builder.identities(self.identities.iter().map(IdentityInput::build));
        if let Some(minutes) = self.lifetime {
            builder = builder.lifetime_minutes(minutes);
        }
        for input in &self.datasource_identities {
            let mut identity = DatasourceIdentity::new(input.blob.clone());
            for source in &input.datasources {
                let mut selector = DatasourceSelector::new(source.datasource_type.clone());
                if let Some(server) = &source.server {
                    selector = selector.server(server.clone());
                }
                if let Some(database) = &source.database {
                    selector = selector.database(database.clone());
                }
                if let Some(url) = &source.url {
                    selector = selector.url(url.clone());
                }
                if let Some(path) = &source.path {
                    selector = selector.path(path.clone());
                }
                identity = identity.datasource(selector);
            }
            builder = builder.datasource_identity(identity);
        }
        builder.build()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.reports.is_empty() && self.datasets.is_empty() {
            broken.push("request".to_owned());
        }
        if lifetime_violation(self.lifetime) {
            broken.push("lifetimeInMinutes".to_owned());
        }
        broken.extend(identity_violations(&self.identities));
        for (i, identity) in self.datasource_identities.iter().enumerate() {
            if identity.blob.is_empty() {
                broken.push(format!("datasourceIdentities[{i}].identityBlob"));
            }
            if identity.datasources.is_empty() {
                broken.push(format!("datasourceIdentities[{i}].datasources"));
            }
            for (j, source) in identity.datasources.iter().enumerate() {
                if source.datasource_type.trim().is_empty() {
                    broken.push(format!("datasourceIdentities[{i}].datasources[{j}].datasourceType"));
                }
            }
        }
        broken
    }

    pub(crate) fn expected_json(&self) -> Value {
        let canonical = |&id: &u128| canonical(id);
        let mut object = Map::new();
        if !self.datasets.is_empty() {
            let datasets = self.datasets.iter().map(|(id, xmla)| match xmla {
                Some(permissions) => json!({"id": canonical(id), "xmlaPermissions": format!("{permissions:?}")}),
                None => json!({"id": canonical(id)}),
            });
            object.insert("datasets".into(), datasets.collect());
        }
        if !self.reports.is_empty() {
            let reports = self.reports.iter().map(|(id, allow_edit)| match allow_edit {
                Some(allow) => json!({"id": canonical(id), "allowEdit": allow}),
                None => json!({"id": canonical(id)}),
            });
            object.insert("reports".into(), reports.collect());
        }
        if !self.workspaces.is_empty() {
            object.insert(
                "targetWorkspaces".into(),
                self.workspaces.iter().map(|id| json!({"id": canonical(id)})).collect(),
            );
        }
        if !self.identities.is_empty() {
            object.insert("identities".into(), self.identities.iter().map(IdentityInput::expected_json).collect());
        }
        if let Some(minutes) = self.lifetime {
            object.insert("lifetimeInMinutes".into(), json!(minutes));
        }
        if !self.datasource_identities.is_empty() {
            let identities = self.datasource_identities.iter().map(|identity| {
                let sources: Vec<Value> = identity
                    .datasources
                    .iter()
                    .map(|s| {
                        let mut details = Map::new();
                        for (key, value) in
                            [("server", &s.server), ("database", &s.database), ("url", &s.url), ("path", &s.path)]
                        {
                            if let Some(value) = value {
                                details.insert(key.into(), json!(value));
                            }
                        }
                        json!({"datasourceType": s.datasource_type, "connectionDetails": details})
                    })
                    .collect();
                json!({"identityBlob": identity.blob, "datasources": sources})
            });
            object.insert("datasourceIdentities".into(), identities.collect());
        }
        Value::Object(object)
    }
}
