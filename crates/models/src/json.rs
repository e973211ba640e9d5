//! A jsonb column read and written as a typed value: `Json<T>` holds a `T` that serde turns into
//! the column's JSON and back, so a field renamed in the type fails to compile where it is used,
//! and a row whose JSON does not fit the type is an error, never a silent default.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Jsonb;

/// A typed jsonb value.
#[derive(
    Debug, Clone, PartialEq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Jsonb)]
pub struct Json<T: std::fmt::Debug>(pub T);

impl<T> FromSql<Jsonb, Pg> for Json<T>
where
    T: serde::de::DeserializeOwned + std::fmt::Debug,
{
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let value = <serde_json::Value as FromSql<Jsonb, Pg>>::from_sql(bytes)?;
        Ok(Json(serde_json::from_value(value)?))
    }
}

impl<T> ToSql<Jsonb, Pg> for Json<T>
where
    T: serde::Serialize + std::fmt::Debug,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let value = serde_json::to_value(&self.0)?;
        <serde_json::Value as ToSql<Jsonb, Pg>>::to_sql(&value, &mut out.reborrow())
    }
}
