//! The lookup cache: report and dataset metadata (embed URLs, dataset ids, RLS flags) kept for a
//! bounded time, so an embed config whose token is cached costs no Power BI call at all.
//!
//! Keyed by (profile, item kind, workspace, item): two customers never share a lookup. Only the
//! `*_config` paths and RLS-from-data read it; `get()` stays fresh (docs/api.md §13, answer 7).

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cache::{CacheKey, Expiring, Need, Storable};
use crate::error::Result;
use crate::ids::{DatasetId, Guid, ProfileId, ReportId, WorkspaceId};
use crate::powerbi::models::{Dataset, Report};
use crate::powerbi::operation::fold;
use crate::powerbi::view::PowerBiView;

/// What a lookup is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ItemKind {
    Report,
    Dataset,
}

/// (profile, item kind, workspace, item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LookupKey {
    pub profile: Option<ProfileId>,
    pub kind: ItemKind,
    pub workspace: WorkspaceId,
    pub item: Guid,
}

impl std::hash::Hash for LookupKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let seed = match self.kind {
            ItemKind::Report => 11,
            ItemKind::Dataset => 13,
        };
        let profile = self.profile.map_or(0, |p| p.guid().as_u128());
        let folded =
            [profile, self.workspace.guid().as_u128(), self.item.as_u128()].iter().fold(seed, |f, &id| fold(f, id));
        state.write_u64(folded);
    }
}

impl CacheKey for LookupKey {
    fn key_text(&self) -> Cow<'_, str> {
        let profile = self.profile.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let kind = match self.kind {
            ItemKind::Report => "report",
            ItemKind::Dataset => "dataset",
        };
        format!("{profile}|{kind}|{}|{}", self.workspace, self.item).into()
    }
}

/// A looked-up item, valid until `expires` (fetch time plus the configured lifetime). Cloning
/// it (every hit does) is a reference-count increment.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    item: LookedUp,
    expires: OffsetDateTime,
}

#[derive(Debug, Clone)]
enum LookedUp {
    Report(Arc<Report>),
    Dataset(Arc<Dataset>),
}

impl Expiring for Lookup {
    fn expires_on(&self) -> OffsetDateTime {
        self.expires
    }
}

/// The shared-store form: `{"r" or "d": item, "e": expires, "f": fetched}`.
#[derive(Serialize)]
struct StoredRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<&'a Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    d: Option<&'a Dataset>,
    e: i64,
    f: i64,
}

#[derive(Deserialize)]
struct Stored {
    r: Option<Report>,
    d: Option<Dataset>,
    e: i64,
    f: i64,
}

impl Storable for Lookup {
    fn to_bytes(&self, fetched_at: OffsetDateTime) -> Vec<u8> {
        let (r, d) = match &self.item {
            LookedUp::Report(report) => (Some(&**report), None),
            LookedUp::Dataset(dataset) => (None, Some(&**dataset)),
        };
        let stored = StoredRef { r, d, e: self.expires.unix_timestamp(), f: fetched_at.unix_timestamp() };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8]) -> Option<(Self, OffsetDateTime)> {
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        let item = match (stored.r, stored.d) {
            (Some(report), None) => LookedUp::Report(Arc::new(report)),
            (None, Some(dataset)) => LookedUp::Dataset(Arc::new(dataset)),
            _ => return None,
        };
        let expires = OffsetDateTime::from_unix_timestamp(stored.e).ok()?;
        Some((Lookup { item, expires }, OffsetDateTime::from_unix_timestamp(stored.f).ok()?))
    }
}

impl<'a> PowerBiView<'a> {
    /// The report, from the lookup cache when it is on and holds it.
    pub(crate) async fn lookup_report(self, workspace: WorkspaceId, report: ReportId) -> Result<Arc<Report>> {
        // The path is formatted only when the lookup is sent, never on a hit.
        let looked_up = self
            .lookup(ItemKind::Report, workspace, report.guid(), async move {
                let path = format!("v1.0/myorg/groups/{workspace}/reports/{report}");
                self.get_json::<Report>(path, "report").await.map(|r| LookedUp::Report(Arc::new(r)))
            })
            .await?;
        match looked_up {
            LookedUp::Report(report) => Ok(report),
            LookedUp::Dataset(_) => Err(wrong_kind()),
        }
    }

    /// The report if the lookup cache holds it fresh: no future, no await. `None` when the cache
    /// is off, the view refreshes, or the entry is missing or due.
    pub(crate) fn cached_report(self, workspace: WorkspaceId, report: ReportId) -> Option<Arc<Report>> {
        let (cache, _) = self.inner.lookup_cache.as_ref().filter(|_| !self.options.refresh)?;
        let key = LookupKey { profile: self.options.profile, kind: ItemKind::Report, workspace, item: report.guid() };
        match cache.fresh(&key, Need::Valid)?.item {
            LookedUp::Report(report) => Some(report),
            LookedUp::Dataset(_) => None,
        }
    }

