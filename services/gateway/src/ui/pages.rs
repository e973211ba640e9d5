//! The review UI's pages: the runs, a run (summary, histogram, review queue), a result (the
//! document beside its candidates, the evidence, the decision), and the decision and undo forms.
//! A decision is [`crate::matching::review::decide`], the same use case as the API's review
//! endpoint.

use std::collections::HashMap;
use std::fmt::Write as _;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{MatchResultId, MatchingConfigId, MatchingRunId};
use concord_models::match_results::{MatchResult, ReviewSetFilter};
use concord_models::matching_configs::MatchingConfig;
use concord_models::matching_models::{MatchingModel, MatchingModelStatus};
use concord_models::matching_runs::MatchingRun;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_models::resolution_runs::ResolutionRun;
use concord_models::review_sessions::ReviewSession;
use serde::Deserialize;

use super::session::Reviewer;
use super::{form, page, see_other, CsrfForm, UiError};
use crate::auth::Scope;
use crate::error::ApiError;
use crate::extract::path_id;
use crate::html::escape;
use crate::matching::review::{decide, ReviewDecision, ReviewNotes, ReviewRequest};
use crate::matching::view::RunProgressView;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/runs", web::get().to(runs))
        .route("/ui/runs/{id}", web::get().to(run))
        .route("/ui/runs/{id}/results/{result_id}", web::get().to(result))
        .route(
            "/ui/runs/{id}/results/{result_id}/decide",
            web::post().to(decide_result),
        )
        .route("/ui/undo", web::post().to(undo))
        .route("/ui/configs/{id}/model", web::get().to(config_model));
}

/// Runs on the runs page.
const RUNS_SHOWN: i64 = 100;
/// Candidates shown beside the document (and keys `1`–`5`).
const CANDIDATES_SHOWN: usize = 5;
/// Bins of the confidence histogram.
const BINS: usize = 20;

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

