//! Training a config version's model: a bounded sample of a job run's documents compared with
//! the rows the index proposes for them, reviewers' decisions as labels, EM in the scoring core
//! (`concord_scoring::matcher::train`). For a config's first run, the run then gets the model and
//! its chunks are planned.

use std::collections::BTreeMap;

use concord_models::documents::Document;
use concord_models::ids::{JobRunId, MatchingModelId, MatchingRunId, OrganizationId};
use concord_models::job_runs::JobRun;
use concord_models::match_results::{MatchResult, ReviewLabel, ReviewStatus};
use concord_models::matching_configs::{MatchingConfig, Scoring};
use concord_models::matching_models::MatchingModel;
use concord_models::matching_runs::{ConfigSnapshot, MatchingRun};
use concord_scoring::matcher::train::{sample_positions, DEFAULT_SAMPLE_DOCUMENTS};
use concord_scoring::matcher::{
    train, MatchModel, MatchScratch, MatchSpec, ReferenceIndex, TrainingOptions,
};
use concord_service::JobError;
use diesel_async::AsyncPgConnection;

use crate::scoring::document_values;
use concord_runs::engine::{RunFailure, RunRow};

use crate::{MatchingJobHandler, Prepared};

/// The most reviewers' decisions one training reads (the newest).
pub const MAX_LABELS: i64 = 20_000;

impl MatchingJobHandler {
    /// Trains the model `model_id` (for the run `run_id`, when a config's first run asked for
    /// it).
    pub(crate) async fn train(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        model_id: MatchingModelId,
        run_id: Option<MatchingRunId>,
    ) -> Result<(), JobError> {
        let row = MatchingModel::find_by_id(conn, model_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("model {model_id} does not exist")))?;
        if row.organization_id != organization_id {
            return Err(JobError::Permanent(format!(
                "model {model_id} does not belong to organization {organization_id}"
            )));
        }
        // A first run trains on its own snapshot; a training on request, on the config as it is
        // (the version it was requested for).
        let (snapshot, run) = match run_id {
            Some(run_id) => {
                let Some(run) = self.take_up(conn, organization_id, run_id, None).await? else {
                    return Ok(());
                };
                (run.config_snapshot.0.clone(), Some(run))
            }
            None => {
                let config = MatchingConfig::find(conn, organization_id, row.config_id).await?;
                match config {
                    Some(config) if config.version == row.config_version => {
                        (snapshot_of(&config), None)
                    }
                    Some(config) => {
                        let reason = format!(
                            "the config changed (version {} since version {} was to be trained); train it again",
                            config.version, row.config_version
                        );
                        MatchingModel::fail(conn, model_id, &reason).await?;
                        return Ok(());
                    }
                    None => {
                        MatchingModel::fail(conn, model_id, "the config was deleted").await?;
                        return Ok(());
                    }
                }
            }
        };
        let trained = self
            .fit(conn, organization_id, &snapshot, row.job_run_id)
            .await?;
        let model = match trained {
            Ok(model) => model,
            Err(RunFailure(reason)) => {
                MatchingModel::fail(conn, model_id, &reason).await?;
                return match run {
                    Some(run) => <MatchingRun as RunRow>::fail(conn, run.id, &reason).await,
                    None => Ok(()),
                };
            }
        };
        MatchingModel::store(conn, model_id, &model).await?;
        tracing::info!(
            %model_id,
            config_id = %row.config_id,
            version = row.config_version,
            documents = model.training.documents,
            pairs = model.training.pairs,
            labels = model.training.labelled_matches + model.training.labelled_non_matches,
            iterations = model.training.iterations,
            converged = model.training.converged,
            lambda = model.lambda,
            "model trained"
        );
        if let Some(run) = run {
            MatchingRun::set_model(conn, run.id, &model).await?;
            let chunks = concord_runs::chunks::enqueue_matching_chunks(
                conn,
                run.organization_id,
                run.id,
                run.rows_total,
                snapshot.chunk_size,
            )
            .await?;
            tracing::info!(run_id = %run.id, chunks, "run trained its model; chunks planned");
        }
        Ok(())
    }

    /// Fits a model of `snapshot`'s mappings on a sample of the job run's documents and on the
    /// labels of the config's reviewed results.
    async fn fit(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        snapshot: &ConfigSnapshot,
        job_run_id: JobRunId,
    ) -> Result<Result<MatchModel, RunFailure>, JobError> {
        let Prepared { spec, index } = match self.compile(conn, snapshot, None).await? {
            Ok(prepared) => prepared,
            Err(failure) => return Ok(Err(failure)),
        };
        let Some(job) = JobRun::find(conn, organization_id, job_run_id).await? else {
            return Ok(Err(RunFailure(format!(
                "the job run {job_run_id} to learn from was deleted"
            ))));
        };
        let total = usize::try_from(job.document_count).map_err(crate::permanent)?;
        let positions: Vec<i32> = sample_positions(total, DEFAULT_SAMPLE_DOCUMENTS)
            .into_iter()
            .map(i32::try_from)
            .collect::<Result<_, _>>()
            .map_err(crate::permanent)?;
        let sample = Document::at_positions(conn, job_run_id, &positions).await?;
        let labels = MatchResult::review_labels(conn, snapshot.config_id, MAX_LABELS).await?;
        let mut by_job: BTreeMap<JobRunId, Vec<i32>> = BTreeMap::new();
        for label in &labels {
            by_job
                .entry(label.job_run_id)
                .or_default()
                .push(label.document_position);
        }
        let mut labelled_documents: BTreeMap<(JobRunId, i32), Document> = BTreeMap::new();
        for (job, positions) in by_job {
            for document in Document::at_positions(conn, job, &positions).await? {
                labelled_documents.insert((job, document.position), document);
            }
        }
        let model = tokio::task::spawn_blocking(move || {
            fit_model(&spec, &index, &sample, &labels, &labelled_documents)
        })
        .await
        .map_err(|error| JobError::Permanent(format!("training panicked: {error}")))?;
        Ok(Ok(model))
    }
}

