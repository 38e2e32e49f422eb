-- Access requests, their approvals, and the after-the-fact review of break-glass grants
-- (PostgreSQL; the same rules as migrations/sqlite/0002_access_requests.sql): a request's terms
-- never change, its state moves only pending → approved → active → expired | revoked or
-- pending → denied | cancelled (terminal states never reopen), a timestamp or decision once set
-- is never cleared or changed, and nothing is deleted.

-- Break-glass grants must be reviewed by someone else afterwards.
ALTER TABLE grants ADD COLUMN needs_review BIGINT NOT NULL DEFAULT 0 CHECK (needs_review IN (0, 1));
ALTER TABLE grants ADD COLUMN reviewed_by TEXT;
ALTER TABLE grants ADD COLUMN reviewed_at BIGINT;
ALTER TABLE grants ADD COLUMN review_comment TEXT;

CREATE TABLE access_requests (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (id ~ '^r-[0-9a-f]{8}$'),
    seq                BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    requester          TEXT    NOT NULL CHECK (requester <> ''),
    requester_groups   TEXT    NOT NULL CHECK (jsonb_typeof(requester_groups::jsonb) = 'array'),
    profile            TEXT    NOT NULL CHECK (profile <> ''),
    namespace          TEXT    NOT NULL CHECK (namespace <> ''),
    pod_name_glob      TEXT,
    pod_label_selector TEXT,
    -- Seconds; NULL when the requester named no duration.
    requested_duration BIGINT  CHECK (requested_duration IS NULL OR requested_duration > 0),
    -- Seconds the grant lasts once active.
    duration           BIGINT  NOT NULL CHECK (duration > 0),
    reason             TEXT    NOT NULL,
    ticket             TEXT,
    break_glass        BIGINT  NOT NULL CHECK (break_glass IN (0, 1)),
    -- How it is approved, in words, decided at submission.
    route              TEXT    NOT NULL,
    approvals_required BIGINT  NOT NULL CHECK (approvals_required >= 0),
    approver_groups    TEXT    NOT NULL CHECK (jsonb_typeof(approver_groups::jsonb) = 'array'),
    distinct_groups    BIGINT  NOT NULL CHECK (distinct_groups IN (0, 1)),
    state              TEXT    NOT NULL
                       CHECK (state IN ('pending', 'approved', 'active', 'expired', 'revoked', 'denied', 'cancelled')),
    created_at         BIGINT  NOT NULL,
    -- Approved, denied or cancelled.
    decided_at         BIGINT,
    decided_by         TEXT,
    activated_at       BIGINT,
    ended_at           BIGINT,
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
);

CREATE INDEX access_requests_by_requester ON access_requests (requester, created_at);
CREATE INDEX access_requests_by_state ON access_requests (state, created_at);

-- A grant is created unreviewed; the only change to the review columns is the one review of a
-- grant that needs it, with reviewer, time and comment. Nothing else, and never twice.
CREATE FUNCTION jitgate_grants_review_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.reviewed_by IS NOT NULL OR NEW.reviewed_at IS NOT NULL OR NEW.review_comment IS NOT NULL THEN
            RAISE EXCEPTION 'a grant is created unreviewed';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.needs_review, NEW.reviewed_by, NEW.reviewed_at, NEW.review_comment)
       IS DISTINCT FROM (OLD.needs_review, OLD.reviewed_by, OLD.reviewed_at, OLD.review_comment)
       AND NOT (OLD.needs_review = 1 AND OLD.reviewed_at IS NULL AND NEW.needs_review = 0
                AND NEW.reviewed_by IS NOT NULL AND NEW.reviewed_by <> ''
                AND NEW.reviewed_at IS NOT NULL AND NEW.review_comment IS NOT NULL) THEN
        RAISE EXCEPTION 'a grant that needs review is reviewed once, with reviewer, time and comment; a review is final';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER grants_review_guard BEFORE INSERT OR UPDATE ON grants
FOR EACH ROW EXECUTE FUNCTION jitgate_grants_review_guard();