async fn runs(reviewer: Reviewer, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let mut conn = connection(&state.pool).await?;
    let runs = MatchingRun::list(
        &mut conn,
        reviewer.key.organization_id,
        None,
        None,
        RUNS_SHOWN,
    )
    .await?;
    let now = Utc::now();
    let active = runs.iter().any(|r| !r.status.has_ended());
    let mut body = String::from("<h1>Matching runs</h1>");
    if active {
        body.push_str("<div data-refresh=\"3\" hidden></div>");
    }
    if runs.is_empty() {
        body.push_str("<p>No matching runs yet.</p>");
    } else {
        body.push_str("<table class=\"runs\"><caption>Newest first; a running run's progress updates by itself.</caption><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Config</th><th scope=\"col\">Phase</th><th scope=\"col\">Progress</th><th scope=\"col\">Rate</th><th scope=\"col\">ETA</th><th scope=\"col\">Matched</th></tr></thead><tbody>");
        for run in &runs {
            let progress = RunProgressView::new(run, now);
            let _ = write!(
                body,
                "<tr><td><a href=\"/ui/runs/{id}\">{short}</a><br><small>{created}</small></td><td>{config}</td><td>{phase}</td><td><progress max=\"100\" value=\"{pct:.0}\" aria-label=\"progress\"></progress> {processed}/{total}</td><td>{rate}</td><td>{eta}</td><td>{matched}</td></tr>",
                id = run.id,
                short = escape(&run.id.to_string()[..8]),
                created = run.created_at.format("%Y-%m-%d %H:%M"),
                config = escape(&run.config_snapshot.0.name),
                phase = progress.phase,
                pct = progress.percent,
                processed = progress.processed,
                total = progress.total,
                rate = progress
                    .rate_per_second
                    .map(|r| format!("{r:.0}/s"))
                    .unwrap_or_else(|| "–".to_owned()),
                eta = progress
                    .eta_seconds
                    .map(|s| format!("{s:.0} s"))
                    .unwrap_or_else(|| "–".to_owned()),
                matched = run.rows_matched,
            );
        }
        body.push_str("</tbody></table>");
    }
    let resolutions =
        ResolutionRun::list(&mut conn, reviewer.key.organization_id, None, RUNS_SHOWN).await?;
    body.push_str("<h2>Resolution runs</h2>");
    if resolutions.is_empty() {
        body.push_str("<p>No resolution runs yet.</p>");
    } else {
        body.push_str("<table class=\"runs\"><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Policy</th><th scope=\"col\">Status</th><th scope=\"col\">Documents</th><th scope=\"col\">Unresolved</th><th scope=\"col\">Waiting</th></tr></thead><tbody>");
        for run in &resolutions {
            let _ = write!(
                body,
                "<tr><td><a href=\"/ui/resolutions/{id}\">{short}</a><br><small>{created}</small></td><td>{policy}</td><td>{status}</td><td>{processed}/{total}</td><td>{unresolved}</td><td>{waiting}</td></tr>",
                id = run.id,
                short = escape(&run.id.to_string()[..8]),
                created = run.created_at.format("%Y-%m-%d %H:%M"),
                policy = escape(&run.policy_snapshot.0.name),
                status = run.status.as_str(),
                processed = run.documents_processed,
                total = run.documents_total,
                unresolved = run.fields_unresolved,
                waiting = run.fields_waiting,
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(page(
        StatusCode::OK,
        "Runs",
        Some(&reviewer.header()),
        &body,
    ))
}

/// The organisation's run, or 404.
async fn find_run(
    conn: &mut diesel_async::AsyncPgConnection,
    reviewer: &Reviewer,
    raw_id: &str,
) -> Result<MatchingRun, UiError> {
    let id: MatchingRunId = path_id(raw_id)?;
    MatchingRun::find(conn, reviewer.key.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching run", raw_id).into())
}

#[derive(Deserialize)]
struct RunQuery {
    show: Option<String>,
    /// The queue's confidence range, in percent (0–100).
    min: Option<String>,
    max: Option<String>,
}

/// A confidence bound of the queue's filter: a percentage from 0 to 100 (empty: none).
fn bound(name: &str, raw: Option<&str>) -> Result<Option<f64>, UiError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(Some(value / 100.0)),
        _ => Err(ApiError::validation(
            name,
            format!("`{name}` must be a percentage from 0 to 100, got `{text}`"),
        )
        .into()),
    }
}

/// A count of bars or rows as a drawing coordinate: counts here are a few dozen, far below
/// where `f64` stops being exact (2^53).
#[allow(clippy::cast_precision_loss)] // exact (see above)
fn slots(n: usize) -> f64 {
    n as f64
}

/// The histogram bin of a confidence: `floor(c · BINS)` of `c` clamped to [0, 1], the last bin
/// holding 1.0 too; NaN counts in the first bin.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // within 0..=BINS (see above)
fn bin_of(confidence: f64) -> usize {
    let clamped = if confidence.is_nan() {
        0.0
    } else {
        confidence.clamp(0.0, 1.0)
    };
    ((clamped * slots(BINS)).floor() as usize).min(BINS - 1)
}

/// The confidence histogram as SVG: `BINS` bars over [0, 1], the review band shaded, the
/// threshold and the review floor drawn.
fn histogram(confidences: &[f64], threshold: f64, floor: f64) -> String {
    let mut counts = [0u32; BINS];
    for &c in confidences {
        let bin = bin_of(c);
        counts[bin] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (600.0, 160.0, 40.0, 20.0);
    let plot = width - left - 10.0;
    let x = |v: f64| left + v.clamp(0.0, 1.0) * plot;
    let mut svg = format!(
        "<svg class=\"histogram\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"hist-title\"><title id=\"hist-title\">Confidences of the run's results: {} results; threshold {}, review band from {}</title>",
        confidences.len(),
        percent(threshold),
        percent(floor)
    );
    let _ = write!(
        svg,
        "<rect class=\"band\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{:.1}\"/>",
        x(floor),
        (x(threshold) - x(floor)).max(0.0),
        height - bottom
    );
    let bar = plot / slots(BINS);
    for (i, &count) in counts.iter().enumerate() {
        let h = (height - bottom - 10.0) * f64::from(count) / f64::from(max);
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}–{} %: {count}</title></rect>",
            left + slots(i) * bar + 1.0,
            height - bottom - h,
            bar - 2.0,
            h,
            i * 5,
            (i + 1) * 5
        );
    }
    for (value, class, label, y) in [
        (floor, "floor", "review floor", 12.0),
        (threshold, "threshold", "threshold", 26.0),
    ] {
        // A label near the right edge is written to the left of its line.
        let (text_x, anchor) = if x(value) > width * 0.7 {
            (x(value) - 4.0, "end")
        } else {
            (x(value) + 4.0, "start")
        };
        let _ = write!(
            svg,
            "<line class=\"{class}\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1:.1}\"/><text x=\"{text_x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\" class=\"label\">{label} {2}</text>",
            x(value),
            height - bottom,
            percent(value)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\" class=\"axis\">0 %</text><text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">100 %</text><text x=\"2\" y=\"20\" class=\"axis\">{max}</text></svg>",
        height - 4.0,
        width - 10.0,
        height - 4.0
    );
    svg
}

async fn run(
    reviewer: Reviewer,
    path: web::Path<String>,
    query: web::Query<RunQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &path).await?;
    let snapshot = &run.config_snapshot.0;
    let filter = match query.show.as_deref() {
        None | Some("pending") => ReviewSetFilter::Pending,
        Some("decided") => ReviewSetFilter::Decided,
        Some("all") => ReviewSetFilter::All,
        Some(other) => {
            return Err(ApiError::validation(
                "show",
                format!("`show` must be pending, decided or all, got `{other}`"),
            )
            .into())
        }
    };
    let confidences = MatchResult::confidences(&mut conn, run.id).await?;
    let pending = MatchResult::review_set(&mut conn, run.id, ReviewSetFilter::Pending).await?;
    let decided = MatchResult::review_set(&mut conn, run.id, ReviewSetFilter::Decided).await?;
    let shown = match filter {
        ReviewSetFilter::Pending => pending.clone(),
        ReviewSetFilter::Decided => decided.clone(),
        ReviewSetFilter::All => {
            // Pending first, then the decided.
            let mut all = pending.clone();
            all.extend(decided.iter().cloned());
            all
        }
    };
    let progress = RunProgressView::new(&run, Utc::now());
    let mut body = format!(
        "<h1>Run {} <small>{}</small></h1>",
        escape(&run.id.to_string()[..8]),
        escape(&snapshot.name)
    );
    if !run.status.has_ended() {
        body.push_str("<div data-refresh=\"3\" hidden></div>");
    }
    let _ = write!(
        body,
        "<dl class=\"summary\"><div><dt>Phase</dt><dd>{}</dd></div><div><dt>Documents</dt><dd>{}/{}</dd></div><div><dt>Matched</dt><dd>{}</dd></div><div><dt>Mean confidence</dt><dd>{}</dd></div><div><dt>To review</dt><dd>{}</dd></div><div><dt>Decided</dt><dd>{}</dd></div></dl>",
        progress.phase,
        run.rows_processed,
        run.rows_total,
        run.rows_matched,
        run.avg_confidence.map(percent).unwrap_or_else(|| "–".to_owned()),
        pending.len(),
        decided.len()
    );
    body.push_str("<h2>Confidences</h2>");
    body.push_str(&histogram(
        &confidences,
        snapshot.threshold,
        snapshot.review_floor,
    ));
    if let Some(model) = &run.model {
        body.push_str("<h2>Model</h2>");
        body.push_str(&model_chart(&model.0));
    }
    if let Some(config) = run.config_id {
        let _ = write!(
            body,
            "<p><a href=\"/ui/configs/{config}/model\">The config's current model</a></p>"
        );
    }
    body.push_str("<h2 id=\"queue\">Review queue</h2><p class=\"filters\">Show: ");
    for (value, label) in [
        ("pending", "to review"),
        ("decided", "decided"),
        ("all", "all"),
    ] {
        let current = query.show.as_deref().unwrap_or("pending") == value;
        let _ = write!(
            body,
            "<a href=\"/ui/runs/{}?show={value}#queue\"{}>{label}</a> ",
            run.id,
            if current {
                " aria-current=\"page\""
            } else {
                ""
            }
        );
    }
    let min = bound("min", query.min.as_deref())?;
    let max = bound("max", query.max.as_deref())?;
    let _ = write!(
        body,
        "</p><form method=\"get\" action=\"/ui/runs/{}#queue\" class=\"range\"><input type=\"hidden\" name=\"show\" value=\"{}\"><label for=\"min\">Confidence from (%)</label> <input id=\"min\" name=\"min\" type=\"number\" min=\"0\" max=\"100\" step=\"any\" value=\"{}\"> <label for=\"max\">to (%)</label> <input id=\"max\" name=\"max\" type=\"number\" min=\"0\" max=\"100\" step=\"any\" value=\"{}\"> <button type=\"submit\">Filter</button></form>",
        run.id,
        escape(query.show.as_deref().unwrap_or("pending")),
        min.map(|m| format!("{}", m * 100.0)).unwrap_or_default(),
        max.map(|m| format!("{}", m * 100.0)).unwrap_or_default()
    );
    let ids: Vec<MatchResultId> = shown.iter().map(|(id, ..)| *id).collect();
    let results = results_by_id(&mut conn, run.id, &ids).await?;
    let shown: Vec<_> = shown
        .into_iter()
        .filter(|(id, ..)| {
            results.get(id).is_some_and(|r| {
                min.is_none_or(|m| r.confidence >= m) && max.is_none_or(|m| r.confidence <= m)
            })
        })
        .collect();
    if shown.is_empty() {
        body.push_str("<p>Nothing here.</p>");
    } else {
        body.push_str("<table class=\"queue\"><thead><tr><th scope=\"col\">Document</th><th scope=\"col\">Status</th><th scope=\"col\">Confidence</th><th scope=\"col\">Matched row, or best candidate</th></tr></thead><tbody>");
        for (id, _, status, ambiguous) in &shown {
            let Some(r) = results.get(id) else { continue };
            let _ = write!(
                body,
                "<tr><td><a href=\"/ui/runs/{}/results/{}\">{}</a></td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                run.id,
                id,
                escape(&r.document_id),
                status.as_str(),
                if *ambiguous { " · ambiguous" } else { "" },
                percent(r.confidence),
                escape(
                    r.matched_reference_row_id
                        .as_deref()
                        .or_else(|| r.candidates.0.first().map(|c| c.reference_row_id.as_str()))
                        .unwrap_or("–")
                )
            );
        }
        body.push_str("</tbody></table>");
        if let Some((first, ..)) = pending.first() {
            let _ = write!(
                body,
                "<p><a class=\"button\" href=\"/ui/runs/{}/results/{first}\" data-key=\"j\">Start reviewing (j)</a></p>",
                run.id
            );
        }
    }
    Ok(page(StatusCode::OK, "Run", Some(&reviewer.header()), &body))
}

/// The run's probabilistic model: each field's levels with m, u and the match weight in bits
/// (log2 m/u), as bars either side of zero, and the same figures in a table.
fn model_chart(model: &concord_scoring::matcher::MatchModel) -> String {
    let levels: Vec<(String, &concord_scoring::matcher::model::LevelModel)> = model
        .fields
        .iter()
        .flat_map(|f| {
            f.levels
                .iter()
                .map(move |l| (format!("{} · {}", f.source, l.name), l))
        })
        .collect();
    if levels.is_empty() {
        return "<p>The model has no levels.</p>".to_owned();
    }
    let reach = levels
        .iter()
        .map(|(_, l)| l.weight.abs())
        .filter(|w| w.is_finite())
        .fold(1.0_f64, f64::max);
    let (width, row, left) = (600.0, 20.0, 200.0);
    let half = (width - left - 50.0) / 2.0;
    let zero = left + half;
    let height = row * slots(levels.len()) + 6.0;
    let mut svg = format!(
        "<svg class=\"model\" viewBox=\"0 0 {width} {height:.0}\" role=\"img\" aria-labelledby=\"model-title\"><title id=\"model-title\">Match weight in bits of each field's levels (log2 of m over u); λ = {:.4}</title><line class=\"zero\" x1=\"{zero}\" x2=\"{zero}\" y1=\"0\" y2=\"{height:.0}\"/>",
        model.lambda
    );
    for (i, (label, level)) in levels.iter().enumerate() {
        let y = slots(i) * row + 3.0;
        let w = if level.weight.is_finite() {
            level.weight / reach * half
        } else {
            0.0
        };
        let (x, class) = if w >= 0.0 {
            (zero, "for")
        } else {
            (zero + w, "against")
        };
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{:+.2}</text>",
            y + 13.0,
            escape(label),
            w.abs().max(1.0),
            row - 5.0,
            zero + w.max(0.0) + 4.0,
            y + 13.0,
            level.weight
        );
    }
    svg.push_str("</svg>");
    let mut table = String::from("<table class=\"model\"><caption>m: how often a true match is at the level; u: how often a non-match is.</caption><thead><tr><th scope=\"col\">Field · level</th><th scope=\"col\">m</th><th scope=\"col\">u</th><th scope=\"col\">weight (bits)</th></tr></thead><tbody>");
    for (label, level) in &levels {
        let _ = write!(
            table,
            "<tr><th scope=\"row\">{}</th><td>{:.4}</td><td>{:.6}</td><td>{:+.2}</td></tr>",
            escape(label),
            level.m,
            level.u,
            level.weight
        );
    }
    table.push_str("</tbody></table>");
    format!("{svg}{table}")
}

