//! `.pbix` imports: [`WorkspaceHandle::import_pbix`] uploads a file (multipart, or through a
//! temporary upload location for large files) and polls the import until it is done;
//! [`ImportHandle`] reads one import.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{DatasetId, Guid, ImportId, ReportId};
use crate::powerbi::call::{ApiBody, ApiRequest};
use crate::powerbi::failure::OperationFailed;
use crate::powerbi::handles::profile::check_name;
use crate::powerbi::handles::provision::{poll, DEFAULT_POLL_INTERVAL};
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::SERVICE;

/// Files above this size go through a temporary upload location (the service's limit for a
/// multipart upload is 1 GB).
pub const LARGE_PBIX: u64 = 1 << 30;
/// Default time an import may take in all before [`ImportPbixBuilder::send`] gives up.
const DEFAULT_IMPORT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The longest import name this crate sends.
const MAX_IMPORT_NAME: usize = 256;

/// Where the `.pbix` comes from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PbixSource {
    /// A file, read when the import is sent.
    Path(PathBuf),
    /// The file's bytes.
    Bytes(Bytes),
}

impl std::fmt::Debug for PbixSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PbixSource::Path(path) => f.debug_tuple("Path").field(path).finish(),
            PbixSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

impl PbixSource {
    /// A file on disk.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        PbixSource::Path(path.into())
    }

    /// The file's content.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        PbixSource::Bytes(bytes.into())
    }

    /// The file's stem (`sales` for `reports/sales.pbix`), for a default import name.
    pub(crate) fn stem(&self) -> Option<String> {
        match self {
            PbixSource::Path(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            PbixSource::Bytes(_) => None,
        }
    }

    async fn load(&self) -> Result<Bytes> {
        match self {
            PbixSource::Bytes(bytes) => Ok(bytes.clone()),
            PbixSource::Path(path) => tokio_read(path).await.map(Bytes::from),
        }
    }
}

/// Reads a file without blocking the runtime's worker: on tokio's blocking pool when a tokio
/// runtime is running (any flavour; `spawn_blocking` needs only the `rt` feature the crate
/// already has), in place otherwise.
async fn tokio_read(path: &std::path::Path) -> Result<Vec<u8>> {
    let owned = path.to_owned();
    let read = move || std::fs::read(&owned);
    let outcome = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(read).await.unwrap_or_else(|joined| Err(std::io::Error::other(joined))),
        Err(_) => read(),
    };
    outcome.map_err(|e| Error::invalid("pbix", format!("cannot read {}: {e}", path.display())))
}

/// What to do when the workspace already has a report or dataset of the import's name
/// (`nameConflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NameConflict {
    /// Fail the import (the service's default).
    Abort,
    /// Replace the existing items; fails when there are none.
    Overwrite,
    /// Replace the existing items, or create them. The default here: re-running an import
    /// then gives the same items, never duplicates.
    #[default]
    CreateOrOverwrite,
    /// Give the new items a unique name.
    GenerateUniqueName,
    /// Import anyway, beside the existing items.
    Ignore,
}

impl NameConflict {
    fn wire(self) -> &'static str {
        match self {
            NameConflict::Abort => "Abort",
            NameConflict::Overwrite => "Overwrite",
            NameConflict::CreateOrOverwrite => "CreateOrOverwrite",
            NameConflict::GenerateUniqueName => "GenerateUniqueName",
            NameConflict::Ignore => "Ignore",
        }
    }
}

/// The state of an import.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum ImportState {
    /// Still running.
    Publishing,
    /// Done: the reports and datasets are there.
    Succeeded,
    /// Failed.
    Failed,
    /// A state this crate does not know.
    #[serde(other)]
    Unknown,
}

