-- Grants: time-limited access for one user to one profile's scope (PostgreSQL; the same rules as
-- migrations/sqlite/0001_grants.sql). Timestamps are unix seconds (UTC). Once set, a timestamp is
-- never cleared, and a revoked grant never reopens: the triggers below enforce that for every
-- writer, not just jitgate.

CREATE TABLE grants (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (id ~ '^g-[0-9a-f]{8}$'),
    -- Insertion order, for stable ordering of grants created in the same second.
    seq                BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_name          TEXT    NOT NULL CHECK (user_name <> ''),
    profile            TEXT    NOT NULL CHECK (profile <> ''),
    namespaces         TEXT    NOT NULL CHECK (jsonb_typeof(namespaces::jsonb) = 'array'),
    pod_name_glob      TEXT,
    pod_label_selector TEXT,
    reason             TEXT    NOT NULL,
    created_by         TEXT    NOT NULL CHECK (created_by <> ''),
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    revoked_at         BIGINT,
    revoked_by         TEXT,
    revoke_reason      TEXT,
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);

CREATE INDEX grants_by_user ON grants (user_name, created_at);
CREATE INDEX grants_unrevoked_by_expiry ON grants (expires_at) WHERE revoked_at IS NULL;

-- One row, bumped in the same transaction as every write to grants, so every gateway replica can
-- poll a single integer and rebuild its index only when something changed.
CREATE TABLE change_counter (
    id    BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);

CREATE FUNCTION jitgate_bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER grants_bump AFTER INSERT OR UPDATE ON grants
FOR EACH ROW EXECUTE FUNCTION jitgate_bump_change_counter();

CREATE FUNCTION jitgate_grants_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'grants are never deleted';
    END IF;
    IF (NEW.id, NEW.user_name, NEW.profile, NEW.namespaces, NEW.pod_name_glob,
        NEW.pod_label_selector, NEW.reason, NEW.created_by, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.user_name, OLD.profile, OLD.namespaces, OLD.pod_name_glob,
        OLD.pod_label_selector, OLD.reason, OLD.created_by, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'grant terms never change after creation';
    END IF;
    IF OLD.revoked_at IS NOT NULL
       AND (NEW.revoked_at, NEW.revoked_by, NEW.revoke_reason)
           IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by, OLD.revoke_reason) THEN
        RAISE EXCEPTION 'grant revocation is final';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER grants_guard BEFORE UPDATE OR DELETE ON grants
FOR EACH ROW EXECUTE FUNCTION jitgate_grants_guard();

-- TRUNCATE skips row triggers; it is refused as well.
CREATE FUNCTION jitgate_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is never truncated', TG_TABLE_NAME;
END $$;

CREATE TRIGGER grants_are_kept BEFORE TRUNCATE ON grants
FOR EACH STATEMENT EXECUTE FUNCTION jitgate_refuse_truncate();