/// A config's model: that of its current version, as a chart and a table.
async fn config_model(
    reviewer: Reviewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let id: MatchingConfigId = path_id(&path)?;
    let mut conn = connection(&state.pool).await?;
    let config = MatchingConfig::find(&mut conn, reviewer.key.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    let model = MatchingModel::find_for(&mut conn, config.id, config.version).await?;
    let mut body = format!(
        "<h1>Model of {} <small>version {}</small></h1>",
        escape(&config.name),
        config.version
    );
    match model {
        Some(MatchingModel {
            status: MatchingModelStatus::Ready,
            model: Some(model),
            trained_at,
            ..
        }) => {
            let _ = write!(
                body,
                "<p>Trained {} by {} on {} documents ({} pairs){}.</p>",
                trained_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                escape(&model.0.training.method),
                model.0.training.documents,
                model.0.training.pairs,
                match model.0.training.labelled_matches + model.0.training.labelled_non_matches {
                    0 => String::new(),
                    labels => format!(", with {labels} reviewers' decisions"),
                }
            );
            body.push_str(&model_chart(&model.0));
        }
        Some(MatchingModel { status, error, .. }) => {
            let _ = write!(
                body,
                "<p>The model is {}{}.</p>",
                status.as_str(),
                error
                    .map(|e| format!(": {}", escape(&e)))
                    .unwrap_or_default()
            );
        }
        None => body.push_str(
            "<p>No model yet: the config's first run trains one (a <code>weighted</code> config has none).</p>",
        ),
    }
    Ok(page(
        StatusCode::OK,
        "Model",
        Some(&reviewer.header()),
        &body,
    ))
}

async fn results_by_id(
    conn: &mut diesel_async::AsyncPgConnection,
    run_id: MatchingRunId,
    ids: &[MatchResultId],
) -> Result<HashMap<MatchResultId, MatchResult>, UiError> {
    Ok(MatchResult::find_many(conn, run_id, ids)
        .await?
        .into_iter()
        .map(|result| (result.id, result))
        .collect())
}

/// The evidence of the best candidate: for a probabilistic run a waterfall, each field's match
/// weight in bits added from left to right to the total; for a weighted run each field's score
/// (0–1) on its own.
fn waterfall(result: &MatchResult) -> String {
    if !result.evidence.0.iter().any(|e| e.match_weight.is_some()) {
        return score_bars(result);
    }
    let fields: Vec<(String, f64)> = result
        .evidence
        .0
        .iter()
        .filter_map(|e| {
            e.match_weight
                .map(|v| (format!("{} → {}", e.source, e.target), v))
        })
        .collect();
    if fields.is_empty() {
        return "<p>No evidence.</p>".to_owned();
    }
    let mut low: f64 = 0.0;
    let mut high: f64 = 0.0;
    let mut total = 0.0;
    for (_, v) in &fields {
        total += v;
        low = low.min(total);
        high = high.max(total);
    }
    let span = (high - low).max(1e-9);
    let (width, row, left) = (600.0, 22.0, 190.0);
    let plot = width - left - 60.0;
    let x = |v: f64| left + (v - low) / span * plot;
    let height = row * slots(fields.len() + 1) + 6.0;
    let unit = "bits";
    let mut svg = format!(
        "<svg class=\"waterfall\" viewBox=\"0 0 {width} {height:.0}\" role=\"img\" aria-labelledby=\"wf-title\"><title id=\"wf-title\">Evidence for the best candidate, field by field ({unit}); total {total:.2}</title>"
    );
    let mut at = 0.0;
    for (i, (label, v)) in fields.iter().enumerate() {
        let y = slots(i) * row + 4.0;
        let (from, to) = (at, at + v);
        let class = if *v >= 0.0 { "for" } else { "against" };
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"{class}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{v:+.2}</text>",
            y + 14.0,
            escape(label),
            x(from.min(to)),
            (x(from.max(to)) - x(from.min(to))).max(1.0),
            row - 6.0,
            x(from.max(to)) + 4.0,
            y + 14.0
        );
        at = to;
    }
    let y = slots(fields.len()) * row + 4.0;
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{:.1}\" class=\"label total\">total</text><rect class=\"total\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{total:.2} {unit}</text></svg>",
        y + 14.0,
        x(0.0_f64.min(total)),
        (x(0.0_f64.max(total)) - x(0.0_f64.min(total))).max(1.0),
        row - 6.0,
        x(0.0_f64.max(total)) + 4.0,
        y + 14.0
    );
    svg
}

