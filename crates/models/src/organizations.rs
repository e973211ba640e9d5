use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::OrganizationId;
use crate::schema::organizations;
use crate::StoreError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: OrganizationId,
    pub name: &'a str,
}

impl Organization {
    /// The organisation of that name, created if it does not exist yet.
    /// The organisation with that id.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        Ok(organizations::table
            .find(id)
            .select(Organization::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    pub async fn find_or_create(
        conn: &mut AsyncPgConnection,
        name: &str,
    ) -> Result<Organization, StoreError> {
        diesel::insert_into(organizations::table)
            .values(NewOrganization {
                id: OrganizationId::generate(),
                name,
            })
            .on_conflict(organizations::name)
            .do_nothing()
            .execute(conn)
            .await?;
        Ok(organizations::table
            .filter(organizations::name.eq(name))
            .select(Organization::as_select())
            .first(conn)
            .await?)
    }
}
