//! Recorded sessions through the API: `GET /jitgate/v1/sessions` lists the recordings the
//! gateway wrote (one asciicast file per exec or attach session, `<session id>.cast`), and
//! `GET /jitgate/v1/sessions/{id}/recording` hands one out for replay.
//!
//! Who may see a recording is read from its header's `jitgate` fields, never from its title:
//! the person whose session it is, and approvers, auditors and admins (who may see everyone's
//! requests and grants too). A recording whose header names nobody (written before those
//! fields existed) is for the latter only. A recording the caller may not see answers 404,
//! like requests and grants, so ids cannot be probed; every read, and every refused read of a
//! recording that exists, is an audit line (`recording.read`).

use std::io::{Read as _, Seek as _};
use std::path::Path;

use bytes::Bytes;
use jitgate_api::limits::MAX_RECORDING_BYTES;
use jitgate_api::{
    GrantId, RecordedSession, RecordedSessionList, SessionId, SessionQuery, SessionScope, Timestamp,
};
use jitgate_audit::Decision;
use jitgate_policy::Policy;
use jitgate_wire::asciicast::{Header, SessionMeta};

use crate::audit::recording_event;
use crate::{Broker, BrokerError, Caller};

/// The most of a file read to find its header line: far more than any header jitgate writes.
const HEADER_READ_LIMIT: u64 = 64 * 1024;

/// One recording file as listed: its id, header and size.
struct Found {
    id: SessionId,
    header: Header,
    bytes: u64,
}

impl Broker {
    /// `GET /jitgate/v1/sessions?scope=…&limit=…`: recorded sessions, newest first.
    ///
    /// # Errors
    ///
    /// 403 for `scope=all` by anyone but approvers, auditors and admins; 500 when the
    /// recordings folder cannot be read.
    pub async fn list_sessions(
        &self,
        caller: &Caller,
        query: &SessionQuery,
    ) -> Result<RecordedSessionList, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        let everyone = query.scope == SessionScope::All;
        if everyone {
            self.check_may_list_all(&policy, caller, "recorded sessions", "scope=mine")?;
        }
        let Some(dir) = self.config.recordings.clone() else {
            return Ok(RecordedSessionList::default());
        };
        let found = tokio::task::spawn_blocking(move || scan(&dir))
            .await
            .map_err(|e| BrokerError::internal(format!("listing recordings stopped: {e}")))??;
        let limit = usize::try_from(query.effective_limit()).unwrap_or(usize::MAX);
        let mut items: Vec<RecordedSession> = found
            .into_iter()
            .filter(|f| {
                everyone
                    || f.header
                        .session
                        .as_ref()
                        .is_some_and(|m| m.user == caller.user)
            })
            .map(listed)
            .collect();
        items.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        items.truncate(limit);
        Ok(RecordedSessionList { items })
    }

    /// `GET /jitgate/v1/sessions/{id}/recording`: the recording as written (a live session's
    /// so far), audited as read by the caller.
    ///
    /// # Errors
    ///
    /// 404 when there is no such recording or the caller may not see it; 422 when it is larger
    /// than [`MAX_RECORDING_BYTES`]; 500 when it cannot be read or its read cannot be recorded.
    pub async fn recording(&self, caller: &Caller, id: &SessionId) -> Result<Bytes, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        let not_found = || BrokerError::NotFound {
            message: format!(
                "there is no recording of session {id} that {} may see; kubectl jit sessions \
                 lists yours (approvers, auditors and admins: --all)",
                caller.user
            ),
            source: None,
        };
        let Some(dir) = self.config.recordings.clone() else {
            return Err(not_found());
        };
        let path = dir.join(format!("{id}.cast"));
        let read = tokio::task::spawn_blocking(move || read_recording(&path))
            .await
            .map_err(|e| BrokerError::internal(format!("reading the recording stopped: {e}")))??;
        let Some((header, text)) = read else {
            return Err(not_found());
        };
        let meta = header.session.as_ref();
        if !self.may_replay(&policy, caller, meta) {
            self.record_refusal(recording_event(
                caller,
                id.as_str(),
                meta,
                Decision::Deny,
                404,
                "refused the recording of someone else's session",
            ))
            .await;
            return Err(not_found());
        }
        let Some(text) = text else {
            let why = format!(
                "the recording of {id} is larger than the {} MiB the API serves; play it on the \
                 gateway's machine with jitgate recording play {id}",
                MAX_RECORDING_BYTES / (1024 * 1024)
            );
            self.record_refusal(recording_event(
                caller,
                id.as_str(),
                meta,
                Decision::Deny,
                422,
                &why,
            ))
            .await;
            return Err(BrokerError::Invalid { message: why });
        };
        let why = format!("handed out the recording ({} bytes)", text.len());
        self.record(vec![recording_event(
            caller,
            id.as_str(),
            meta,
            Decision::Allow,
            200,
            &why,
        )])
        .await?;
        Ok(text)
    }

    /// Whether `caller` may replay a recording of the session `meta` describes.
    fn may_replay(&self, policy: &Policy, caller: &Caller, meta: Option<&SessionMeta>) -> bool {
        meta.is_some_and(|m| m.user == caller.user) || self.may_see_all(policy, caller)
    }
}

