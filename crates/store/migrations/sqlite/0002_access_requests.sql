-- Access requests, their approvals, and the after-the-fact review of break-glass grants.
-- Same rules as for grants, enforced here for every writer: a request's terms never change,
-- its state moves only pending → approved → active → expired | revoked or
-- pending → denied | cancelled (terminal states never reopen), a timestamp or decision once
-- set is never cleared or changed, and nothing is deleted.

-- Break-glass grants must be reviewed by someone else afterwards.
ALTER TABLE grants ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 0 CHECK (needs_review IN (0, 1));
ALTER TABLE grants ADD COLUMN reviewed_by TEXT;
ALTER TABLE grants ADD COLUMN reviewed_at INTEGER;
ALTER TABLE grants ADD COLUMN review_comment TEXT;

-- A grant is created unreviewed.
CREATE TRIGGER grants_start_unreviewed BEFORE INSERT ON grants
WHEN NEW.reviewed_by IS NOT NULL OR NEW.reviewed_at IS NOT NULL OR NEW.review_comment IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a grant is created unreviewed');
END;

-- The only change to the review columns: a grant that needs review gets its one review, with
-- reviewer, time and comment, and stops needing review. Nothing else, and never twice.
CREATE TRIGGER grants_review_is_once_and_final
BEFORE UPDATE OF needs_review, reviewed_by, reviewed_at, review_comment ON grants
WHEN (NEW.needs_review IS NOT OLD.needs_review
      OR NEW.reviewed_by IS NOT OLD.reviewed_by
      OR NEW.reviewed_at IS NOT OLD.reviewed_at
      OR NEW.review_comment IS NOT OLD.review_comment)
 AND NOT (OLD.needs_review = 1 AND OLD.reviewed_at IS NULL AND NEW.needs_review = 0
          AND NEW.reviewed_by IS NOT NULL AND NEW.reviewed_by <> ''
          AND NEW.reviewed_at IS NOT NULL AND NEW.review_comment IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'a grant that needs review is reviewed once, with reviewer, time and comment; a review is final');
END;

CREATE TABLE access_requests (
    id                 TEXT    NOT NULL PRIMARY KEY
                       CHECK (length(id) = 10 AND id GLOB 'r-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    requester          TEXT    NOT NULL CHECK (requester <> ''),
    requester_groups   TEXT    NOT NULL CHECK (json_valid(requester_groups) AND json_type(requester_groups) = 'array'),
    profile            TEXT    NOT NULL CHECK (profile <> ''),
    namespace          TEXT    NOT NULL CHECK (namespace <> ''),
    pod_name_glob      TEXT,
    pod_label_selector TEXT,
    -- Seconds; NULL when the requester named no duration.
    requested_duration INTEGER CHECK (requested_duration IS NULL OR requested_duration > 0),
    -- Seconds the grant lasts once active.
    duration           INTEGER NOT NULL CHECK (duration > 0),
    reason             TEXT    NOT NULL,
    ticket             TEXT,
    break_glass        INTEGER NOT NULL CHECK (break_glass IN (0, 1)),
    -- How it is approved, in words, decided at submission.
    route              TEXT    NOT NULL,
    approvals_required INTEGER NOT NULL CHECK (approvals_required >= 0),
    approver_groups    TEXT    NOT NULL CHECK (json_valid(approver_groups) AND json_type(approver_groups) = 'array'),
    distinct_groups    INTEGER NOT NULL CHECK (distinct_groups IN (0, 1)),
    state              TEXT    NOT NULL
                       CHECK (state IN ('pending', 'approved', 'active', 'expired', 'revoked', 'denied', 'cancelled')),
    created_at         INTEGER NOT NULL,
    -- Approved, denied or cancelled.
    decided_at         INTEGER,
    decided_by         TEXT,
    activated_at       INTEGER,
    ended_at           INTEGER,
    deny_reason        TEXT,
    cancel_reason      TEXT,
    grant_id           TEXT    UNIQUE REFERENCES grants (id),
    CHECK ((decided_at IS NULL) = (state = 'pending')),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK (decided_by IS NULL OR decided_by <> ''),
    CHECK ((activated_at IS NULL) = (state IN ('pending', 'approved', 'denied', 'cancelled'))),
    CHECK ((grant_id IS NULL) = (activated_at IS NULL)),
    CHECK ((ended_at IS NULL) = (state IN ('pending', 'approved', 'active'))),
    CHECK ((deny_reason IS NOT NULL) = (state = 'denied')),
    CHECK (cancel_reason IS NULL OR state = 'cancelled'),
    CHECK (decided_at IS NULL OR decided_at >= created_at),
    CHECK (activated_at IS NULL OR activated_at >= decided_at),
    CHECK (ended_at IS NULL OR ended_at >= created_at)
) STRICT;

CREATE INDEX access_requests_by_requester ON access_requests (requester, created_at);
CREATE INDEX access_requests_by_state ON access_requests (state, created_at);

CREATE TRIGGER access_requests_start_pending BEFORE INSERT ON access_requests
WHEN NEW.state <> 'pending'
BEGIN
    SELECT RAISE(ABORT, 'an access request starts pending');
END;

CREATE TRIGGER access_requests_state_moves_forward BEFORE UPDATE OF state ON access_requests
WHEN NEW.state IS NOT OLD.state
 AND NOT ((OLD.state = 'pending' AND NEW.state IN ('approved', 'denied', 'cancelled'))
          OR (OLD.state = 'approved' AND NEW.state = 'active')
          OR (OLD.state = 'active' AND NEW.state IN ('expired', 'revoked')))
BEGIN
    SELECT RAISE(ABORT, 'access request states move only pending → approved → active → expired | revoked, or pending → denied | cancelled');
END;

CREATE TRIGGER access_requests_decisions_are_final BEFORE UPDATE ON access_requests
WHEN (OLD.decided_at IS NOT NULL AND NEW.decided_at IS NOT OLD.decided_at)
  OR (OLD.decided_by IS NOT NULL AND NEW.decided_by IS NOT OLD.decided_by)
  OR (OLD.activated_at IS NOT NULL AND NEW.activated_at IS NOT OLD.activated_at)
  OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS NOT OLD.ended_at)
  OR (OLD.deny_reason IS NOT NULL AND NEW.deny_reason IS NOT OLD.deny_reason)
  OR (OLD.cancel_reason IS NOT NULL AND NEW.cancel_reason IS NOT OLD.cancel_reason)
  OR (OLD.grant_id IS NOT NULL AND NEW.grant_id IS NOT OLD.grant_id)
