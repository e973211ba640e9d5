//! Typed ids: one newtype over a UUID (v7, so ids sort by creation time) per kind of resource.

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <uuid::Uuid as diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::to_sql(&self.0, out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <uuid::Uuid as diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::from_sql(bytes).map(Self)
            }
        }
    };
}

typed_id!(
    /// An organisation: the owner of every other resource.
    OrganizationId
);
typed_id!(ApiKeyId);
typed_id!(
    /// A job run: a batch of documents and their extracted values.
    JobRunId
);
typed_id!(MatchingRunId);
typed_id!(
    /// A reference dataset: the rows that documents are matched against.
    ReferenceDatasetId
);
typed_id!(MatchingConfigId);
typed_id!(MatchResultId);
typed_id!(
    /// The trained model of one version of a matching config.
    MatchingModelId
);
typed_id!(ResolutionRunId);
typed_id!(LookupTableId);
typed_id!(DataPolicyId);
typed_id!(DialectId);
typed_id!(
    /// A read-only reconciliation token of one matching config.
    ReconciliationTokenId
);
typed_id!(
    /// A reviewer's signed-in session of the review UI.
    ReviewSessionId
);
typed_id!(
    /// A webhook endpoint: a URL an organisation's events are delivered to.
    WebhookEndpointId
);
typed_id!(
    /// One event's delivery to one endpoint; also the `webhook-id` every attempt carries.
    WebhookDeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = JobRunId::generate();
        let parsed: JobRunId = id.to_string().parse().expect("a generated id parses");
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<JobRunId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation() {
        let first = MatchingRunId::generate();
        let second = MatchingRunId::generate();
        assert!(first < second);
    }
}