/// An item an import made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImportedItem<Id> {
    /// Its id.
    pub id: Id,
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// An import, as `GET .../imports/{importId}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Import {
    /// The import id.
    pub id: ImportId,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its state (absent right after the upload).
    #[serde(default)]
    pub import_state: Option<ImportState>,
    /// The reports it made.
    #[serde(default)]
    pub reports: Vec<ImportedItem<ReportId>>,
    /// The datasets (semantic models) it made.
    #[serde(default)]
    pub datasets: Vec<ImportedItem<DatasetId>>,
}

/// What a finished import gives embedding: the report and the semantic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The import id.
    pub import: ImportId,
    /// The report.
    pub report: ReportId,
    /// The semantic model (dataset).
    pub dataset: DatasetId,
}

#[derive(Deserialize)]
struct Accepted {
    id: ImportId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadLocation {
    // The live service answers camelCase; the swagger says `Url`, `ExpirationTime`.
    #[serde(alias = "Url")]
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileUrlBody<'u> {
    file_url: &'u str,
}

impl<'a> WorkspaceHandle<'a> {
    /// Imports a `.pbix` file into this workspace as report and semantic model `name`
    /// (`POST .../imports?datasetDisplayName=<name>.pbix&nameConflict=..`), then polls it to the
    /// end.
    pub fn import_pbix(self, name: impl Into<String>, source: PbixSource) -> ImportPbixBuilder<'a> {
        ImportPbixBuilder {
            workspace: self,
            name: name.into(),
            source,
            name_conflict: NameConflict::default(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: DEFAULT_IMPORT_TIMEOUT,
            large_file: LARGE_PBIX,
        }
    }

    /// An import in this workspace.
    pub fn import(self, id: ImportId) -> ImportHandle<'a> {
        ImportHandle { workspace: self, id }
    }
}

/// One import, from [`WorkspaceHandle::import`].
#[derive(Debug, Clone, Copy)]
pub struct ImportHandle<'a> {
    workspace: WorkspaceHandle<'a>,
    id: ImportId,
}

impl ImportHandle<'_> {
    /// The import id.
    pub fn id(self) -> ImportId {
        self.id
    }

    /// The import and its state (`GET .../imports/{importId}`).
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn get(self) -> Result<Import> {
        let path = self.workspace.path(&format!("/imports/{}", self.id));
        self.workspace.view().send_json(ApiRequest::new(Method::GET, path), "import").await
    }
}

/// A `.pbix` import, from [`WorkspaceHandle::import_pbix`].
#[derive(Debug, Clone)]
#[must_use = "call .send().await"]
pub struct ImportPbixBuilder<'a> {
    workspace: WorkspaceHandle<'a>,
    name: String,
    source: PbixSource,
    name_conflict: NameConflict,
    poll_interval: Duration,
    timeout: Duration,
    large_file: u64,
}

