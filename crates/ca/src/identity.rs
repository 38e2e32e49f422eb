//! Who a verified client certificate says the caller is.
//!
//! rustls has already checked the chain to the jitgate CA and the validity period at the TLS
//! layer; this only reads the subject (CN = user, O = groups) and refuses certificates that are
//! not for client authentication or carry names jitgate never issues.

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::CaError;
use crate::names::{validate_group, validate_user};

/// The identity in a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The user (subject CN).
    pub user: String,
    /// The groups (subject O, in certificate order).
    pub groups: Vec<String>,
    /// When the certificate expires; sessions must end by then.
    pub not_after: OffsetDateTime,
    /// The serial number, lowercase hex, for the audit log.
    pub serial_hex: String,
}

impl ClientIdentity {
    /// Reads the identity from a DER client certificate whose chain rustls has verified.
    ///
    /// Fails if the certificate lacks the clientAuth extended key usage, has no or several
    /// CNs, or names a user or group jitgate would not issue (`system:` or `jitgate:`).
    pub fn from_der(cert_der: &[u8]) -> Result<Self, CaError> {
        let reject = |reason: String| CaError::InvalidClientCert { reason };
        let (rest, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| reject(format!("it is not DER X.509 ({e})")))?;
        if !rest.is_empty() {
            return Err(reject("trailing bytes after the certificate".to_owned()));
        }

        let client_auth = cert
            .extended_key_usage()
            .map_err(|e| reject(format!("its extended key usage is malformed ({e})")))?
            .is_some_and(|eku| eku.value.client_auth);
        if !client_auth {
            return Err(reject(
                "it is not valid for client authentication (no clientAuth extended key usage)"
                    .to_owned(),
            ));
        }

        let subject = cert.subject();
        let mut common_names = subject.iter_common_name();
        let user = match (common_names.next(), common_names.next()) {
            (Some(cn), None) => cn
                .as_str()
                .map_err(|e| reject(format!("its CN is not a string ({e})")))?,
            (None, _) => return Err(reject("its subject has no CN (user name)".to_owned())),
            (Some(_), Some(_)) => {
                return Err(reject("its subject has more than one CN".to_owned()));
            }
        };
        validate_user(user).map_err(|e| reject(e.to_string()))?;

        let mut groups = Vec::new();
        for org in subject.iter_organization() {
            let group = org
                .as_str()
                .map_err(|e| reject(format!("an O (group) is not a string ({e})")))?;
            validate_group(group).map_err(|e| reject(e.to_string()))?;
            groups.push(group.to_owned());
        }

        Ok(Self {
            user: user.to_owned(),
            groups,
            not_after: cert.validity().not_after.to_datetime(),
            serial_hex: cert
                .raw_serial()
                .iter()
                .skip_while(|b| **b == 0)
                .map(|b| format!("{b:02x}"))
                .collect(),
        })
    }
}
