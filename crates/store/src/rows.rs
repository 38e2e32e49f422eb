//! What both databases share: decoding rows into grants, requests and records, and the
//! migrations compiled into the binary.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType};
use sqlx::{Decode, Postgres, Sqlite, Type};

use crate::{
    AccessRequestRecord, Approval, Grant, GrantId, GrantRecord, GrantReview, RequestId,
    RequestState, StoreError,
};

/// A column value both databases decode the same way (text, integers, and their NULLable forms).
pub(crate) trait Value:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Value for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A result row of either database, read by column name.
pub(crate) trait Columns {
    fn try_get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn try_get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

impl Columns for sqlx::postgres::PgRow {
    fn try_get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

pub(crate) fn grant_from_row(row: &impl Columns) -> Result<Grant, StoreError> {
    let id_text: String = row.try_get("id").map_err(StoreError::Database)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id_text.clone(),
        reason,
    };
    let get_err = |e: sqlx::Error| corrupt(e.to_string());
    let id = GrantId::parse(&id_text).map_err(|e| corrupt(e.to_string()))?;
    let namespaces_json: String = row.try_get("namespaces").map_err(get_err)?;
    let namespaces: Vec<String> = serde_json::from_str(&namespaces_json)
        .map_err(|e| corrupt(format!("namespaces are not a JSON list of strings ({e})")))?;
    Ok(Grant {
        id,
        user: row.try_get("user_name").map_err(get_err)?,
        profile: row.try_get("profile").map_err(get_err)?,
        namespaces,
        pod_name_glob: row.try_get("pod_name_glob").map_err(get_err)?,
        pod_label_selector: row.try_get("pod_label_selector").map_err(get_err)?,
        reason: row.try_get("reason").map_err(get_err)?,
        created_by: row.try_get("created_by").map_err(get_err)?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        expires_at: row.try_get("expires_at").map_err(get_err)?,
        revoked_at: row.try_get("revoked_at").map_err(get_err)?,
        revoked_by: row.try_get("revoked_by").map_err(get_err)?,
        revoke_reason: row.try_get("revoke_reason").map_err(get_err)?,
    })
}

pub(crate) fn request_from_row(row: &impl Columns) -> Result<AccessRequestRecord, StoreError> {
    let id_text: String = row.try_get("id").map_err(StoreError::Database)?;
    let corrupt = |reason: String| StoreError::CorruptRequest {
        id: id_text.clone(),
        reason,
    };
    let get = |e: sqlx::Error| corrupt(e.to_string());
    let list = |column: &str| -> Result<Vec<String>, StoreError> {
        let text: String = row.try_get(column).map_err(get)?;
        serde_json::from_str(&text)
            .map_err(|e| corrupt(format!("{column} is not a JSON list of strings ({e})")))
    };
    let flag = |column: &str| -> Result<bool, StoreError> {
        let value: i64 = row.try_get(column).map_err(get)?;
        Ok(value != 0)
    };
    let id = RequestId::parse(&id_text).map_err(|e| corrupt(e.to_string()))?;
    let state_text: String = row.try_get("state").map_err(get)?;
    let state = RequestState::from_name(&state_text)
        .ok_or_else(|| corrupt(format!("state {state_text:?} is unknown")))?;
    let approvals_required: i64 = row.try_get("approvals_required").map_err(get)?;
    let grant_id: Option<String> = row.try_get("grant_id").map_err(get)?;
    let grant_id = grant_id
        .map(|g| GrantId::parse(&g))
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(AccessRequestRecord {
        id,
        state,
        requester: row.try_get("requester").map_err(get)?,
        requester_groups: list("requester_groups")?,
        profile: row.try_get("profile").map_err(get)?,
        namespace: row.try_get("namespace").map_err(get)?,
        pod_name_glob: row.try_get("pod_name_glob").map_err(get)?,
        pod_label_selector: row.try_get("pod_label_selector").map_err(get)?,
        requested_duration: row.try_get("requested_duration").map_err(get)?,
        duration: row.try_get("duration").map_err(get)?,
        reason: row.try_get("reason").map_err(get)?,
        ticket: row.try_get("ticket").map_err(get)?,
        break_glass: flag("break_glass")?,
        route: row.try_get("route").map_err(get)?,
        approvals_required: u32::try_from(approvals_required).map_err(|_| {
            corrupt(format!(
                "approvals_required {approvals_required} is negative"
            ))
        })?,
        approver_groups: list("approver_groups")?,
        distinct_groups: flag("distinct_groups")?,
        created_at: row.try_get("created_at").map_err(get)?,
        decided_at: row.try_get("decided_at").map_err(get)?,
        decided_by: row.try_get("decided_by").map_err(get)?,
        activated_at: row.try_get("activated_at").map_err(get)?,
        ended_at: row.try_get("ended_at").map_err(get)?,
        deny_reason: row.try_get("deny_reason").map_err(get)?,
        cancel_reason: row.try_get("cancel_reason").map_err(get)?,
        grant_id,
        grant_expires_at: row.try_get("grant_expires_at").map_err(get)?,
        needs_review: flag("grant_needs_review")?,
        approvals: Vec::new(),
    })
}

pub(crate) fn grant_record_from_row(row: &impl Columns) -> Result<GrantRecord, StoreError> {
    let grant = grant_from_row(row)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: grant.id.to_string(),
        reason,
    };
    let get = |e: sqlx::Error| corrupt(e.to_string());
    let request: Option<String> = row.try_get("request_id").map_err(get)?;
    let request = request
        .map(|r| RequestId::parse(&r))
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    let needs_review: i64 = row.try_get("needs_review").map_err(get)?;
    let break_glass: i64 = row.try_get("request_break_glass").map_err(get)?;
    let reviewed_by: Option<String> = row.try_get("reviewed_by").map_err(get)?;
    let reviewed_at: Option<i64> = row.try_get("reviewed_at").map_err(get)?;
    let review_comment: Option<String> = row.try_get("review_comment").map_err(get)?;
    let review = match (reviewed_by, reviewed_at, review_comment) {
        (Some(by), Some(at), Some(comment)) => Some(GrantReview { by, at, comment }),
        (None, None, None) => None,
        _ => return Err(corrupt("its review is incomplete".to_owned())),
    };
    Ok(GrantRecord {
        grant,
        request,
        break_glass: break_glass != 0,
        needs_review: needs_review != 0,
        review,
    })
}

