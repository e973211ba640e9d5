//! A json or jsonb column read and written as a typed value: `Json<T>` holds a `T` that serde
//! turns into the column's JSON and back, so a field renamed in the type fails to compile where
//! it is used, and a row whose JSON does not fit the type is an error, never a silent default.
//! The JSON text is parsed straight into `T` (no `serde_json::Value` in between).

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Json as JsonText, Jsonb};
use std::io::Write;

/// A typed json or jsonb value.
#[derive(
    Debug, Clone, PartialEq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Jsonb)]
#[diesel(sql_type = JsonText)]
pub struct Json<T: std::fmt::Debug>(pub T);

/// The version byte that starts jsonb's binary form (the JSON text follows).
const JSONB_VERSION: u8 = 1;

impl<T> FromSql<Jsonb, Pg> for Json<T>
where
    T: serde::de::DeserializeOwned + std::fmt::Debug,
{
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((&JSONB_VERSION, text)) => Ok(Json(serde_json::from_slice(text)?)),
            Some((version, _)) => Err(format!("unsupported jsonb version {version}").into()),
            None => Err("an empty jsonb value".into()),
        }
    }
}

impl<T> FromSql<JsonText, Pg> for Json<T>
where
    T: serde::de::DeserializeOwned + std::fmt::Debug,
{
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Json(serde_json::from_slice(value.as_bytes())?))
    }
}

impl<T> ToSql<Jsonb, Pg> for Json<T>
where
    T: serde::Serialize + std::fmt::Debug,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(serialize::IsNull::No)
    }
}

impl<T> ToSql<JsonText, Pg> for Json<T>
where
    T: serde::Serialize + std::fmt::Debug,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        serde_json::to_writer(out, &self.0)?;
        Ok(serialize::IsNull::No)
    }
}
