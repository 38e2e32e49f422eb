//! `POST /jitgate/v1/certificates`: a short-lived client certificate for a key the client made,
//! naming whoever the bearer ID token names. A certificate can never renew itself.

use jitgate_api::{CertificateRequest, CertificateResponse, Timestamp};
use jitgate_audit::{AuditEvent, Decision, EventKind as AuditKind};
use jitgate_ca::{ClientCertRequest, ClientIdentity, ClientKey, human_duration};

use crate::{Broker, BrokerError, Caller, CallerMethod};

impl Broker {
    /// Issues a client certificate for `caller`, who must have authenticated with an OIDC ID
    /// token: the CSR's signature is verified and only its public key is used; the subject is
    /// the token's user (CN) and groups (O); the lifetime is `ttl` or the default, within the
    /// configured `[min_ttl, max_ttl]`. Audited as `cert.issue`.
    ///
    /// # Errors
    ///
    /// 403 for a client-certificate caller or a name jitgate never certifies (`system:…`,
    /// `jitgate:…`), 400 for a bad CSR, 422 for a lifetime outside the limits.
    pub async fn issue_certificate(
        &self,
        caller: &Caller,
        body: CertificateRequest,
    ) -> Result<CertificateResponse, BrokerError> {
        caller.check()?;
        match self.issue_checked(caller, &body) {
            Ok((response, serial)) => {
                let mut event = certificate_event(caller, Decision::Allow);
                event.name = Some(serial.clone());
                event.reason = Some(format!(
                    "client certificate {serial} for {} until {}",
                    response.user, response.expires_at
                ));
                self.record(vec![event]).await?;
                Ok(response)
            }
            Err(e) => {
                self.refuse_certificate(caller, &e).await;
                Err(e)
            }
        }
    }

    /// Audits a refused certificate request (also for refusals the HTTP layer makes before the
    /// body is read, such as a client certificate asking to renew itself).
    pub(crate) async fn refuse_certificate(&self, caller: &Caller, err: &BrokerError) {
        let mut event = certificate_event(caller, Decision::Deny);
        event.status = Some(err.http_status());
        event.reason = Some(err.to_string());
        self.record_refusal(event).await;
    }

    fn issue_checked(
        &self,
        caller: &Caller,
        body: &CertificateRequest,
    ) -> Result<(CertificateResponse, String), BrokerError> {
        if caller.method != CallerMethod::Bearer {
            return Err(BrokerError::BearerOnly);
        }
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        let limits = self.config.certificates;
        let ttl = body.ttl.unwrap_or(limits.default_ttl);
        if !limits.allows(ttl) {
            return Err(BrokerError::Invalid {
                message: format!(
                    "certificate lifetime {} is outside what this gateway issues ({} to {}); ask \
                     for a lifetime in that range, or leave it out for {}",
                    human_duration(ttl.as_std()),
                    human_duration(limits.min_ttl.as_std()),
                    human_duration(limits.max_ttl.as_std()),
                    human_duration(limits.default_ttl.as_std())
                ),
            });
        }
        let issued = self.ca.issue_client_cert(
            ClientCertRequest::new(
                caller.user.clone(),
                caller.groups.clone(),
                ClientKey::Csr(body.csr.clone()),
                limits.max_ttl.as_std(),
            )
            .with_ttl(ttl.as_std()),
        )?;
        // Report exactly what the certificate names (the CA drops duplicate groups).
        let named = ClientIdentity::from_der(issued.cert_der.as_ref())?;
        Ok((
            CertificateResponse {
                certificate: issued.cert_pem,
                ca_certificate: self.ca.cert_pem().to_owned(),
                user: named.user,
                groups: named.groups,
                expires_at: Timestamp::from(issued.not_after),
            },
            issued.serial_hex,
        ))
    }
}

fn certificate_event(caller: &Caller, decision: Decision) -> AuditEvent {
    let mut event = AuditEvent::new(AuditKind::CertIssue);
    event.user = Some(caller.user.clone());
    event.groups = caller.groups.clone();
    event.verb = Some("create".to_owned());
    event.api_group = Some(crate::audit::AUDIT_API_GROUP.to_owned());
    event.resource = Some("certificates".to_owned());
    event.decision = Some(decision);
    event
}
