//! [`RequestStore`] on PostgreSQL: access requests, approvals and break-glass reviews, shared by
//! every broker replica.
//!
//! A transition that is one statement (deny, cancel, expire, review) carries its condition in its
//! `WHERE` clause: a concurrent writer's row lock makes it wait, and it then re-checks the
//! condition on the committed row. A transition of several statements (approve and activate)
//! first locks the request row (`SELECT … FOR UPDATE`), so approvals of one request run one
//! after the other and each sees the approvals before it: two concurrent approvals can never
//! both create a grant, and two that together complete a request do complete it. The triggers of
//! migration 0002 check the same rules again for every writer.

use async_trait::async_trait;
use sqlx::postgres::PgConnection;

use crate::postgres::insert_grant;
use crate::request::{
    already_approved, check_approvable, check_decision, check_deny_reason, grant_for,
    validate_review, why_not_cancelled, why_not_denied, why_not_reviewed,
};
use crate::rows::{
    approval_from_row, distribute_approvals, grant_record_from_row, request_from_row,
};
use crate::sqlite_request::{
    GRANT_RECORD_COLUMNS, GRANT_RECORD_FROM, REQUEST_COLUMNS, REQUEST_FROM, json_list, limit_of,
};
use crate::{
    AccessRequestRecord, Approval, ApprovalsComplete, Grant, GrantId, GrantRecord,
    GrantRecordFilter, GrantState, NewAccessRequest, NewApproval, PgStore, RequestFilter,
    RequestId, RequestOutcome, RequestState, RequestStore, StoreError,
};

/// How many fresh ids are drawn before giving up on collisions.
const ID_ATTEMPTS: u32 = 8;

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(e)
}

/// Reads the approvals of `records` into them, oldest first.
async fn attach_approvals(
    conn: &mut PgConnection,
    records: &mut [AccessRequestRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    let rows = sqlx::query(
        "SELECT request_id, approver, approver_groups, comment, approved_at FROM approvals \
         WHERE request_id = ANY($1) ORDER BY approved_at, seq",
    )
    .bind(&ids)
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

/// The request with its approvals; with `lock`, its row stays locked until the transaction ends.
async fn fetch_request(
    conn: &mut PgConnection,
    id: &RequestId,
    lock: bool,
) -> Result<Option<AccessRequestRecord>, StoreError> {
    let lock = if lock { " FOR UPDATE OF r" } else { "" };
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} WHERE r.id = $1{lock}");
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
    conn: &mut PgConnection,
    id: &RequestId,
) -> Result<AccessRequestRecord, StoreError> {
    fetch_request(conn, id, false)
        .await?
        .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })
}