/// Each field's score (0–1) against the best candidate, as bars (weighted runs).
fn score_bars(result: &MatchResult) -> String {
    let fields: Vec<(String, f64)> = result
        .evidence
        .0
        .iter()
        .filter_map(|e| e.score.map(|v| (format!("{} → {}", e.source, e.target), v)))
        .collect();
    if fields.is_empty() {
        return "<p>No evidence.</p>".to_owned();
    }
    let (width, row, left) = (600.0, 22.0, 190.0);
    let plot = width - left - 60.0;
    let height = row * slots(fields.len()) + 6.0;
    let mut svg = format!(
        "<svg class=\"waterfall\" viewBox=\"0 0 {width} {height:.0}\" role=\"img\" aria-labelledby=\"wf-title\"><title id=\"wf-title\">Each field's score against the best candidate (0 to 1); the confidence is their weighted mean, {}</title>",
        percent(result.confidence)
    );
    for (i, (label, v)) in fields.iter().enumerate() {
        let y = slots(i) * row + 4.0;
        let w = v.clamp(0.0, 1.0) * plot;
        let class = if *v >= 0.5 { "for" } else { "against" };
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"{class}\" x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{v:.2}</text>",
            y + 14.0,
            escape(label),
            w.max(1.0),
            row - 6.0,
            left + w + 4.0,
            y + 14.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A document's value of a field as text.
fn document_value(document: &Document, field: &str) -> String {
    match document.field_values.get(field) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn normalised(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

async fn result(
    reviewer: Reviewer,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (run_raw, result_raw) = path.into_inner();
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &run_raw).await?;
    let result_id: MatchResultId = path_id(&result_raw)?;
    let result = MatchResult::find(&mut conn, run.id, result_id)
        .await?
        .ok_or_else(|| ApiError::not_found("match result", result_raw.as_str()))?;
    let snapshot = &run.config_snapshot.0;
    let document = Document::at_positions(&mut conn, run.job_run_id, &[result.document_position])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::internal_message(format!(
                "result `{result_id}` names document position {} its job run lacks",
                result.document_position
            ))
        })?;
    let candidates: Vec<_> = result.candidates.0.iter().take(CANDIDATES_SHOWN).collect();
    let row_ids: Vec<String> = candidates
        .iter()
        .map(|c| c.reference_row_id.clone())
        .collect();
    let dataset = ReferenceDataset::find_by_id(&mut conn, snapshot.reference_data_id).await?;
    let rows: HashMap<String, Vec<Option<String>>> = match &dataset {
        Some(dataset) => ReferenceRow::find_by_row_ids(&mut conn, dataset.id, &row_ids)
            .await?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let column_of = |target: &str| {
        dataset
            .as_ref()
            .and_then(|d| d.columns().iter().position(|c| c.name == target))
    };

    // Where this result is in the review set, for next/previous.
    let set = MatchResult::review_set(&mut conn, run.id, ReviewSetFilter::All).await?;
    let at = set.iter().position(|(id, ..)| *id == result.id);
    let previous = at
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| set.get(i))
        .map(|(id, ..)| *id);
    let next = match at {
        Some(i) => set.get(i + 1).map(|(id, ..)| *id),
        None => set.first().map(|(id, ..)| *id),
    };

    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/ui/runs/{}\">Run {}</a> · <a href=\"/ui/runs/{}#queue\">queue</a>{}</p>",
        run.id,
        escape(&run.id.to_string()[..8]),
        run.id,
        at.map(|i| format!(" · {} of {}", i + 1, set.len()))
            .unwrap_or_default()
    );
    let _ = write!(
        body,
        "<h1>Document {} <small>{}</small></h1><p class=\"status\" id=\"status\" data-status=\"{}\">Status <strong>{}</strong>{} · confidence <strong>{}</strong>{} · settled by {}</p>",
        escape(&result.document_id),
        escape(&result.document_filename),
        result.status.as_str(),
        result.status.as_str(),
        if result.ambiguous { " · <strong>ambiguous</strong>" } else { "" },
        percent(result.confidence),
        result
            .match_weight
            .map(|w| format!(" · match weight {w:.2} bits"))
            .unwrap_or_default(),
        result.resolved_by.as_str()
    );

    // The document beside its candidates, field by field.
    body.push_str("<table class=\"compare\"><caption>The document's values beside each candidate's; equal values are marked.</caption><thead><tr><th scope=\"col\">Field</th><th scope=\"col\">Document</th>");
    for (i, c) in candidates.iter().enumerate() {
        let chosen =
            result.matched_reference_row_id.as_deref() == Some(c.reference_row_id.as_str());
        let _ = write!(
            body,
            "<th scope=\"col\"{}>{}. {}<br><small>{}{}</small></th>",
            if chosen { " class=\"chosen\"" } else { "" },
            i + 1,
            escape(&c.reference_row_id),
            percent(c.confidence),
            if chosen { " · matched" } else { "" }
        );
    }
    body.push_str("</tr></thead><tbody>");
    for mapping in &snapshot.field_mappings {
        let doc = document_value(&document, &mapping.source);
        let _ = write!(
            body,
            "<tr><th scope=\"row\">{} <small>→ {}</small></th><td>{}</td>",
            escape(&mapping.source),
            escape(&mapping.target),
            escape(&doc)
        );
        for c in &candidates {
            let value = column_of(&mapping.target)
                .and_then(|col| rows.get(&c.reference_row_id)?.get(col).cloned().flatten())
                .unwrap_or_default();
            let same = !doc.is_empty() && normalised(&doc) == normalised(&value);
            let _ = write!(
                body,
                "<td{}>{}</td>",
                if same { " class=\"same\"" } else { "" },
                escape(&value)
            );
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table>");

    body.push_str("<h2>Evidence</h2>");
    body.push_str(&waterfall(&result));

    if let Some(model) = &result.ai_model {
        let _ = write!(
            body,
            "<section class=\"ai\" aria-label=\"AI suggestion\"><h2>AI suggestion</h2><p>{} suggests <strong>{}</strong>{}{}</p><blockquote>{}</blockquote></section>",
            escape(model),
            escape(result.ai_suggested_row_id.as_deref().unwrap_or("no row")),
            result
                .ai_confidence
                .map(|c| format!(" with confidence {}", percent(c)))
                .unwrap_or_default(),
            result
                .ai_flag
                .as_deref()
                .map(|f| format!(" (not applied: {})", escape(f)))
                .unwrap_or_default(),
            escape(result.ai_rationale.as_deref().unwrap_or(""))
        );
    }

    // The decision.
    let can_decide = reviewer.key.scopes.contains(&Scope::Write);
    if can_decide {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/ui/runs/{}/results/{}/decide\" class=\"decide\" aria-label=\"Decision\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"notes\">Notes (n)</label><textarea id=\"notes\" name=\"notes\" rows=\"2\" maxlength=\"4000\">{}</textarea><div class=\"buttons\"><button type=\"submit\" name=\"decision\" value=\"approved\" data-key=\"a\"{}>Approve (a)</button><button type=\"submit\" name=\"decision\" value=\"rejected\" data-key=\"r\">Reject (r)</button>",
            run.id,
            result.id,
            escape(&reviewer.session.csrf_token),
            escape(result.review_notes.as_deref().unwrap_or("")),
            if result.matched_reference_row_id.is_none() { " disabled title=\"nothing is matched: pick a candidate\"" } else { "" }
        );
        for (i, c) in candidates.iter().enumerate() {
            let _ = write!(
                body,
                "<button type=\"submit\" name=\"pick\" value=\"{}\" data-key=\"{}\">Pick {} ({})</button>",
                escape(&c.reference_row_id),
                i + 1,
                escape(&c.reference_row_id),
                i + 1
            );
        }
        body.push_str("</div></form>");
        if reviewer.session.last_decision.is_some() {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/ui/undo\" class=\"undo\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" data-key=\"u\">Undo the last decision (u)</button></form>",
                escape(&reviewer.session.csrf_token)
            );
        }
    } else {
        body.push_str("<p class=\"readonly\">Your key is read only: you can look, not decide.</p>");
    }
    body.push_str("<nav class=\"steps\" aria-label=\"Results\">");
    if let Some(previous) = previous {
        let _ = write!(
            body,
            "<a href=\"/ui/runs/{}/results/{previous}\" data-key=\"k\" rel=\"prev\">← previous (k)</a>",
            run.id
        );
    }
    if let Some(next) = next {
        let _ = write!(
            body,
            "<a href=\"/ui/runs/{}/results/{next}\" data-key=\"j\" rel=\"next\">next (j) →</a>",
            run.id
        );
    }
    body.push_str("</nav><p class=\"keys\">Keys: <kbd>a</kbd> approve · <kbd>r</kbd> reject · <kbd>1</kbd>–<kbd>5</kbd> pick a candidate · <kbd>j</kbd>/<kbd>k</kbd> next/previous · <kbd>u</kbd> undo · <kbd>n</kbd> notes</p>");
    Ok(page(
        StatusCode::OK,
        &format!("Document {}", result.document_id),
        Some(&reviewer.header()),
        &body,
    ))
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: Option<String>,
    decision: Option<String>,
    pick: Option<String>,
    notes: Option<String>,
}

