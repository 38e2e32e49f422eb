//! [`RequestStore`] on SQLite: access requests, approvals and break-glass reviews.
//!
//! A transition that is one statement (deny, cancel, expire, review) carries its condition in
//! its `WHERE` clause, so SQLite takes the write lock before it reads the row. A transition of
//! several statements (submit with approval, approve and activate) runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the write lock first: its reads see every committed write, and no
//! other writer runs until it commits. Either way two concurrent approvals of one request can
//! never both create a grant. The triggers of migration 0002 check the same rules again for
//! every writer.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use crate::request::{
    already_approved, check_approvable, check_decision, check_deny_reason, grant_for,
    validate_review, why_not_cancelled, why_not_denied, why_not_reviewed,
};
use crate::rows::{
    approval_from_row, distribute_approvals, grant_from_row, grant_record_from_row,
    request_from_row,
};
use crate::sqlite::COLUMNS;
use crate::{
    AccessRequestRecord, Approval, ApprovalsComplete, Grant, GrantId, GrantRecord,
    GrantRecordFilter, GrantState, MAX_LIST_LIMIT, NewAccessRequest, NewApproval, NewGrant,
    RequestFilter, RequestId, RequestOutcome, RequestState, RequestStore, SqliteStore, StoreError,
};

/// How many fresh ids are drawn before giving up on collisions.
const ID_ATTEMPTS: u32 = 8;

/// Takes the write lock at the start, so the transaction's reads cannot go stale.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

pub(crate) const REQUEST_COLUMNS: &str = "r.id, r.requester, r.requester_groups, r.profile, r.namespace, \
    r.pod_name_glob, r.pod_label_selector, r.requested_duration, r.duration, r.reason, r.ticket, \
    r.break_glass, r.route, r.approvals_required, r.approver_groups, r.distinct_groups, r.state, \
    r.created_at, r.decided_at, r.decided_by, r.activated_at, r.ended_at, r.deny_reason, \
    r.cancel_reason, r.grant_id, g.expires_at AS grant_expires_at, \
    COALESCE(g.needs_review, 0) AS grant_needs_review";

pub(crate) const REQUEST_FROM: &str = "access_requests r LEFT JOIN grants g ON g.id = r.grant_id";

pub(crate) const GRANT_RECORD_COLUMNS: &str = "g.id, g.user_name, g.profile, g.namespaces, \
    g.pod_name_glob, g.pod_label_selector, g.reason, g.created_by, g.created_at, g.expires_at, \
    g.revoked_at, g.revoked_by, g.revoke_reason, g.needs_review, g.reviewed_by, g.reviewed_at, \
    g.review_comment, r.id AS request_id, COALESCE(r.break_glass, 0) AS request_break_glass";

pub(crate) const GRANT_RECORD_FROM: &str =
    "grants g LEFT JOIN access_requests r ON r.grant_id = g.id";

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(e)
}

pub(crate) fn json_list(field: &'static str, items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::InvalidRequest {
        field,
        reason: e.to_string(),
    })
}

pub(crate) fn limit_of(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_LIST_LIMIT))
}

/// Reads the approvals of `records` into them, oldest first.
async fn attach_approvals(
    conn: &mut SqliteConnection,
    records: &mut [AccessRequestRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    let rows = sqlx::query(
        "SELECT request_id, approver, approver_groups, comment, approved_at FROM approvals \
         WHERE request_id IN (SELECT value FROM json_each(?1)) ORDER BY approved_at, rowid",
    )
    .bind(json_list("ids", &ids)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let approvals = rows
        .iter()
        .map(approval_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    distribute_approvals(records, approvals);
    Ok(())
}

async fn fetch_request(
    conn: &mut SqliteConnection,
    id: &RequestId,
) -> Result<Option<AccessRequestRecord>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} WHERE r.id = ?1");
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut records = [request_from_row(&row)?];
    attach_approvals(conn, &mut records).await?;
    let [record] = records;
    Ok(Some(record))
}

/// The request, which the caller knows exists (it just wrote it).
async fn refetch_request(
    conn: &mut SqliteConnection,
    id: &RequestId,
) -> Result<AccessRequestRecord, StoreError> {
    fetch_request(conn, id)
        .await?
        .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })
}

