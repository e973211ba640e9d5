//! Turning the model's reply into one outcome per item, accepting only ids that were offered.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Answer, ChoiceItem, FailureKind, ItemOutcome};

/// Longest rationale kept, in characters; the rest is cut (the prompt asks for one sentence).
const MAX_RATIONALE_CHARS: usize = 500;

#[derive(Deserialize)]
struct Reply {
    answers: Vec<ReplyAnswer>,
}

#[derive(Deserialize)]
struct ReplyAnswer {
    item_id: String,
    choice: Option<String>,
    confidence: f64,
    rationale: String,
}

/// One outcome per item of the prompt, in order. A reply that is not JSON of the answer schema
/// makes every item `Malformed`; an item without an answer, or with answers that disagree, is
/// `Malformed`; an answer whose choice is not one of that item's own candidates is `NotOffered`.
/// Answers naming an item that is not in the prompt are ignored.
pub(crate) fn outcomes(
    items: &[&ChoiceItem],
    content: Option<&str>,
    model: &str,
) -> Vec<ItemOutcome> {
    let reply = content.and_then(|text| serde_json::from_str::<Reply>(text.trim()).ok());
    let Some(reply) = reply else {
        return vec![Err(FailureKind::Malformed); items.len()];
    };
    let mut by_item: HashMap<&str, Vec<&ReplyAnswer>> = HashMap::new();
    for answer in &reply.answers {
        by_item
            .entry(answer.item_id.as_str())
            .or_default()
            .push(answer);
    }
    items
        .iter()
        .map(|item| {
            let answers = by_item
                .get(item.item_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let Some(first) = answers.first() else {
                return Err(FailureKind::Malformed);
            };
            if answers.iter().any(|a| a.choice != first.choice) {
                return Err(FailureKind::Malformed);
            }
            if let Some(choice) = &first.choice {
                if !item.candidates.iter().any(|c| &c.id == choice) {
                    return Err(FailureKind::NotOffered);
                }
            }
            Ok(Answer {
                chosen: first.choice.clone(),
                confidence: if first.confidence.is_finite() {
                    first.confidence.clamp(0.0, 1.0)
                } else {
                    0.0
                },
                rationale: first
                    .rationale
                    .trim()
                    .chars()
                    .take(MAX_RATIONALE_CHARS)
                    .collect(),
                model: model.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Candidate;
    use rstest::rstest;
    use serde_json::json;

    fn item(id: &str, candidates: &[&str]) -> ChoiceItem {
        ChoiceItem {
            item_id: id.to_owned(),
            data: json!({}),
            candidates: candidates
                .iter()
                .map(|c| Candidate {
                    id: (*c).to_owned(),
                    data: json!({}),
                })
                .collect(),
        }
    }

    #[test]
    fn accepts_offered_choices_and_null() {
        let a = item("a", &["r1", "r2"]);
        let b = item("b", &["r3"]);
        let reply = r#"{"answers":[
            {"item_id":"b","choice":null,"confidence":0.4,"rationale":"none fits"},
            {"item_id":"a","choice":"r2","confidence":1.7,"rationale":"  same number  "}]}"#;
        let out = outcomes(&[&a, &b], Some(reply), "m");
        let first = out[0].as_ref().expect("a answered");
        assert_eq!(first.chosen.as_deref(), Some("r2"));
        assert_eq!(first.confidence, 1.0);
        assert_eq!(first.rationale, "same number");
        assert_eq!(first.model, "m");
        let second = out[1].as_ref().expect("b answered");
        assert_eq!(second.chosen, None);
        assert_eq!(second.confidence, 0.4);
    }

    #[rstest]
    #[case::other_items_candidate(
        r#"{"answers":[{"item_id":"a","choice":"r3","confidence":0.9,"rationale":"x"}]}"#,
        FailureKind::NotOffered
    )]
    #[case::invented(
        r#"{"answers":[{"item_id":"a","choice":"ref_999","confidence":0.9,"rationale":"x"}]}"#,
        FailureKind::NotOffered
    )]
    #[case::missing(r#"{"answers":[]}"#, FailureKind::Malformed)]
    #[case::unknown_item_only(
        r#"{"answers":[{"item_id":"zz","choice":"r1","confidence":0.9,"rationale":"x"}]}"#,
        FailureKind::Malformed
    )]
    #[case::disagreeing(r#"{"answers":[{"item_id":"a","choice":"r1","confidence":0.9,"rationale":"x"},{"item_id":"a","choice":null,"confidence":0.9,"rationale":"y"}]}"#, FailureKind::Malformed)]
    #[case::not_json("I think r1.", FailureKind::Malformed)]
    #[case::wrong_shape(r#"{"choice":"r1"}"#, FailureKind::Malformed)]
    #[case::string_confidence(
        r#"{"answers":[{"item_id":"a","choice":"r1","confidence":"high","rationale":"x"}]}"#,
        FailureKind::Malformed
    )]
    fn rejects(#[case] reply: &str, #[case] kind: FailureKind) {
        let a = item("a", &["r1"]);
        let b = item("b", &["r3"]);
        let out = outcomes(&[&a, &b], Some(reply), "m");
        assert_eq!(out[0], Err(kind));
    }

    #[test]
    fn no_content_is_malformed() {
        let a = item("a", &["r1"]);
        assert_eq!(
            outcomes(&[&a], None, "m"),
            vec![Err(FailureKind::Malformed)]
        );
    }
}
