//! Cursor pagination for every list: `?limit=&cursor=` in, `{data, pagination{limit, has_more,
//! next_cursor}}` out. Cursors are opaque to callers.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 1000;

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u16,
    /// The decoded cursor: what the list's last item of the previous page was.
    pub after: Option<String>,
}

/// The query parameters of every list (other parameters of the query are the list's own).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl FromRequest for PageRequest {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// `?limit=&cursor=` of the request: 422 naming `limit` or `cursor` when one is not valid.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            crate::extract::query::<PageParams>(req)
                .and_then(|params| PageRequest::from_params(&params)),
        )
    }
}

impl PageRequest {
    pub fn from_params(query: &PageParams) -> Result<Self, ApiError> {
        let limit = match &query.limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u16>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(ApiError::validation(
                        "limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}, got `{text}`"),
                    ))
                }
            },
        };
        let after = match query.cursor.as_ref().filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => Some(decode(cursor).ok_or_else(|| {
                ApiError::validation("cursor", "cursor is not one this API issued")
            })?),
        };
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// [`fetch_limit`](Self::fetch_limit) as a count of items.
    pub fn fetch_count(&self) -> usize {
        usize::from(self.limit) + 1
    }

    /// The cursor parsed as `T`; a cursor of another list is a validation error.
    pub fn after_as<T: std::str::FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.after
            .as_deref()
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::validation("cursor", "cursor does not belong to this list")
                })
            })
            .transpose()
    }
}

/// A page of a list: its items and where the next page starts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T: Serialize> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub limit: u16,
    pub has_more: bool,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<T: Serialize> Page<T> {
    /// Builds a page from `fetch_limit` rows; `cursor_of` gives the cursor of the last row shown.
    pub fn from_rows<R>(
        request: &PageRequest,
        mut rows: Vec<R>,
        cursor_of: impl Fn(&R) -> String,
        render: impl Fn(R) -> T,
    ) -> Self {
        let has_more = rows.len() > usize::from(request.limit);
        rows.truncate(usize::from(request.limit));
        let next_cursor = if has_more {
            rows.last().map(|row| encode(&cursor_of(row)))
        } else {
            None
        };
        Page {
            data: rows.into_iter().map(render).collect(),
            pagination: Pagination {
                limit: request.limit,
                has_more,
                next_cursor,
            },
        }
    }
}

fn encode(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

fn decode(cursor: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn query(pairs: &[(&str, &str)]) -> PageParams {
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        PageParams {
            limit: value("limit"),
            cursor: value("cursor"),
        }
    }

    #[rstest]
    #[case(&[], Some(DEFAULT_LIMIT))]
    #[case(&[("limit", "10")], Some(10))]
    #[case(&[("limit", "0")], None)]
    #[case(&[("limit", "1001")], None)]
    #[case(&[("limit", "ten")], None)]
    #[case(&[("cursor", "%%%")], None)]
    fn limits_and_cursors_are_checked(#[case] pairs: &[(&str, &str)], #[case] limit: Option<u16>) {
        let parsed = PageRequest::from_params(&query(pairs));
        assert_eq!(parsed.ok().map(|p| p.limit), limit);
    }

    #[test]
    fn a_page_hands_out_a_cursor_only_when_more_rows_follow() {
        let request = PageRequest::from_params(&query(&[("limit", "2")])).expect("valid");
        let page = Page::from_rows(&request, vec![1, 2, 3], |n| n.to_string(), |n| n);
        assert_eq!(page.data, vec![1, 2]);
        assert!(page.pagination.has_more);
        let cursor = page.pagination.next_cursor.expect("a cursor");
        let next = PageRequest::from_params(&query(&[("cursor", &cursor)])).expect("valid");
        assert_eq!(next.after_as::<i32>().expect("an int"), Some(2));

        let last = Page::from_rows(&request, vec![3], |n| n.to_string(), |n| n);
        assert!(!last.pagination.has_more);
        assert!(last.pagination.next_cursor.is_none());
    }
}