CREATE FUNCTION jitgate_access_requests_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'access requests are never deleted';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'pending' THEN
            RAISE EXCEPTION 'an access request starts pending';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT ((OLD.state = 'pending' AND NEW.state IN ('approved', 'denied', 'cancelled'))
                OR (OLD.state = 'approved' AND NEW.state = 'active')
                OR (OLD.state = 'active' AND NEW.state IN ('expired', 'revoked'))) THEN
        RAISE EXCEPTION 'access request states move only pending → approved → active → expired | revoked, or pending → denied | cancelled';
    END IF;
    IF (OLD.decided_at IS NOT NULL AND NEW.decided_at IS DISTINCT FROM OLD.decided_at)
       OR (OLD.decided_by IS NOT NULL AND NEW.decided_by IS DISTINCT FROM OLD.decided_by)
       OR (OLD.activated_at IS NOT NULL AND NEW.activated_at IS DISTINCT FROM OLD.activated_at)
       OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS DISTINCT FROM OLD.ended_at)
       OR (OLD.deny_reason IS NOT NULL AND NEW.deny_reason IS DISTINCT FROM OLD.deny_reason)
       OR (OLD.cancel_reason IS NOT NULL AND NEW.cancel_reason IS DISTINCT FROM OLD.cancel_reason)
       OR (OLD.grant_id IS NOT NULL AND NEW.grant_id IS DISTINCT FROM OLD.grant_id) THEN
        RAISE EXCEPTION 'a timestamp or decision of an access request never changes once set';
    END IF;
    IF (NEW.id, NEW.requester, NEW.requester_groups, NEW.profile, NEW.namespace,
        NEW.pod_name_glob, NEW.pod_label_selector, NEW.requested_duration, NEW.duration,
        NEW.reason, NEW.ticket, NEW.break_glass, NEW.route, NEW.approvals_required,
        NEW.approver_groups, NEW.distinct_groups, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.requester, OLD.requester_groups, OLD.profile, OLD.namespace,
        OLD.pod_name_glob, OLD.pod_label_selector, OLD.requested_duration, OLD.duration,
        OLD.reason, OLD.ticket, OLD.break_glass, OLD.route, OLD.approvals_required,
        OLD.approver_groups, OLD.distinct_groups, OLD.created_at) THEN
        RAISE EXCEPTION 'access request terms never change after submission';
    END IF;
    -- The grant an activation names is for this requester and profile.
    IF NEW.grant_id IS NOT NULL AND NEW.grant_id IS DISTINCT FROM OLD.grant_id
       AND NOT EXISTS (SELECT 1 FROM grants g
                       WHERE g.id = NEW.grant_id AND g.user_name = NEW.requester
                         AND g.profile = NEW.profile) THEN
        RAISE EXCEPTION 'an access request is activated only with a grant for its requester and profile';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER access_requests_guard BEFORE INSERT OR UPDATE OR DELETE ON access_requests
FOR EACH ROW EXECUTE FUNCTION jitgate_access_requests_guard();

CREATE TRIGGER access_requests_are_kept BEFORE TRUNCATE ON access_requests
FOR EACH STATEMENT EXECUTE FUNCTION jitgate_refuse_truncate();

-- Revoking a grant, by whoever and however, ends its request in the same transaction.
CREATE FUNCTION jitgate_revocation_ends_the_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
        UPDATE access_requests SET state = 'revoked', ended_at = NEW.revoked_at
        WHERE grant_id = NEW.id AND state = 'active';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER grants_revocation_ends_the_request AFTER UPDATE OF revoked_at ON grants
FOR EACH ROW EXECUTE FUNCTION jitgate_revocation_ends_the_request();

-- One approval per approver per request, only while it is pending, never by the requester.
CREATE TABLE approvals (
    request_id      TEXT    NOT NULL REFERENCES access_requests (id),
    approver        TEXT    NOT NULL CHECK (approver <> ''),
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- The approver's groups as authenticated when approving.
    approver_groups TEXT    NOT NULL CHECK (jsonb_typeof(approver_groups::jsonb) = 'array'),
    comment         TEXT,
    approved_at     BIGINT  NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE FUNCTION jitgate_approvals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'approvals are never deleted';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'approvals never change';
    END IF;
    IF (SELECT state FROM access_requests WHERE id = NEW.request_id) IS DISTINCT FROM 'pending' THEN
        RAISE EXCEPTION 'approvals are recorded only for pending access requests';
    END IF;
    IF NEW.approver = (SELECT requester FROM access_requests WHERE id = NEW.request_id) THEN
        RAISE EXCEPTION 'nobody approves their own access request';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER approvals_guard BEFORE INSERT OR UPDATE OR DELETE ON approvals
FOR EACH ROW EXECUTE FUNCTION jitgate_approvals_guard();

CREATE TRIGGER approvals_are_kept BEFORE TRUNCATE ON approvals
FOR EACH STATEMENT EXECUTE FUNCTION jitgate_refuse_truncate();

-- Like change_counter for grants: bumped in the same transaction as every write to requests,
-- approvals and reviews, so a broker replica can poll one integer for transitions made by another.
CREATE TABLE request_change_counter (
    id    BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO request_change_counter (id, value) VALUES (1, 0);

CREATE FUNCTION jitgate_bump_request_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_change_counter SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER access_requests_bump AFTER INSERT OR UPDATE ON access_requests
FOR EACH ROW EXECUTE FUNCTION jitgate_bump_request_change_counter();

CREATE TRIGGER approvals_bump AFTER INSERT ON approvals
FOR EACH ROW EXECUTE FUNCTION jitgate_bump_request_change_counter();

CREATE TRIGGER grants_review_bumps_requests AFTER UPDATE OF needs_review ON grants
FOR EACH ROW EXECUTE FUNCTION jitgate_bump_request_change_counter();
