//! OpenAPI links: which operations read, change or delete what an operation creates, by the
//! `id` its answer carries. Clients (and schemathesis's stateful phase) follow them from a
//! create to the resource it made.

use serde_json::{json, Map, Value};

/// `(operation, status, operations taking the answer's `id` as their path's `id`)`.
const LINKS: &[(&str, &str, &[&str])] = &[
    ("create_job", "201", &["get_job", "list_documents"]),
    (
        "create_dataset",
        "201",
        &[
            "get_dataset",
            "list_rows",
            "export_dataset",
            "delete_dataset",
        ],
    ),
    (
        "create_config",
        "201",
        &[
            "get_config",
            "replace_config",
            "get_model",
            "train_model",
            "start_run",
            "start_smart_run",
            "delete_config",
        ],
    ),
    (
        "start_run",
        "202",
        &[
            "get_matching_run",
            "get_matching_progress",
            "list_match_results",
            "export_match_results",
            "ai_resolve",
            "cancel_matching_run",
        ],
    ),
    (
        "start_smart_run",
        "202",
        &[
            "get_matching_run",
            "get_matching_progress",
            "cancel_matching_run",
        ],
    ),
    (
        "create_lookup_table",
        "201",
        &[
            "get_lookup_table",
            "list_lookup_entries",
            "replace_lookup_table",
            "delete_lookup_table",
        ],
    ),
    (
        "create_policy",
        "201",
        &[
            "get_policy",
            "get_policy_fields",
            "get_policy_rules",
            "replace_policy",
            "delete_policy",
        ],
    ),
    (
        "create_dialect",
        "201",
        &["get_dialect", "update_dialect", "delete_dialect"],
    ),
    (
        "create_resolution",
        "201",
        &[
            "get_resolution",
            "execute_resolution",
            "list_resolution_results",
            "export_resolution_results",
        ],
    ),
    ("create_api_key", "201", &["revoke_api_key"]),
];

/// Adds [`LINKS`] to the answers of the operations they start from. Written into the JSON
/// rather than through utoipa's `Link`, which (5.5.0) serialises its operation id as
/// `operation_id` where the specification says `operationId`.
pub fn add(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(id) = operation
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            for (from, status, targets) in LINKS {
                if *from != id {
                    continue;
                }
                let Some(response) = operation
                    .pointer_mut(&format!("/responses/{status}"))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let links: Map<String, Value> = targets
                    .iter()
                    .map(|target| {
                        (
                            (*target).to_owned(),
                            json!({"operationId": target, "parameters": {"id": "$response.body#/id"}}),
                        )
                    })
                    .collect();
                response.insert("links".to_owned(), Value::Object(links));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_joins_two_operations_of_the_document() {
        let doc = crate::openapi::document_json().expect("serialises");
        let mut ids = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("an item").values() {
                if let Some(id) = operation["operationId"].as_str() {
                    ids.insert(id.to_owned());
                }
            }
        }
        for (from, status, targets) in LINKS {
            assert!(ids.contains(*from), "{from}");
            for target in *targets {
                assert!(ids.contains(*target), "{target}");
            }
            let _ = status;
        }
        let links = doc["paths"]["/v1/jobs"]["post"]["responses"]["201"]["links"]
            .as_object()
            .expect("links");
        assert_eq!(links["get_job"]["operationId"], "get_job");
        assert_eq!(links["get_job"]["parameters"]["id"], "$response.body#/id");
    }
}
