//! Resolution runs in the review UI: the values a run could not resolve (or left to the LLM)
//! with their candidates. A reviewer settles an unresolved value with one of its candidate codes
//! (step `reviewer`), and — the loop that makes resolution better every week — can add the raw
//! spelling as an alias of that code to the lookup table the field's rule uses: a new version of
//! the table, so the next run resolves it without anyone. A value waiting for the LLM is the AI
//! pass's to settle, and is shown only.

use std::fmt::Write as _;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use concord_models::database::connection;
use concord_models::ids::ResolutionRunId;
use concord_models::lookup_tables::{AliasOutcome, LookupTable};
use concord_models::resolution_results::{
    ResolutionResult, ResolutionResultFilter, ResolutionStatus,
};
use concord_models::resolution_runs::ResolutionRun;
use concord_scoring::policy::PolicyDocument;
use diesel_async::AsyncConnection;
use serde::Deserialize;

use super::session::Reviewer;
use super::{form, page, UiError};
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::extract::path_id;
use crate::html::escape;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/resolutions/{id}", web::get().to(run))
        .route("/ui/resolutions/{id}/settle", web::post().to(settle));
}

/// Results of each status shown on a run's page.
const SHOWN: i64 = 500;
/// Candidates shown per value.
const CANDIDATES_SHOWN: usize = 5;

async fn find_run(
    conn: &mut diesel_async::AsyncPgConnection,
    reviewer: &Reviewer,
    raw_id: &str,
) -> Result<ResolutionRun, UiError> {
    let id: ResolutionRunId = path_id(raw_id)?;
    ResolutionRun::find(conn, reviewer.key.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("resolution run", raw_id).into())
}

async fn run(
    reviewer: Reviewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &path).await?;
    let mut open = Vec::new();
    for status in [ResolutionStatus::Unresolved, ResolutionStatus::Waiting] {
        let filter = ResolutionResultFilter {
            status: Some(status),
            ..ResolutionResultFilter::default()
        };
        open.extend(ResolutionResult::list(&mut conn, run.id, &filter, None, SHOWN).await?);
    }
    let policy = &run.policy_snapshot.0;
    let mut body = format!(
        "<h1>Resolution run {} <small>{}</small></h1><dl class=\"summary\"><div><dt>Status</dt><dd>{}</dd></div><div><dt>Documents</dt><dd>{}/{}</dd></div><div><dt>Resolved</dt><dd>{}</dd></div><div><dt>Unresolved</dt><dd>{}</dd></div><div><dt>Waiting for the LLM</dt><dd>{}</dd></div></dl>",
        escape(&run.id.to_string()[..8]),
        escape(&policy.name),
        run.status.as_str(),
        run.documents_processed,
        run.documents_total,
        run.fields_resolved,
        run.fields_unresolved,
        run.fields_waiting
    );
    if !run.status.has_ended() {
        body.push_str("<div data-refresh=\"3\" hidden></div>");
    }
    body.push_str("<h2>Values to settle</h2>");
    if open.is_empty() {
        body.push_str("<p>Every value was resolved.</p>");
    } else {
        let can_decide = reviewer.key.scopes.contains(&Scope::Write);
        body.push_str("<p>Using a code settles the value in this run. Learning the spelling as the code's alias makes a new version of the field's lookup table: the next run resolves it without anyone.</p><table class=\"values\"><thead><tr><th scope=\"col\">Document</th><th scope=\"col\">Field</th><th scope=\"col\">Value</th><th scope=\"col\">Status</th><th scope=\"col\">Candidates</th></tr></thead><tbody>");
        for result in &open {
            let value = result.original_value.as_deref().unwrap_or("");
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td><q>{}</q>{}</td><td>{}</td><td>",
                escape(&result.document_id),
                escape(&result.field_key),
                escape(value),
                result
                    .reason
                    .as_deref()
                    .map(|r| format!("<br><small>{}</small>", escape(r)))
                    .unwrap_or_default(),
                result.status.as_str()
            );
            let candidates = result
                .candidates
                .as_ref()
                .map(|c| c.0.as_slice())
                .unwrap_or_default();
            if candidates.is_empty() {
                body.push_str("none");
            }
            for candidate in candidates.iter().take(CANDIDATES_SHOWN) {
                let label = format!(
                    "{} · {} ({:.0} %)",
                    candidate.code,
                    candidate.label,
                    candidate.score * 100.0
                );
                let settleable = result.status == ResolutionStatus::Unresolved;
                if can_decide && settleable {
                    let _ = write!(
                        body,
                        "<form method=\"post\" action=\"/ui/resolutions/{}/settle\" class=\"settle\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"document_position\" value=\"{}\"><input type=\"hidden\" name=\"field_position\" value=\"{}\"><input type=\"hidden\" name=\"code\" value=\"{}\"><button type=\"submit\">Use {}</button>{}</form>",
                        run.id,
                        escape(&reviewer.session.csrf_token),
                        result.document_position,
                        result.field_position,
                        escape(&candidate.code),
                        escape(&label),
                        if value.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " <button type=\"submit\" name=\"alias\" value=\"on\">Use it and learn <q>{}</q> as its alias</button>",
                                escape(value)
                            )
                        }
                    );
                } else {
                    let _ = write!(body, "<div>{}</div>", escape(&label));
                }
            }
            body.push_str("</td></tr>");
        }
        body.push_str("</tbody></table>");
    }
    Ok(page(
        StatusCode::OK,
        "Resolution run",
        Some(&reviewer.header()),
        &body,
    ))
}