/// Records a decision, remembers what undoing it restores, and goes on to the next result
/// waiting for review (after this one, then from the start), or back to the run when none is
/// left.
async fn decide_result(
    reviewer: Reviewer,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: DecisionForm = form(&body)?;
    reviewer.check_csrf(fields.csrf.as_deref())?;
    reviewer.require(Scope::Write)?;
    let (run_raw, result_raw) = path.into_inner();
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &run_raw).await?;
    let result_id: MatchResultId = path_id(&result_raw)?;
    let before = MatchResult::find(&mut conn, run.id, result_id)
        .await?
        .ok_or_else(|| ApiError::not_found("match result", result_raw.as_str()))?;
    let (status, row) = match (fields.pick, fields.decision.as_deref()) {
        (Some(row), _) => (ReviewDecision::Approved, Some(row)),
        (None, Some("approved")) => (ReviewDecision::Approved, None),
        (None, Some("rejected")) => (ReviewDecision::Rejected, None),
        (None, other) => {
            return Err(ApiError::validation(
                "decision",
                format!(
                    "`decision` must be approved or rejected (or `pick` a candidate), got `{}`",
                    other.unwrap_or("")
                ),
            )
            .into())
        }
    };
    let notes = fields
        .notes
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .map(ReviewNotes::parse)
        .transpose()
        .map_err(|rule| ApiError::validation("notes", format!("`notes` {rule}")))?;
    decide(
        &mut conn,
        &run,
        result_id,
        ReviewRequest {
            status,
            notes,
            matched_reference_row_id: row,
        },
    )
    .await?;
    ReviewSession::set_last_decision(&mut conn, reviewer.session.id, Some(before.review_state()))
        .await?;

    let pending = MatchResult::review_set(&mut conn, run.id, ReviewSetFilter::Pending).await?;
    let next = pending
        .iter()
        .find(|(_, position, ..)| *position > before.document_position)
        .or_else(|| pending.first())
        .map(|(id, ..)| *id);
    Ok(match next {
        Some(next) => see_other(&format!("/ui/runs/{}/results/{next}", run.id)),
        None => see_other(&format!("/ui/runs/{}?show=decided#queue", run.id)),
    })
}