async fn fetch_grant_record(
    conn: &mut SqliteConnection,
    id: &GrantId,
) -> Result<Option<GrantRecord>, StoreError> {
    let sql = format!("SELECT {GRANT_RECORD_COLUMNS} FROM {GRANT_RECORD_FROM} WHERE g.id = ?1");
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(grant_record_from_row).transpose()
}

/// Inserts `new` as a pending request created at `now`, under a fresh id.
async fn insert_request(
    conn: &mut SqliteConnection,
    new: &NewAccessRequest,
    now: i64,
) -> Result<RequestId, StoreError> {
    let requester_groups = json_list("requester_groups", &new.requester_groups)?;
    let approver_groups = json_list("approver_groups", &new.approver_groups)?;
    for _ in 0..ID_ATTEMPTS {
        let id = RequestId::from_random_bytes(crate::id::random_bytes()?);
        let inserted = sqlx::query(
            "INSERT INTO access_requests (id, requester, requester_groups, profile, namespace, \
             pod_name_glob, pod_label_selector, requested_duration, duration, reason, ticket, \
             break_glass, route, approvals_required, approver_groups, distinct_groups, state, \
             created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
             'pending', ?17)",
        )
        .bind(id.as_str())
        .bind(&new.requester)
        .bind(&requester_groups)
        .bind(&new.profile)
        .bind(&new.namespace)
        .bind(new.pod_name_glob.as_deref())
        .bind(new.pod_label_selector.as_deref())
        .bind(new.requested_duration)
        .bind(new.duration)
        .bind(&new.reason)
        .bind(new.ticket.as_deref())
        .bind(i64::from(new.break_glass))
        .bind(&new.route)
        .bind(i64::from(new.approvals_required))
        .bind(&approver_groups)
        .bind(i64::from(new.distinct_groups))
        .bind(now)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => return Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
            Err(e) => return Err(db(e)),
        }
    }
    Err(StoreError::IdsExhausted(ID_ATTEMPTS))
}

/// Inserts a grant created at `now` under a fresh id.
async fn insert_grant(
    conn: &mut SqliteConnection,
    new: &NewGrant,
    now: i64,
    needs_review: bool,
) -> Result<Grant, StoreError> {
    new.validate(now)?;
    let namespaces =
        serde_json::to_string(&new.namespaces).map_err(|e| StoreError::InvalidGrant {
            field: "namespaces",
            reason: e.to_string(),
        })?;
    let sql = format!(
        "INSERT INTO grants (id, user_name, profile, namespaces, pod_name_glob, \
         pod_label_selector, reason, created_by, created_at, expires_at, needs_review) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING {COLUMNS}"
    );
    for _ in 0..ID_ATTEMPTS {
        let id = GrantId::from_random_bytes(crate::id::random_bytes()?);
        let inserted = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(&new.user)
            .bind(&new.profile)
            .bind(&namespaces)
            .bind(new.pod_name_glob.as_deref())
            .bind(new.pod_label_selector.as_deref())
            .bind(&new.reason)
            .bind(&new.created_by)
            .bind(now)
            .bind(new.expires_at)
            .bind(i64::from(needs_review))
            .fetch_one(&mut *conn)
            .await;
        match inserted {
            Ok(row) => return grant_from_row(&row),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
            Err(e) => return Err(db(e)),
        }
    }
    Err(StoreError::IdsExhausted(ID_ATTEMPTS))
}