/// The EM fit itself (CPU only).
fn fit_model(
    spec: &MatchSpec,
    index: &ReferenceIndex,
    sample: &[Document],
    labels: &[ReviewLabel],
    labelled_documents: &BTreeMap<(JobRunId, i32), Document>,
) -> MatchModel {
    let threads = crate::cores();
    let owned: Vec<_> = sample.iter().map(|d| document_values(spec, d)).collect();
    let values: Vec<Vec<Option<&str>>> = owned
        .iter()
        .map(|o| o.iter().map(|v| v.as_deref()).collect())
        .collect();
    let mut set = index.training_set(spec, &values, threads);
    let mut scratch = MatchScratch::default();
    // A label names a row: the approved match, or the best candidate a reviewer rejected.
    let labelled_rows: Vec<Option<(&str, bool)>> = labels
        .iter()
        .map(|label| match label.status {
            ReviewStatus::Approved => label
                .matched_reference_row_id
                .as_deref()
                .map(|row| (row, true)),
            ReviewStatus::Rejected => label
                .candidates
                .0
                .first()
                .map(|c| (c.reference_row_id.as_str(), false)),
            ReviewStatus::Unreviewed | ReviewStatus::NeedsReview => None,
        })
        .collect();
    let ids: Vec<&str> = labelled_rows.iter().flatten().map(|(id, _)| *id).collect();
    let rows = index.find_rows(&ids);
    let mut rows = rows.into_iter();
    for (label, row) in labels.iter().zip(&labelled_rows) {
        let Some((_, matched)) = row else {
            continue;
        };
        let Some(Some(row)) = rows.next() else {
            continue;
        };
        let Some(document) = labelled_documents.get(&(label.job_run_id, label.document_position))
        else {
            continue;
        };
        let owned = document_values(spec, document);
        let values: Vec<Option<&str>> = owned.iter().map(|v| v.as_deref()).collect();
        index.training_pairs(spec, &values, &mut scratch, &mut set);
        let comparison = index.compare_pair(spec, &values, row, &mut scratch);
        set.push_pair(row, &comparison, Some(*matched));
    }
    let options = TrainingOptions {
        threads,
        ..TrainingOptions::default()
    };
    train(spec, &set, &options)
}

/// What a run would snapshot of a config (for a training on request: always probabilistic).
fn snapshot_of(config: &MatchingConfig) -> ConfigSnapshot {
    ConfigSnapshot {
        scoring: Scoring::Probabilistic,
        ..ConfigSnapshot::of(config, 1, None)
    }
}
