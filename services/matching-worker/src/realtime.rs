//! Real-time matches: the worker answers the gateway's one-document requests
//! (`concord_runs::realtime`) from the reference indexes it keeps warm for its runs — the same
//! cache, the same compiled spec, the same scoring of a document as a run's chunk
//! ([`crate::scoring::score_document`]). A config whose index this worker has not built yet is
//! answered `warming` at once while the index builds in the background; nothing waits for it.

use std::sync::Arc;

use concord_models::database::connection;
use concord_models::ids::{MatchingConfigId, MatchingModelId, ReferenceDatasetId};
use concord_models::matching_configs::{MatchingConfig, Scoring};
use concord_models::matching_models::MatchingModel;
use concord_models::matching_runs::ConfigSnapshot;
use concord_models::reference_datasets::ReferenceDataset;
use concord_models::DbPool;
use concord_queue::rpc::{self, ServeConfig};
use concord_runs::cache::OnceCache;
use concord_runs::realtime::{
    RealtimeDecision, RealtimeMatch, RealtimeMatchReply, RealtimeMatchRequest, Refusal,
};
use concord_scoring::matcher::{Decision, MatchSpec};
use concord_service::{JobError, WorkerContext};

use crate::index_cache::IndexCache;
use crate::scoring::{present, score_one};

/// How long a caller is told to wait before asking again while an index builds, in ms.
const WARMING_RETRY_MS: u64 = 1_000;
/// Compiled specs kept (one per config version and model).
const SPEC_CAPACITY: usize = 64;
/// Requests answered at once by one worker.
const CONCURRENCY: u16 = 32;

/// A config version as it is compiled: its model and its dataset are part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpecKey {
    config: MatchingConfigId,
    version: i32,
    model: Option<MatchingModelId>,
    dataset: ReferenceDatasetId,
}

/// Answers real-time matches (see the module documentation).
pub struct RealtimeMatcher {
    pool: DbPool,
    indexes: Arc<IndexCache>,
    specs: OnceCache<SpecKey, MatchSpec>,
}

impl RealtimeMatcher {
    pub fn new(pool: DbPool, indexes: Arc<IndexCache>) -> Self {
        Self {
            pool,
            indexes,
            specs: OnceCache::new(SPEC_CAPACITY),
        }
    }

    /// Serves the namespace's request queue until the worker stops.
    pub fn spawn(self: Arc<Self>, context: &WorkerContext) {
        let config = ServeConfig {
            amqp_url: context.amqp_url.clone(),
            connection_name: format!("{}-realtime", crate::NAME),
            queue: concord_runs::realtime::request_queue(context.topology.namespace()),
            concurrency: CONCURRENCY,
            queue_expires_ms: context.topology.queue_expires_ms,
        };
        let handler = Arc::new(move |request: Vec<u8>| {
            let matcher = Arc::clone(&self);
            async move { matcher.answer(&request).await }
        });
        tokio::spawn(rpc::serve(config, handler, context.shutdown.clone()));
    }

    /// The serialised reply to a serialised request.
    pub async fn answer(&self, request: &[u8]) -> Vec<u8> {
        let reply = match serde_json::from_slice::<RealtimeMatchRequest>(request) {
            Ok(request) => self.reply(request).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "a real-time match failed");
                refused(Refusal::Unavailable, error.to_string())
            }),
            Err(error) => refused(
                Refusal::Invalid,
                format!("the request is not a real-time match request: {error}"),
            ),
        };
        // A reply is plain data (strings, numbers, lists); serialising it cannot fail, and if
        // it did the caller would hear a timeout rather than a wrong answer.
        serde_json::to_vec(&reply).unwrap_or_default()
    }

    async fn reply(&self, request: RealtimeMatchRequest) -> Result<RealtimeMatchReply, JobError> {
        let mut conn = connection(&self.pool).await?;
        let Some(config) =
            MatchingConfig::find(&mut conn, request.organization_id, request.config_id).await?
        else {
            return Ok(refused(
                Refusal::ConfigNotFound,
                format!("no matching config `{}`", request.config_id),
            ));
        };
        let model = match config.scoring {
            Scoring::Weighted => None,
            Scoring::Probabilistic => {
                match MatchingModel::find_for(&mut conn, config.id, config.version).await? {
                    Some(model @ MatchingModel { model: Some(_), .. }) => Some(model),
                    _ => {
                        return Ok(refused(
                            Refusal::ModelNotTrained,
                            format!(
                                "version {} of config `{}` has no trained model yet: start a run (it trains one) or train it",
                                config.version, config.id
                            ),
                        ))
                    }
                }
            }
        };
        let Some(dataset) =
            ReferenceDataset::find_by_id(&mut conn, config.reference_data_id).await?
        else {
            return Ok(refused(
                Refusal::ReferenceDataDeleted,
                format!(
                    "the reference dataset `{}` of this config was deleted",
                    config.reference_data_id
                ),
            ));
        };
        drop(conn);
        let columns: Vec<String> = dataset.columns().iter().map(|c| c.name.clone()).collect();
        let key = SpecKey {
            config: config.id,
            version: config.version,
            model: model.as_ref().map(|m| m.id),
            dataset: dataset.id,
        };
        let snapshot = ConfigSnapshot::of(&config, 1, None);
        let compiled = self
            .specs
            .get_or_try_init(key, || async {
                let trained = model.as_ref().and_then(|m| m.model.as_ref()).map(|m| &m.0);
                crate::compile_with_model(&snapshot, &columns, trained)
            })
            .await;
        let spec = match compiled {
            Ok(spec) => spec,
            Err(reason) => return Ok(refused(Refusal::Invalid, reason)),
        };
        let Some(index) = self.indexes.ready(&dataset, &spec) else {
            let (indexes, pool) = (Arc::clone(&self.indexes), self.pool.clone());
            tokio::spawn(async move {
                if let Err(error) = indexes.get_or_build(&pool, &dataset, &columns, &spec).await {
                    tracing::warn!(%error, "building an index for real-time matches failed");
                }
            });
            return Ok(RealtimeMatchReply::Warming {
                retry_after_ms: WARMING_RETRY_MS,
            });
        };
        let version = config.version;
        let values = request.values;
        let scored = tokio::task::spawn_blocking(move || {
            let aligned: Vec<Option<&str>> = spec
                .fields()
                .iter()
                .map(|field| values.get(&field.source).and_then(|v| present(v)))
                .collect();
            score_one(&spec, &index, &aligned)
        })
        .await
        .map_err(|error| JobError::Permanent(format!("scoring a document panicked: {error}")))?;
        Ok(RealtimeMatchReply::Scored(RealtimeMatch {
            config_version: version,
            decision: match scored.decision {
                Decision::Matched => RealtimeDecision::Matched,
                Decision::Review => RealtimeDecision::Review,
                Decision::Unmatched => RealtimeDecision::Unmatched,
            },
            matched_reference_row_id: scored.matched,
            confidence: scored.confidence,
            ambiguous: scored.ambiguous,
            match_weight: scored.match_weight,
            evidence: scored.evidence,
            candidates: scored.candidates,
            candidates_considered: scored.candidates_considered,
        }))
    }
}

fn refused(refusal: Refusal, message: String) -> RealtimeMatchReply {
    RealtimeMatchReply::Refused { refusal, message }
}