/// One row of `approvals` (`request_id, approver, approver_groups, comment, approved_at`): the
/// request it belongs to and the approval.
pub(crate) fn approval_from_row(row: &impl Columns) -> Result<(String, Approval), StoreError> {
    let request_id: String = row.try_get("request_id").map_err(StoreError::Database)?;
    let corrupt = |reason: String| StoreError::CorruptRequest {
        id: request_id.clone(),
        reason,
    };
    let get = |e: sqlx::Error| corrupt(e.to_string());
    let groups: String = row.try_get("approver_groups").map_err(get)?;
    let approver_groups: Vec<String> = serde_json::from_str(&groups).map_err(|e| {
        corrupt(format!(
            "an approval's groups are not a JSON list of strings ({e})"
        ))
    })?;
    let approval = Approval {
        approver: row.try_get("approver").map_err(get)?,
        approver_groups,
        comment: row.try_get("comment").map_err(get)?,
        at: row.try_get("approved_at").map_err(get)?,
    };
    Ok((request_id, approval))
}

/// Sorts approvals read for several requests into them, in the order read.
pub(crate) fn distribute_approvals(
    records: &mut [AccessRequestRecord],
    approvals: Vec<(String, Approval)>,
) {
    let mut by_request: std::collections::HashMap<String, Vec<Approval>> =
        std::collections::HashMap::new();
    for (request_id, approval) in approvals {
        by_request.entry(request_id).or_default().push(approval);
    }
    for record in records {
        record.approvals = by_request.remove(record.id.as_str()).unwrap_or_default();
    }
}

/// Migrations compiled into the binary, so a deployed gateway needs no migrations directory.
#[derive(Debug)]
pub(crate) struct Embedded(pub(crate) &'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// Test helper: the migration files in `dir` (relative to the crate) are exactly `embedded`.
#[cfg(test)]
pub(crate) fn assert_embedded(dir: &str, embedded: &[(i64, &str, &str)]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let names: Vec<String> = embedded
        .iter()
        .map(|(version, description, _)| format!("{version:04}_{description}.sql"))
        .collect();
    assert_eq!(files, names);
    for (version, description, sql) in embedded {
        let on_disk =
            std::fs::read_to_string(dir.join(format!("{version:04}_{description}.sql"))).unwrap();
        assert_eq!(&on_disk, sql);
    }
}