impl ImportPbixBuilder<'_> {
    /// What to do when items of that name exist (default
    /// [`CreateOrOverwrite`](NameConflict::CreateOrOverwrite)).
    pub fn name_conflict(mut self, choice: NameConflict) -> Self {
        self.name_conflict = choice;
        self
    }

    /// The wait between two polls of the import (default 2 s), on the client's clock.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long the import may take in all, upload and polls included (default 10 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Files larger than this go through a temporary upload location instead of a multipart
    /// body (default [`LARGE_PBIX`], 1 GB).
    pub fn large_file_threshold(mut self, bytes: u64) -> Self {
        self.large_file = bytes;
        self
    }

    /// Uploads the file and polls the import until `Succeeded`, with its own timeout. The file
    /// is read into memory whole (a large one too), so a retried upload resends the same bytes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `name` (blank, too long, control characters) or `pbix`
    /// (unreadable or empty file) before any request; [`Error::OperationFailed`] when the import
    /// fails or succeeds without a report and a dataset; [`Error::Transport`] of kind
    /// [`Deadline`](crate::TransportErrorKind::Deadline) after the timeout; service errors as
    /// for [`WorkspaceHandle::get`] (a 429 `ImportThrottlerCode` is retried after its
    /// `Retry-After`).
    pub async fn send(self) -> Result<Imported> {
        let name = check_name("name", &self.name, MAX_IMPORT_NAME)?;
        let file = self.source.load().await?;
        if file.is_empty() {
            return Err(Error::invalid("pbix", "the file is empty"));
        }
        let view = self.workspace.view();
        let display_name =
            if name.to_ascii_lowercase().ends_with(".pbix") { name.to_owned() } else { format!("{name}.pbix") };
        let request = ApiRequest::new(Method::POST, self.workspace.path("/imports"))
            .query("datasetDisplayName", display_name.clone())
            .query("nameConflict", self.name_conflict.wire());
        let request = if u64::try_from(file.len()).unwrap_or(u64::MAX) > self.large_file {
            let url = self.upload_large(&file).await?;
            request.json(&FileUrlBody { file_url: &url })?
        } else {
            let boundary = format!("----powerbi-embed-{}", Guid::new_random());
            let body = multipart(&boundary, &display_name, &file);
            ApiRequest { body: ApiBody::Multipart { boundary, body }, ..request }
        };
        let accepted: Accepted = view.send_json(request, "import").await?;
        tracing::info!(import = %accepted.id, workspace = %self.workspace.id(), "pbix uploaded; waiting for the import");
        let handle = self.workspace.import(accepted.id);
        poll(view, self.poll_interval, self.timeout, || async {
            let import = handle.get().await?;
            match import.import_state {
                Some(ImportState::Succeeded) => finished(import).map(Some),
                Some(ImportState::Failed) => {
                    Err(OperationFailed::error("import", accepted.id.to_string(), "Failed".into(), None))
                }
                _ => Ok(None),
            }
        })
        .await
    }

    /// `CreateTemporaryUploadLocation`, then the file `PUT` to the blob URL it gives.
    async fn upload_large(&self, file: &Bytes) -> Result<String> {
        let view = self.workspace.view();
        let location: UploadLocation = view
            .send_json(
                ApiRequest::new(Method::POST, self.workspace.path("/imports/createTemporaryUploadLocation")),
                "temporary upload location",
            )
            .await?;
        let url = url::Url::parse(&location.url)
            .map_err(|_| Error::unusable_answer(SERVICE, "the temporary upload location is not a URL"))?;
        // The blob URL carries its own shared access signature: no bearer token goes there.
        let reply = view
            .inner
            .http
            .execute("Azure Blob Storage", crate::http::Idempotency::Idempotent, |client| {
                client.put(url.clone()).header("x-ms-blob-type", "BlockBlob").body(file.clone())
            })
            .await?;
        if !reply.is_success() {
            return Err(reply.unexpected("Azure Blob Storage", format!("the upload answered HTTP {}", reply.status)));
        }
        Ok(location.url)
    }
}

/// The report and dataset of a succeeded import.
fn finished(import: Import) -> Result<Imported> {
    match (import.reports.first(), import.datasets.first()) {
        (Some(report), Some(dataset)) => Ok(Imported { import: import.id, report: report.id, dataset: dataset.id }),
        _ => Err(OperationFailed::error(
            "import",
            import.id.to_string(),
            "Succeeded".into(),
            Some("the import has no report or no dataset".into()),
        )),
    }
}

/// The `multipart/form-data` body of a file upload: one part, the file. Written by hand: the
/// format is a few lines, and reqwest's `multipart` feature would add crates to the tree.
fn multipart(boundary: &str, file_name: &str, file: &[u8]) -> Bytes {
    let file_name = file_name.replace(['"', '\r', '\n'], "_");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut body = Vec::with_capacity(head.len() + file.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(tail.as_bytes());
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_body_has_one_file_part() {
        let body = multipart("B", "sales.pbix", b"PK\x03\x04");
        assert_eq!(
            &body[..],
            &b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sales.pbix\"\r\nContent-Type: application/octet-stream\r\n\r\nPK\x03\x04\r\n--B--\r\n"[..]
        );
    }
}