/// Moves a pending request `approved → active` with a new grant, inside the caller's
/// transaction: both transitions carry `now`.
async fn activate(
    conn: &mut SqliteConnection,
    request: &AccessRequestRecord,
    decided_by: &str,
    now: i64,
) -> Result<Grant, StoreError> {
    let approved = sqlx::query(
        "UPDATE access_requests SET state = 'approved', decided_at = ?1, decided_by = ?2 \
         WHERE id = ?3 AND state = 'pending'",
    )
    .bind(now)
    .bind(decided_by)
    .bind(request.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if approved.rows_affected() != 1 {
        return Err(StoreError::RequestNotPending {
            id: request.id.to_string(),
            state: request.state,
            action: "approved",
        });
    }
    let new = grant_for(request, decided_by, now)?;
    let grant = insert_grant(conn, &new, now, request.break_glass).await?;
    let activated = sqlx::query(
        "UPDATE access_requests SET state = 'active', activated_at = ?1, grant_id = ?2 \
         WHERE id = ?3 AND state = 'approved'",
    )
    .bind(now)
    .bind(grant.id.as_str())
    .bind(request.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if activated.rows_affected() != 1 {
        return Err(StoreError::RequestNotPending {
            id: request.id.to_string(),
            state: RequestState::Approved,
            action: "approved",
        });
    }
    Ok(grant)
}

impl SqliteStore {
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        self.pool.acquire().await.map_err(db)
    }
}

#[async_trait]
impl RequestStore for SqliteStore {
    async fn submit_request(&self, new: NewAccessRequest) -> Result<RequestOutcome, StoreError> {
        new.validate()?;
        let now = self.clock.now();
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await.map_err(db)?;
        let id = insert_request(&mut tx, &new, now).await?;
        let mut grant = None;
        if let Some(approve) = &new.approve_now {
            let pending = refetch_request(&mut tx, &id).await?;
            grant = Some(activate(&mut tx, &pending, &approve.decided_by, now).await?);
        }
        let request = refetch_request(&mut tx, &id).await?;
        tx.commit().await.map_err(db)?;
        Ok(RequestOutcome { request, grant })
    }

    async fn approve_request(
        &self,
        id: &RequestId,
        approval: NewApproval,
        complete: &ApprovalsComplete,
    ) -> Result<RequestOutcome, StoreError> {
        approval.validate()?;
        let now = self.clock.now();
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await.map_err(db)?;
        let mut record = fetch_request(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })?;
        check_approvable(&record, &approval.approver)?;
        let inserted = sqlx::query(
            "INSERT INTO approvals (request_id, approver, approver_groups, comment, approved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(id.as_str())
        .bind(&approval.approver)
        .bind(json_list("approver_groups", &approval.approver_groups)?)
        .bind(approval.comment.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(already_approved(&record, &approval.approver));
            }
            Err(e) => return Err(db(e)),
        }
        record.approvals.push(Approval {
            approver: approval.approver.clone(),
            approver_groups: approval.approver_groups,
            comment: approval.comment,
            at: now,
        });
        let grant = if complete(&record) {
            Some(activate(&mut tx, &record, &approval.approver, now).await?)
        } else {
            None
        };
        let request = refetch_request(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(RequestOutcome { request, grant })
    }

    async fn deny_request(
        &self,
        id: &RequestId,
        by: &str,
        reason: &str,
    ) -> Result<AccessRequestRecord, StoreError> {
        check_decision("decided_by", by, "deny_reason", Some(reason))?;
        check_deny_reason(reason)?;
        let now = self.clock.now();
        let denied = sqlx::query(
            "UPDATE access_requests SET state = 'denied', decided_at = ?1, decided_by = ?2, \
             deny_reason = ?3, ended_at = ?1 \
             WHERE id = ?4 AND state = 'pending' AND requester <> ?2",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let record = fetch_request(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })?;
        if denied.rows_affected() == 1 {
            return Ok(record);
        }
        Err(why_not_denied(&record, by))
    }

    async fn cancel_request(
        &self,
        id: &RequestId,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AccessRequestRecord, StoreError> {
        check_decision("decided_by", by, "cancel_reason", reason)?;
        let now = self.clock.now();
        let cancelled = sqlx::query(
            "UPDATE access_requests SET state = 'cancelled', decided_at = ?1, decided_by = ?2, \
             cancel_reason = ?3, ended_at = ?1 \
             WHERE id = ?4 AND state = 'pending' AND requester = ?2",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let record = fetch_request(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })?;
        if cancelled.rows_affected() == 1 {
            return Ok(record);
        }
        Err(why_not_cancelled(record, by))
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequestRecord>, StoreError> {
        let mut conn = self.conn().await?;
        fetch_request(&mut conn, id).await
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequestRecord>, StoreError> {
        let states: Vec<String> = filter
            .states
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let states = (!states.is_empty())
            .then(|| json_list("states", &states))
            .transpose()?;
        let approvers = filter
            .approver_in
            .as_deref()
            .map(|groups| json_list("approver_in", groups))
            .transpose()?;
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} \
             WHERE (?1 IS NULL OR r.requester = ?1) \
               AND (?2 IS NULL OR r.requester <> ?2) \
               AND (?3 IS NULL OR r.state IN (SELECT value FROM json_each(?3))) \
               AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(r.approver_groups) a \
                                          WHERE a.value IN (SELECT value FROM json_each(?4)))) \
             ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?5"
        );
        let mut conn = self.conn().await?;
        let rows = sqlx::query(&sql)
            .bind(filter.requester.as_deref())
            .bind(filter.not_requester.as_deref())
            .bind(states)
            .bind(approvers)
            .bind(limit_of(filter.limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let mut records = rows
            .iter()
            .map(request_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        attach_approvals(&mut conn, &mut records).await?;
        Ok(records)
    }

    async fn expire_requests(&self, now: i64) -> Result<Vec<AccessRequestRecord>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE access_requests \
             SET state = 'expired', \
                 ended_at = (SELECT g.expires_at FROM grants g WHERE g.id = access_requests.grant_id) \
             WHERE state = 'active' \
               AND EXISTS (SELECT 1 FROM grants g WHERE g.id = access_requests.grant_id \
                           AND g.revoked_at IS NULL AND g.expires_at <= ?1) \
             RETURNING id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let mut expired = Vec::with_capacity(ids.len());
        for id in ids {
            let id = RequestId::parse(&id).map_err(|e| StoreError::CorruptRequest {
                id: id.clone(),
                reason: e.to_string(),
            })?;
            expired.push(refetch_request(&mut conn, &id).await?);
        }
        Ok(expired)
    }

    async fn review_grant(
        &self,
        id: &GrantId,
        by: &str,
        comment: &str,
    ) -> Result<GrantRecord, StoreError> {
        validate_review(by, comment)?;
        let now = self.clock.now();
        let reviewed = sqlx::query(
            "UPDATE grants SET needs_review = 0, reviewed_by = ?1, reviewed_at = ?2, \
             review_comment = ?3 \
             WHERE id = ?4 AND needs_review = 1 AND reviewed_at IS NULL AND user_name <> ?1",
        )
        .bind(by)
        .bind(now)
        .bind(comment)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let record = fetch_grant_record(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })?;
        if reviewed.rows_affected() == 1 {
            return Ok(record);
        }
        Err(why_not_reviewed(record, by))
    }

    async fn grant_record(&self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
        let mut conn = self.conn().await?;
        fetch_grant_record(&mut conn, id).await
    }

    async fn list_grant_records(
        &self,
        filter: &GrantRecordFilter,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let wants = |state: GrantState| filter.states.contains(&state);
        let sql = format!(
            "SELECT {GRANT_RECORD_COLUMNS} FROM {GRANT_RECORD_FROM} \
             WHERE (?1 IS NULL OR g.user_name = ?1) \
               AND (?2 = 0 \
                    OR (?3 = 1 AND g.revoked_at IS NULL AND g.expires_at > ?6) \
                    OR (?4 = 1 AND g.revoked_at IS NULL AND g.expires_at <= ?6) \
                    OR (?5 = 1 AND g.revoked_at IS NOT NULL)) \
             ORDER BY g.created_at DESC, g.rowid DESC LIMIT ?7"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.user.as_deref())
            .bind(!filter.states.is_empty())
            .bind(wants(GrantState::Active))
            .bind(wants(GrantState::Expired))
            .bind(wants(GrantState::Revoked))
            .bind(self.clock.now())
            .bind(limit_of(filter.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(grant_record_from_row).collect()
    }

    async fn request_change_counter(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT value FROM request_change_counter WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }
}
