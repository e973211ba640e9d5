//! Resolution runs in the review UI: the values a run could not resolve (or left to the LLM)
//! with their candidates, and the loop that makes resolution better every week — a reviewer adds
//! the raw spelling as an alias of the right code to the lookup table the field's rule uses, a
//! new version of the table, so the next run resolves it without anyone.

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
        .route("/ui/resolutions/{id}/aliases", web::post().to(add_alias));
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
        body.push_str("<p>Adding a spelling as an alias of a code makes a new version of the field's lookup table: the next run resolves it.</p><table class=\"values\"><thead><tr><th scope=\"col\">Document</th><th scope=\"col\">Field</th><th scope=\"col\">Value</th><th scope=\"col\">Status</th><th scope=\"col\">Candidates</th></tr></thead><tbody>");
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
                if can_decide && !value.is_empty() {
                    let _ = write!(
                        body,
                        "<form method=\"post\" action=\"/ui/resolutions/{}/aliases\" class=\"alias\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"field_key\" value=\"{}\"><input type=\"hidden\" name=\"value\" value=\"{}\"><input type=\"hidden\" name=\"code\" value=\"{}\"><button type=\"submit\" aria-label=\"Add the spelling {} as an alias of {}\">{}: add as alias</button></form>",
                        run.id,
                        escape(&reviewer.session.csrf_token),
                        escape(&result.field_key),
                        escape(value),
                        escape(&candidate.code),
                        escape(value),
                        escape(&candidate.code),
                        escape(&label)
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
struct AliasForm {
    csrf: Option<String>,
    field_key: Option<String>,
    value: Option<String>,
    code: Option<String>,
}

fn required(value: Option<String>, field: &str) -> Result<String, UiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::validation(field, format!("`{field}` is required")).into())
}

/// Adds a value the run could not resolve as an alias of a code, in the lookup table the field's
/// rule uses: a new version of the table.
async fn add_alias(
    reviewer: Reviewer,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let fields: AliasForm = form(&body)?;
    reviewer.check_csrf(fields.csrf.as_deref())?;
    reviewer.require(Scope::Write)?;
    let field_key = required(fields.field_key, "field_key")?;
    let value = required(fields.value, "value")?;
    let code = required(fields.code, "code")?;
    let mut conn = connection(&state.pool).await?;
    let run = find_run(&mut conn, &reviewer, &path).await?;

    // Only a spelling this run met for that field.
    let filter = ResolutionResultFilter {
        field_key: Some(field_key.clone()),
        ..ResolutionResultFilter::default()
    };
    let met = ResolutionResult::list(&mut conn, run.id, &filter, None, i64::from(i32::MAX))
        .await?
        .iter()
        .any(|r| r.original_value.as_deref() == Some(value.as_str()));
    if !met {
        return Err(ApiError::validation(
            "value",
            format!("this run met no value `{value}` for the field `{field_key}`"),
        )
        .into());
    }
    let policy = &run.policy_snapshot.0;
    let document = PolicyDocument {
        fields: policy.fields.clone(),
        rules: policy.rules.clone(),
    };
    let table_name = document.lookup_table_of(&field_key).ok_or_else(|| {
        ApiError::validation(
            "field_key",
            format!("no lookup rule of the run's policy produces the field `{field_key}`"),
        )
    })?;
    let table = LookupTable::find_by_names(&mut conn, reviewer.key.organization_id, &[&table_name])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Conflict {
            code: ErrorCode::ReadOnly,
            message: format!(
                "`{table_name}` is a built-in table: create a table of your own that `extends` it, name it in the policy, and add the spelling there"
            ),
        })?;
    let outcome = conn
        .transaction::<_, ApiError, _>(async |conn| {
            Ok(LookupTable::add_alias(conn, &table, &code, &value).await?)
        })
        .await?;
    let message = match outcome {
        AliasOutcome::Added(table) => format!(
            "<p role=\"status\"><q>{}</q> is now an alias of <strong>{}</strong> in the table <strong>{}</strong>, version {}: the next run resolves it.</p>",
            escape(&value),
            escape(&code),
            escape(&table.name),
            table.version
        ),
        AliasOutcome::AlreadyKnown => format!(
            "<p role=\"status\"><q>{}</q> is already a spelling of <strong>{}</strong> in the latest version of <strong>{}</strong> (this run used an earlier one).</p>",
            escape(&value),
            escape(&code),
            escape(&table.name)
        ),
        AliasOutcome::NoSuchCode => {
            return Err(ApiError::validation(
                "code",
                format!("the table `{}` has no code `{code}`", table.name),
            )
            .into())
        }
        AliasOutcome::NoSuchTable => {
            return Err(ApiError::not_found("lookup table", table.id.to_string()).into())
        }
    };
    Ok(page(
        StatusCode::OK,
        "Alias added",
        Some(&reviewer.header()),
        &format!(
            "{message}<p><a href=\"/ui/resolutions/{}\">Back to the run</a></p>",
            run.id
        ),
    ))
}