#[derive(Deserialize)]
struct SettleForm {
    csrf: Option<String>,
    document_position: Option<String>,
    field_position: Option<String>,
    code: Option<String>,
    alias: Option<String>,
}

fn required<T: std::str::FromStr>(value: Option<String>, field: &str) -> Result<T, UiError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::validation(field, format!("`{field}` is required")))?
        .parse()
        .map_err(|_| ApiError::validation(field, format!("`{field}` is not valid")).into())
}

/// Settles an unresolved value with one of its candidate codes and, when asked, adds its raw
/// spelling as an alias of that code to the lookup table the field's rule uses (a new version).
async fn settle(
    reviewer: Reviewer,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: SettleForm = form(&body)?;
    reviewer.check_csrf(fields.csrf.as_deref())?;
    reviewer.require(Scope::Write)?;
    let document_position: i32 = required(fields.document_position, "document_position")?;
    let field_position: i16 = required(fields.field_position, "field_position")?;
    let code: String = required(fields.code, "code")?;
    let learn = fields.alias.is_some();
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &path).await?;
    let result = ResolutionResult::find(&mut conn, run.id, document_position, field_position)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "resolution result",
                format!("{document_position}/{field_position}"),
            )
        })?;
    let offered = result
        .candidates
        .as_ref()
        .is_some_and(|c| c.0.iter().any(|candidate| candidate.code == code));
    if !offered {
        return Err(ApiError::validation(
            "code",
            format!("`{code}` is not one of this value's candidates"),
        )
        .into());
    }
    // The table to learn in, found before anything changes.
    let table = if learn {
        let value = result
            .original_value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                ApiError::validation("alias", "an empty value has no spelling to learn")
            })?;
        let policy = &run.policy_snapshot.0;
        let document = PolicyDocument {
            fields: policy.fields.clone(),
            rules: policy.rules.clone(),
        };
        let name = document.lookup_table_of(&result.field_key).ok_or_else(|| {
            ApiError::validation(
                "alias",
                format!(
                    "no lookup rule of the run's policy produces `{}`",
                    result.field_key
                ),
            )
        })?;
        let table = LookupTable::find_by_names(&mut conn, reviewer.key.organization_id, &[&name])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Conflict {
                code: ErrorCode::ReadOnly,
                message: format!(
                    "`{name}` is a built-in table: create a table of your own that `extends` it, name it in the policy, and learn spellings there"
                ),
            })?;
        Some((table, value))
    } else {
        None
    };
    let settled = ResolutionResult::settle_by_reviewer(
        &mut conn,
        run.id,
        document_position,
        field_position,
        &code,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: ErrorCode::AlreadySettled,
        message: "this value is settled already, or waits for the AI pass".to_owned(),
    })?;
    let mut message = format!(
        "<p role=\"status\"><q>{}</q> ({}) is settled as <strong>{}</strong>.</p>",
        escape(settled.original_value.as_deref().unwrap_or("")),
        escape(&settled.field_key),
        escape(&code)
    );
    if let Some((table, value)) = table {
        let outcome = conn
            .transaction::<_, ApiError, _>(async |conn| {
                Ok(LookupTable::add_alias(conn, &table, &code, &value).await?)
            })
            .await?;
        let learnt = match outcome {
            AliasOutcome::Added(table) => format!(
                "<p role=\"status\"><q>{}</q> is now an alias of <strong>{}</strong> in the table <strong>{}</strong>, version {}: the next run resolves it.</p>",
                escape(&value),
                escape(&code),
                escape(&table.name),
                table.version
            ),
            AliasOutcome::AlreadyKnown => format!(
                "<p role=\"status\"><q>{}</q> is already a spelling of <strong>{}</strong> in the latest version of <strong>{}</strong>.</p>",
                escape(&value),
                escape(&code),
                escape(&table.name)
            ),
            AliasOutcome::NoSuchCode => format!(
                "<p role=\"alert\">The latest version of <strong>{}</strong> has no code <strong>{}</strong>: the spelling was not learnt.</p>",
                escape(&table.name),
                escape(&code)
            ),
            AliasOutcome::NoSuchTable => format!(
                "<p role=\"alert\">The table <strong>{}</strong> is gone: the spelling was not learnt.</p>",
                escape(&table.name)
            ),
        };
        message.push_str(&learnt);
    }
    Ok(page(
        StatusCode::OK,
        "Settled",
        Some(&reviewer.header()),
        &format!(
            "{message}<p><a href=\"/ui/resolutions/{}\">Back to the run</a></p>",
            run.id
        ),
    ))
}