fn listed(found: Found) -> RecordedSession {
    let Found { id, header, bytes } = found;
    let meta = header.session.unwrap_or_default();
    RecordedSession {
        id,
        user: meta.user,
        grant: GrantId::parse(&meta.grant).ok(),
        namespace: meta.namespace,
        pod: meta.pod,
        container: meta.container,
        kind: meta.kind,
        command: header.command,
        tty: meta.tty,
        started_at: Timestamp::from_unix(header.timestamp),
        bytes,
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> BrokerError {
    BrokerError::internal(format!(
        "reading the session recordings in {} failed ({e}); the gateway's data folder must be \
         readable by it",
        path.display()
    ))
}

/// Every recording in `dir` whose name is a session id and whose first line is an asciicast
/// header; other files (a stray editor backup, a header cut off by a crash) are skipped.
fn scan(dir: &Path) -> Result<Vec<Found>, BrokerError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(dir, &e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(dir, &e))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".cast"))
            .and_then(|n| SessionId::parse(n).ok())
        else {
            continue;
        };
        let Ok(Some((header, bytes, _))) = open_recording(&entry.path()) else {
            continue;
        };
        found.push(Found { id, header, bytes });
    }
    Ok(found)
}

/// A recording's header line, its size and the open file; `None` when it is not a file or has
/// no header.
fn open_recording(path: &Path) -> std::io::Result<Option<(Header, u64, std::fs::File)>> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut head = Vec::new();
    (&mut file).take(HEADER_READ_LIMIT).read_to_end(&mut head)?;
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let header = std::str::from_utf8(first)
        .ok()
        .and_then(|line| Header::parse(line).ok());
    Ok(header.map(|h| (h, meta.len(), file)))
}

/// A recording's header and, when it is within [`MAX_RECORDING_BYTES`], its text; `None` when
/// there is no such recording (or what is there is not one).
fn read_recording(path: &Path) -> Result<Option<(Header, Option<Bytes>)>, BrokerError> {
    let failed = |e: &std::io::Error| unreadable(path, e);
    let (header, size, mut file) = match open_recording(path) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(&e)),
    };
    if size > MAX_RECORDING_BYTES as u64 {
        return Ok(Some((header, None)));
    }
    // From the start again on the same file; a live session's recording may have grown.
    let mut text = Vec::new();
    file.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| {
            file.take(MAX_RECORDING_BYTES as u64 + 1)
                .read_to_end(&mut text)
        })
        .map_err(|e| failed(&e))?;
    if text.len() > MAX_RECORDING_BYTES {
        return Ok(Some((header, None)));
    }
    Ok(Some((header, Some(Bytes::from(text)))))
}
