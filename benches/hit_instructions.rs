//! Instruction counts of cache hits, for comparing builds on a busy machine: run it under
//! callgrind twice with different hit counts and divide the difference, so start-up cancels
//! out (BENCHMARKS.md, "Instructions per hit"). Criterion's `cache_hits` times the same paths.
//!
//! ```text
//! cargo bench --bench hit_instructions --no-run
//! valgrind --tool=callgrind target/release/deps/hit_instructions-* 21000 typed   # then 1000
//! ```
//!
//! Arguments: a hit count (default 1000) and one of `entra` (a cached Entra token),
//! `typed` (a report's embed token with typed ids held by the caller), `text` (the same,
//! parsing both ids from text on every call, as the string API before typed ids did) or
//! `profile` (`typed` through a profile's view). Without arguments (`cargo bench` runs every
//! bench), it does 1000 `typed` hits and exits.

use powerbi_embed::testing::FakeServices;
use powerbi_embed::{EffectiveIdentity, GenerateTokenRequest, PowerBiClient, ProfileId, RefreshPolicy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let hits: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let mode = args.iter().find(|a| a.parse::<u64>().is_err()).map_or("typed", String::as_str);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let fake = FakeServices::start().await;
        if mode == "entra" {
            let aad = fake.aad_client();
            aad.token().await.expect("the first call fills the cache");
            for _ in 0..hits {
                std::hint::black_box(aad.token().await.expect("a hit"));
            }
            return;
        }
        let client = PowerBiClient::builder(fake.aad_client())
            .api_base(fake.api_base())
            .embed_token_cache(RefreshPolicy::default())
            .build()
            .expect("client");
        let (workspace, report) = (fake.workspace_id(), fake.report_id());
        let (workspace_text, report_text) = (workspace.to_string(), report.to_string());
        let profile: ProfileId = "a7c2b6e1-4c9d-4e53-9f3a-0d1e2f3a4b5c".parse().expect("a profile id");
        let request = GenerateTokenRequest::report_view()
            .identity(EffectiveIdentity::new("customer@contoso.com").role("Viewer").datasets([fake.dataset_id()]))
            .lifetime_minutes(30)
            .build()
            .expect("valid request");
        client.workspace(workspace).report(report).embed_token(&request).await.expect("fills the cache");
        client.as_profile(profile).workspace(workspace).report(report).embed_token(&request).await.expect("fills it");
        for _ in 0..hits {
            let token = match mode {
                "typed" => client.workspace(workspace).report(report).embed_token(&request).await,
                "text" => {
                    let (w, r) = (workspace_text.parse().expect("id"), report_text.parse().expect("id"));
                    client.workspace(w).report(r).embed_token(&request).await
                }
                "profile" => client.as_profile(profile).workspace(workspace).report(report).embed_token(&request).await,
                other => panic!("unknown mode {other:?}: entra, typed, text or profile"),
            };
            std::hint::black_box(token.expect("a hit"));
        }
        assert_eq!(fake.generate_token_count(), 2, "every call after the first of each profile is a hit");
    });
}