BEGIN
    SELECT RAISE(ABORT, 'a timestamp or decision of an access request never changes once set');
END;

CREATE TRIGGER access_requests_terms_are_fixed
BEFORE UPDATE OF id, requester, requester_groups, profile, namespace, pod_name_glob,
                 pod_label_selector, requested_duration, duration, reason, ticket, break_glass,
                 route, approvals_required, approver_groups, distinct_groups, created_at
ON access_requests
BEGIN
    SELECT RAISE(ABORT, 'access request terms never change after submission');
END;

-- The grant an activation names is for this requester and profile.
CREATE TRIGGER access_requests_grant_matches BEFORE UPDATE OF grant_id ON access_requests
WHEN NEW.grant_id IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM grants g
                 WHERE g.id = NEW.grant_id AND g.user_name = NEW.requester AND g.profile = NEW.profile)
BEGIN
    SELECT RAISE(ABORT, 'an access request is activated only with a grant for its requester and profile');
END;

CREATE TRIGGER access_requests_are_kept BEFORE DELETE ON access_requests
BEGIN
    SELECT RAISE(ABORT, 'access requests are never deleted');
END;

-- Revoking a grant, by whoever and however, ends its request in the same transaction.
CREATE TRIGGER grants_revocation_ends_the_request AFTER UPDATE OF revoked_at ON grants
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    UPDATE access_requests SET state = 'revoked', ended_at = NEW.revoked_at
    WHERE grant_id = NEW.id AND state = 'active';
END;

-- One approval per approver per request, only while it is pending, never by the requester.
CREATE TABLE approvals (
    request_id      TEXT    NOT NULL REFERENCES access_requests (id),
    approver        TEXT    NOT NULL CHECK (approver <> ''),
    -- The approver's groups as authenticated when approving.
    approver_groups TEXT    NOT NULL CHECK (json_valid(approver_groups) AND json_type(approver_groups) = 'array'),
    comment         TEXT,
    approved_at     INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
) STRICT;

CREATE TRIGGER approvals_only_while_pending BEFORE INSERT ON approvals
WHEN (SELECT state FROM access_requests WHERE id = NEW.request_id) IS NOT 'pending'
BEGIN
    SELECT RAISE(ABORT, 'approvals are recorded only for pending access requests');
END;

CREATE TRIGGER approvals_never_by_the_requester BEFORE INSERT ON approvals
WHEN NEW.approver = (SELECT requester FROM access_requests WHERE id = NEW.request_id)
BEGIN
    SELECT RAISE(ABORT, 'nobody approves their own access request');
END;

CREATE TRIGGER approvals_are_final BEFORE UPDATE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'approvals never change');
END;

CREATE TRIGGER approvals_are_kept BEFORE DELETE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'approvals are never deleted');
END;

-- Like change_counter for grants: bumped in the same transaction as every write to requests,
-- approvals and reviews, so a broker can poll one integer for transitions made by another
-- process.
CREATE TABLE request_change_counter (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO request_change_counter (id, value) VALUES (1, 0);

CREATE TRIGGER access_requests_bump_on_insert AFTER INSERT ON access_requests
BEGIN
    UPDATE request_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER access_requests_bump_on_update AFTER UPDATE ON access_requests
BEGIN
    UPDATE request_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER approvals_bump_on_insert AFTER INSERT ON approvals
BEGIN
    UPDATE request_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER grants_review_bumps_requests AFTER UPDATE OF needs_review ON grants
BEGIN
    UPDATE request_change_counter SET value = value + 1 WHERE id = 1;
END;
