-- Grants: time-limited access for one user to one profile's scope.
-- Timestamps are unix seconds (UTC). Once set, a timestamp is never cleared, and a revoked
-- grant never reopens: the triggers below enforce that for every writer, not just jitgate.

CREATE TABLE grants (
    id                 TEXT    NOT NULL PRIMARY KEY
                       CHECK (length(id) = 10 AND id GLOB 'g-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    user_name          TEXT    NOT NULL CHECK (user_name <> ''),
    profile            TEXT    NOT NULL CHECK (profile <> ''),
    namespaces         TEXT    NOT NULL CHECK (json_valid(namespaces) AND json_type(namespaces) = 'array'),
    pod_name_glob      TEXT,
    pod_label_selector TEXT,
    reason             TEXT    NOT NULL,
    created_by         TEXT    NOT NULL CHECK (created_by <> ''),
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    revoked_by         TEXT,
    revoke_reason      TEXT,
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
) STRICT;

CREATE INDEX grants_by_user ON grants (user_name, created_at);
CREATE INDEX grants_unrevoked_by_expiry ON grants (expires_at) WHERE revoked_at IS NULL;

-- One row, bumped in the same transaction as every write to grants, so the gateway can poll a
-- single integer and rebuild its index only when something changed.
CREATE TABLE change_counter (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO change_counter (id, value) VALUES (1, 0);

CREATE TRIGGER grants_bump_on_insert AFTER INSERT ON grants
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER grants_bump_on_update AFTER UPDATE ON grants
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER grants_revocation_is_final BEFORE UPDATE OF revoked_at, revoked_by, revoke_reason ON grants
WHEN OLD.revoked_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'grant revocation is final');
END;

CREATE TRIGGER grants_terms_are_fixed
BEFORE UPDATE OF id, user_name, profile, namespaces, pod_name_glob, pod_label_selector, reason,
                 created_by, created_at, expires_at ON grants
BEGIN
    SELECT RAISE(ABORT, 'grant terms never change after creation');
END;

CREATE TRIGGER grants_are_kept BEFORE DELETE ON grants
BEGIN
    SELECT RAISE(ABORT, 'grants are never deleted');
END;
