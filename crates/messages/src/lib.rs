//! The message contracts of every queue and event.
//!
//! The types are generated at build time from the JSON Schemas in `proto-schemas/v1/` (the
//! language-neutral source of truth that upstream producers and consumers read too); this crate
//! adds only the routing names that go with them.

#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/contracts.rs"));
}

pub use generated::*;

/// Routing keys of the intake exchange.
pub mod intake {
    /// The routing key of a [`crate::JobSubmission`] on the intake exchange.
    pub const JOB_SUBMIT_V1: &str = "job.submit.v1";
}

/// Routing keys of the jobs exchange, one per worker role.
pub mod jobs {
    pub const MATCHING: &str = "matching";
    pub const RESOLUTION: &str = "resolution";
    pub const AI: &str = "ai";
}

impl EventType {
    /// The routing key the event is published with on the events exchange.
    pub fn routing_key(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_parses_with_nulls_and_rejects_unknown_fields() {
        let ok: JobSubmission = serde_json::from_str(
            r#"{"name":"b","documents":[{"document_id":"d1","filename":null,"values":{"total":"12.50","po":null}}]}"#,
        )
        .expect("valid submission");
        assert_eq!(ok.documents.len(), 1);
        assert_eq!(ok.documents[0].values.get("po"), Some(&None));

        let err = serde_json::from_str::<JobSubmission>(r#"{"name":"b","documents":[],"extra":1}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("extra"));
    }

    #[test]
    fn event_types_route_by_their_dotted_name() {
        assert_eq!(EventType::JobCompleted.routing_key(), "job.completed");
        assert_eq!(
            EventType::MatchingRunCancelled.routing_key(),
            "matching.run.cancelled"
        );
    }
}
