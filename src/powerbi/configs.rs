//! Configs from one multi-resource (V2) token: [`PowerBiView::embed_configs`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::{EmbedConfig, Permissions};
use crate::powerbi::models::ReportType;
use crate::powerbi::request::{GenerateTokenRequestV2, Located};
use crate::powerbi::view::PowerBiView;

impl PowerBiView<'_> {
    /// One multi-resource token (V2) and a ready config for every item the request located:
    /// each report added with [`report_in`](crate::GenerateTokenRequestV2Builder::report_in) or
    /// [`edit_report_in`](crate::GenerateTokenRequestV2Builder::edit_report_in) (a Power BI or a
    /// paginated report), and each dataset added with
    /// [`create_report_on`](crate::GenerateTokenRequestV2Builder::create_report_on) (a `create`
    /// config), in the order they were added. All configs share the one token. The token and
    /// every lookup run concurrently (lookups through the lookup cache when it is on).
    ///
    /// Each report config carries the rights the token gives it: `permissions` Read, or
    /// ReadWrite for an editable report (All when the request names target workspaces, where
    /// "Save as" can save), with the request's `viewMode`; a paginated report's config carries
    /// neither.
    ///
    /// ```no_run
    /// # use powerbi_embed::{GenerateTokenRequestV2, PowerBiClient, ReportId, DatasetId, WorkspaceId};
    /// # async fn f(client: &PowerBiClient, w: WorkspaceId, sales: ReportId, invoices: ReportId, model: DatasetId)
    /// #     -> powerbi_embed::Result<()> {
    /// let request = GenerateTokenRequestV2::builder()
    ///     .report_in(w, sales)
    ///     .report_in(w, invoices) // a paginated report on the same model
    ///     .dataset(model)
    ///     .build()?;
    /// let configs = client.view().embed_configs(&request).await?; // one GenerateToken
    /// assert_eq!(configs.len(), 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `reports` when the request located no item (use
    /// `report_in`, not `report`, for configs), before any call; otherwise as
    /// [`ReportHandle::embed_config`](crate::ReportHandle::embed_config).
    pub async fn embed_configs(self, request: &GenerateTokenRequestV2) -> Result<Vec<EmbedConfig>> {
        let plan = request.configs();
        if plan.located.is_empty() {
            return Err(Error::invalid(
                "reports",
                "no item to make a config for: add reports with report_in(workspace, report) or datasets with \
                 create_report_on(workspace, dataset)",
            ));
        }
        let lookups = join_all(plan.located.iter().map(|&located| self.config_without_token(located)).collect());
        let (lookups, token) = tokio::join!(lookups, self.embed_token(request));
        let token = token?;
        lookups
            .into_iter()
            .map(|looked_up| {
                let (config, rights) = looked_up?;
                let config = config(token.clone());
                Ok(match rights {
                    Rights::AsMade => config,
                    Rights::Report { edit } => config
                        .with_permissions(Permissions::for_report(edit, edit && plan.save_as))
                        .with_view_mode(if edit { plan.view_mode.unwrap_or_default() } else { Default::default() }),
                })
            })
            .collect()
    }

    /// The lookup for one located item, as a config waiting for its token.
    async fn config_without_token(self, located: Located) -> Result<(ConfigFor, Rights)> {
        match located {
            Located::Report { workspace, report, edit } => {
                let found = self.lookup_report(workspace, report).await?;
                let url = non_empty_url(found.embed_url.clone(), "report")?;
                let rights = if found.report_type == Some(ReportType::Paginated) {
                    Rights::AsMade
                } else {
                    Rights::Report { edit }
                };
                let id = found.id;
                Ok((Box::new(move |token| EmbedConfig::report(id, url, token)), rights))
            }
            Located::Creation { workspace, dataset } => {
                let found = self.lookup_dataset(workspace, dataset).await?;
                let url = non_empty_url(
                    found.create_report_embed_url.clone().unwrap_or_default(),
                    "dataset (createReportEmbedURL)",
                )?;
                Ok((Box::new(move |token| EmbedConfig::report_creation(dataset, url, token)), Rights::AsMade))
            }
        }
    }
}

type ConfigFor = Box<dyn FnOnce(crate::powerbi::models::EmbedToken) -> EmbedConfig + Send>;

enum Rights {
    /// The config as made: a paginated report (read-only, no `permissions` or `viewMode`) or a
    /// report creation (`permissions` Create, set by its constructor).
    AsMade,
    /// A Power BI report: the token's rights on it and the request's view mode.
    Report { edit: bool },
}

/// Runs `futures` concurrently and returns their outputs in order (at most 100 here: the V2
/// limits are 50 reports and 50 datasets).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut all = true;
        for (future, slot) in pending.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(output) => *slot = Some(output),
                    Poll::Pending => all = false,
                }
            }
        }
        if all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().map(|output| output.expect("every future finished")).collect()
}