/// Undoes the session's last decision: the result's review fields as they were before it.
async fn undo(
    reviewer: Reviewer,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: CsrfForm = form(&body)?;
    reviewer.check_csrf(fields.csrf.as_deref())?;
    reviewer.require(Scope::Write)?;
    let Some(last) = reviewer.session.last_decision.as_ref().map(|j| j.0.clone()) else {
        return Ok(see_other("/ui/runs"));
    };
    let mut conn = connection(&state.pool).await?;
    let run = MatchingRun::find(&mut conn, reviewer.key.organization_id, last.run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching run", last.run_id.to_string()))?;
    MatchResult::restore(&mut conn, &last)
        .await?
        .ok_or_else(|| ApiError::not_found("match result", last.result_id.to_string()))?;
    ReviewSession::set_last_decision(&mut conn, reviewer.session.id, None).await?;
    Ok(see_other(&format!(
        "/ui/runs/{}/results/{}",
        run.id, last.result_id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_counts_every_confidence_and_draws_the_band() {
        let svg = histogram(&[0.0, 0.5, 0.99, 1.0, 1.0], 0.85, 0.6);
        assert!(svg.contains("5 results"));
        assert!(svg.contains("95–100 %: 3"), "{svg}");
        assert!(svg.contains("class=\"threshold\"") && svg.contains("class=\"floor\""));
        // Out of range values are clamped, not lost.
        let clamped = histogram(&[-1.0, 2.0], 0.85, 0.6);
        assert!(
            clamped.contains("0–5 %: 1") && clamped.contains("95–100 %: 1"),
            "{clamped}"
        );
    }
}