async fn fetch_grant_record(
    conn: &mut PgConnection,
    id: &GrantId,
) -> Result<Option<GrantRecord>, StoreError> {
    let sql = format!("SELECT {GRANT_RECORD_COLUMNS} FROM {GRANT_RECORD_FROM} WHERE g.id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(grant_record_from_row).transpose()
}

/// Inserts `new` as a pending request created at `now`, under a fresh id.
async fn insert_request(
    conn: &mut PgConnection,
    new: &NewAccessRequest,
    now: i64,
) -> Result<RequestId, StoreError> {
    let requester_groups = json_list("requester_groups", &new.requester_groups)?;
    let approver_groups = json_list("approver_groups", &new.approver_groups)?;
    for _ in 0..ID_ATTEMPTS {
        let id = RequestId::from_random_bytes(crate::id::random_bytes()?);
        // A colliding id inserts nothing (without aborting the transaction); draw another.
        let inserted = sqlx::query(
            "INSERT INTO access_requests (id, requester, requester_groups, profile, namespace, \
             pod_name_glob, pod_label_selector, requested_duration, duration, reason, ticket, \
             break_glass, route, approvals_required, approver_groups, distinct_groups, state, \
             created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             'pending', $17) ON CONFLICT (id) DO NOTHING",
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
        .await
        .map_err(db)?;
        if inserted.rows_affected() == 1 {
            return Ok(id);
        }
    }
    Err(StoreError::IdsExhausted(ID_ATTEMPTS))
}

/// Moves a pending request `approved → active` with a new grant, inside the caller's
/// transaction: both transitions carry `now`.
async fn activate(
    conn: &mut PgConnection,
    request: &AccessRequestRecord,
    decided_by: &str,
    now: i64,
) -> Result<Grant, StoreError> {
    let approved = sqlx::query(
        "UPDATE access_requests SET state = 'approved', decided_at = $1, decided_by = $2 \
         WHERE id = $3 AND state = 'pending'",
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
        "UPDATE access_requests SET state = 'active', activated_at = $1, grant_id = $2 \
         WHERE id = $3 AND state = 'approved'",
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

impl PgStore {
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        self.pool.acquire().await.map_err(db)
    }
}

#[async_trait]
impl RequestStore for PgStore {
    async fn submit_request(&self, new: NewAccessRequest) -> Result<RequestOutcome, StoreError> {
        new.validate()?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The row lock: a concurrent approval of this request waits here until this one commits
        // or rolls back, then reads the approvals as they are.
        let mut record = fetch_request(&mut tx, id, true)
            .await?
            .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })?;
        check_approvable(&record, &approval.approver)?;
        let inserted = sqlx::query(
            "INSERT INTO approvals (request_id, approver, approver_groups, comment, approved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(&approval.approver)
        .bind(json_list("approver_groups", &approval.approver_groups)?)
        .bind(approval.comment.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.rows_affected() != 1 {
            return Err(already_approved(&record, &approval.approver));
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
            "UPDATE access_requests SET state = 'denied', decided_at = $1, decided_by = $2, \
             deny_reason = $3, ended_at = $1 \
             WHERE id = $4 AND state = 'pending' AND requester <> $2",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let record = fetch_request(&mut conn, id, false)
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
            "UPDATE access_requests SET state = 'cancelled', decided_at = $1, decided_by = $2, \
             cancel_reason = $3, ended_at = $1 \
             WHERE id = $4 AND state = 'pending' AND requester = $2",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.conn().await?;
        let record = fetch_request(&mut conn, id, false)
            .await?
            .ok_or_else(|| StoreError::RequestNotFound { id: id.to_string() })?;
        if cancelled.rows_affected() == 1 {
            return Ok(record);
        }
        Err(why_not_cancelled(record, by))
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequestRecord>, StoreError> {
        let mut conn = self.conn().await?;
        fetch_request(&mut conn, id, false).await
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequestRecord>, StoreError> {
        let states: Option<Vec<String>> = (!filter.states.is_empty()).then(|| {
            filter
                .states
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect()
        });
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} \
             WHERE ($1::text IS NULL OR r.requester = $1) \
               AND ($2::text IS NULL OR r.requester <> $2) \
               AND ($3::text[] IS NULL OR r.state = ANY($3)) \
               AND ($4::text[] IS NULL OR EXISTS ( \
                    SELECT 1 FROM jsonb_array_elements_text(r.approver_groups::jsonb) AS a(g) \
                    WHERE a.g = ANY($4))) \
             ORDER BY r.created_at DESC, r.seq DESC LIMIT $5"
        );
        let mut conn = self.conn().await?;
        let rows = sqlx::query(&sql)
            .bind(filter.requester.as_deref())
            .bind(filter.not_requester.as_deref())
            .bind(states)
            .bind(filter.approver_in.as_deref())
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
            "UPDATE access_requests r SET state = 'expired', ended_at = g.expires_at \
             FROM grants g \
             WHERE g.id = r.grant_id AND r.state = 'active' \
               AND g.revoked_at IS NULL AND g.expires_at <= $1 \
             RETURNING r.id",
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
            "UPDATE grants SET needs_review = 0, reviewed_by = $1, reviewed_at = $2, \
             review_comment = $3 \
             WHERE id = $4 AND needs_review = 1 AND reviewed_at IS NULL AND user_name <> $1",
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
             WHERE ($1::text IS NULL OR g.user_name = $1) \
               AND (NOT $2 \
                    OR ($3 AND g.revoked_at IS NULL AND g.expires_at > $6) \
                    OR ($4 AND g.revoked_at IS NULL AND g.expires_at <= $6) \
                    OR ($5 AND g.revoked_at IS NOT NULL)) \
             ORDER BY g.created_at DESC, g.seq DESC LIMIT $7"
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