    /// Forgets this view's cached lookup of the report, here and in the shared store (after a
    /// rebind, the cached report names the dataset it no longer uses). Nothing when the cache
    /// is off.
    pub(crate) async fn forget_report(self, workspace: WorkspaceId, report: ReportId) {
        let Some((cache, _)) = &self.inner.lookup_cache else { return };
        let key = LookupKey { profile: self.options.profile, kind: ItemKind::Report, workspace, item: report.guid() };
        cache.evict_if(&cache.slot(&key), |_| true).await;
    }

    /// The dataset, from the lookup cache when it is on and holds it.
    pub(crate) async fn lookup_dataset(self, workspace: WorkspaceId, dataset: DatasetId) -> Result<Arc<Dataset>> {
        let looked_up = self
            .lookup(ItemKind::Dataset, workspace, dataset.guid(), async move {
                let path = format!("v1.0/myorg/groups/{workspace}/datasets/{dataset}");
                self.get_json::<Dataset>(path, "dataset").await.map(|d| LookedUp::Dataset(Arc::new(d)))
            })
            .await?;
        match looked_up {
            LookedUp::Dataset(dataset) => Ok(dataset),
            LookedUp::Report(_) => Err(wrong_kind()),
        }
    }

    async fn lookup(
        self,
        kind: ItemKind,
        workspace: WorkspaceId,
        item: Guid,
        fetch: impl std::future::Future<Output = Result<LookedUp>>,
    ) -> Result<LookedUp> {
        let Some((cache, lifetime)) = &self.inner.lookup_cache else {
            return fetch.await;
        };
        let clock = &self.inner.http.clock;
        let need = if self.options.refresh { Need::FetchedSince(clock.now()) } else { Need::Valid };
        let key = LookupKey { profile: self.options.profile, kind, workspace, item };
        let lifetime = time::Duration::try_from(*lifetime).unwrap_or(time::Duration::MAX);
        let lookup = cache
            .get_or_fetch(&key, need, || async move {
                let item = fetch.await?;
                Ok(Lookup { item, expires: clock.now().saturating_add(lifetime) })
            })
            .await?;
        Ok(lookup.item)
    }
}

/// A shared store entry of the other kind under a key (only a store written by something else
/// could hold one): an error, never a panic.
fn wrong_kind() -> crate::Error {
    crate::Error::unusable_answer(crate::powerbi::models::SERVICE, "the lookup cache held an item of another kind")
}

/// The shared tier's form of a lookup reads back what the live service answered, field for
/// field (the recorded answers in tests/fixtures/live/powerbi/, sources in its SOURCES.md).
#[cfg(test)]
mod tests {
    use super::*;

    /// The body of a recording, read at run time (the fixtures are not in the package, so the
    /// crate must build without them).
    fn body(name: &str) -> String {
        let path = format!("{}/tests/fixtures/live/powerbi/{name}", env!("CARGO_MANIFEST_DIR"));
        let recording = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        recording.split_once("\n\n").map_or(String::new(), |(_, body)| body.to_owned())
    }

    #[test]
    fn stored_lookups_of_live_answers_read_back_equal() {
        let at = time::macros::datetime!(2026-12-02 19:00 UTC);
        let reports = ["get-report-in-group.dagster.http", "get-report-in-group.paginated.synthetic.http"];
        for recording in reports {
            let report: Report = serde_json::from_str(&body(recording)).unwrap();
            let lookup = Lookup { item: LookedUp::Report(Arc::new(report.clone())), expires: at };
            let (back, fetched) = Lookup::from_bytes(&lookup.to_bytes(at)).unwrap();
            assert!(matches!(&back.item, LookedUp::Report(r) if **r == report), "{back:?}");
            assert_eq!((back.expires, fetched), (at, at));
        }
        let datasets = ["get-dataset-in-group.dagster.http", "get-dataset-in-group.rls.learn.http"];
        for recording in datasets {
            let dataset: Dataset = serde_json::from_str(&body(recording)).unwrap();
            let lookup = Lookup { item: LookedUp::Dataset(Arc::new(dataset.clone())), expires: at };
            let (back, _) = Lookup::from_bytes(&lookup.to_bytes(at)).unwrap();
            assert!(matches!(&back.item, LookedUp::Dataset(d) if **d == dataset), "{back:?}");
        }
        assert!(Lookup::from_bytes(br#"{"e":0,"f":0}"#).is_none(), "neither a report nor a dataset");
    }
}
