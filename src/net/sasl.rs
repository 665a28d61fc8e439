//! SASL authentication (`security.protocol=sasl_plaintext|sasl_ssl`): the mechanisms
//! PLAIN (RFC 4616), SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) and OAUTHBEARER
//! (RFC 7628, with an unsecured JWT only) as [`Authenticator`]s, spoken through
//! SaslHandshake v1 and SaslAuthenticate v0–2.
//!
//! Each connection gets its own [`SaslAuthenticator`]; the settings ([`SaslConfig`]) and
//! the counters ([`SaslStats`]) are shared. The hashes, HMACs and PBKDF2 are ring's (the
//! crypto provider rustls already uses), the client nonce comes from ring's
//! `SystemRandom`.
//!
//! After a successful authentication the broker's `session_lifetime_ms` (KIP-368, v1 and
//! later) sets when to authenticate again: at 85–95 % of the lifetime, chosen at random
//! per connection as the Java client does, so that connections opened together do not all
//! re-authenticate at the same moment.
//!
//! User names and passwords are used as given (no SASLprep): ASCII names and passwords,
//! which is what Kafka's own tools create, are unaffected. A user name's `=` and `,` are
//! escaped as RFC 5802 requires.

use super::auth::{AuthStep, Authenticator};
use super::oauth_refresh::RefreshSchedule;
use super::versions::VersionTable;
use crate::error::{local, Error, Result};
use crate::protocol::frame::{decode_response, encode_request};
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};
use crate::protocol::Request;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Kafka's error codes the handshake and the authentication answer with.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Fewest PBKDF2 iterations accepted from a broker (as Kafka's own client: a broker that
/// asks for fewer is refused, rather than letting a weak hash of the password out).
const SCRAM_MIN_ITERATIONS: u32 = 4096;

/// A SASL mechanism kafkac implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    /// RFC 7628, with an unsecured JWT (`alg: none`) made from `sasl.oauthbearer.config`:
    /// what Kafka offers for testing (its OAuthBearerUnsecuredValidatorCallbackHandler).
    OAuthBearer,
}

impl Mechanism {
    /// From `sasl.mechanism`'s value (case-insensitive); the error says what is supported.
    pub fn parse(s: &str) -> Result<Mechanism> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Mechanism::Plain),
            "SCRAM-SHA-256" => Ok(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(Mechanism::ScramSha512),
            "GSSAPI" => Err(Error::new(
                local::INVALID_CONFIG,
                "invalid value 'GSSAPI' for configuration property 'sasl.mechanism': \
                 Kerberos (GSSAPI) is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 \
                 or OAUTHBEARER",
            )),
            "OAUTHBEARER" => Ok(Mechanism::OAuthBearer),
            _ => Err(Error::new(
                local::INVALID_CONFIG,
                format!(
                    "invalid value '{}' for configuration property 'sasl.mechanism': expected \
                     PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    s.trim()
                ),
            )),
        }
    }

    /// The name Kafka knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// The SASL settings every connection of a client uses.
#[derive(Clone)]
pub struct SaslConfig {
    pub mechanism: Mechanism,
    pub username: String,
    password: String,
    /// OAUTHBEARER: the unsecured token's settings.
    pub oauth: Option<UnsecuredJwt>,
}

impl SaslConfig {
    pub fn new(mechanism: Mechanism, username: &str, password: &str) -> SaslConfig {
        SaslConfig {
            mechanism,
            username: username.to_owned(),
            password: password.to_owned(),
            oauth: None,
        }
    }
}

/// `sasl.oauthbearer.config` for the unsecured JWT, as librdkafka reads it: space
/// separated `principal=<name>` (required), `scopeClaimName=<name>` (default `scope`),
/// `scope=<a,b,...>`, `lifeSeconds=<n>` (default 3600) and `extension_<key>=<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredJwt {
    pub principal: String,
    pub scope_claim: String,
    pub scope: Vec<String>,
    pub life_seconds: u64,
    pub extensions: Vec<(String, String)>,
}

impl UnsecuredJwt {
    pub fn parse(config: &str) -> Result<UnsecuredJwt> {
        let bad = |what: String| {
            Error::new(
                local::INVALID_CONFIG,
                format!("invalid configuration property 'sasl.oauthbearer.config': {what}"),
            )
        };
        let mut t = UnsecuredJwt {
            principal: String::new(),
            scope_claim: "scope".into(),
            scope: Vec::new(),
            life_seconds: 3600,
            extensions: Vec::new(),
        };
        for kv in config.split_whitespace() {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(format!("'{kv}' is not key=value")))?;
            match k {
                "principal" => t.principal = v.to_owned(),
                "scopeClaimName" => t.scope_claim = v.to_owned(),
                "scope" => t.scope = v.split(',').map(str::to_owned).collect(),
                "lifeSeconds" => {
                    t.life_seconds =
                        v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            bad(format!("lifeSeconds '{v}' is not a positive number"))
                        })?
                }
                _ => match k.strip_prefix("extension_") {
                    Some(name) if !name.is_empty() && name != "auth" => {
                        t.extensions.push((name.to_owned(), v.to_owned()))
                    }
                    _ => return Err(bad(format!("unknown key '{k}'"))),
                },
            }
        }
        if t.principal.is_empty() {
            return Err(bad("principal=<name> is required".into()));
        }
        Ok(t)
    }

    /// The unsecured JWT (`alg: none`, no signature) issued at `now_s` (Unix seconds).
    pub fn token(&self, now_s: u64) -> String {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let json = |s: &str| {
            let mut o = String::with_capacity(s.len() + 2);
            o.push('"');
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                    c => o.push(c),
                }
            }
            o.push('"');
            o
        };
        let mut claims = format!(
            "{{\"sub\":{},\"iat\":{now_s},\"exp\":{}",
            json(&self.principal),
            now_s + self.life_seconds
        );
        if !self.scope.is_empty() {
            let list: Vec<String> = self.scope.iter().map(|s| json(s)).collect();
            claims.push_str(&format!(
                ",{}:[{}]",
                json(&self.scope_claim),
                list.join(",")
            ));
        }
        claims.push('}');
        format!(
            "{}.{}.",
            url.encode(r#"{"alg":"none"}"#),
            url.encode(claims)
        )
    }

    /// The client's first (and only) message of RFC 7628: the token and the extensions.
    pub fn client_first(&self, now_s: u64) -> Vec<u8> {
        oauth_client_first(&self.token(now_s), &self.extensions)
    }
}

impl fmt::Debug for SaslConfig {
    // The password is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// An OAUTHBEARER token the application supplied (`kc_*_oauthbearer_set_token`).
#[derive(Clone)]
pub struct OAuthToken {
    pub value: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub lifetime_ms: i64,
    pub principal: String,
    pub extensions: Vec<(String, String)>,
}

/// What the token store holds.
#[derive(Default)]
enum TokenState {
    #[default]
    Unset,
    Token(OAuthToken),
    /// The application could not get a token (`kc_*_oauthbearer_set_token_failure`);
    /// the token set before, if any, is used until it expires (as librdkafka does).
    Failed(String, Option<OAuthToken>),
}

/// The OAUTHBEARER token shared by every connection of a client: each one reads it when
/// it authenticates or re-authenticates.
#[derive(Default)]
pub struct TokenStore {
    state: parking_lot::Mutex<TokenState>,
    /// When the application's refresh callback is due, if it registered one.
    refresh: RefreshSchedule,
}

impl fmt::Debug for TokenStore {
    // The token is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 6750's b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl TokenStore {
    /// Stores `token` after checking it as librdkafka does: a non-empty RFC 6750 token, a
    /// lifetime in the future, a principal, and RFC 7628 extensions (key `1*ALPHA`, not
    /// `auth`; value `*(VCHAR / SP / HTAB / CR / LF)`).
    pub fn set(&self, token: OAuthToken) -> Result<()> {
        let bad = |m: String| Err(Error::invalid_arg(m));
        if token.value.is_empty() {
            return bad("OAUTHBEARER token: the token value is empty".into());
        }
        if !is_b64token(&token.value) {
            return bad(
                "OAUTHBEARER token: the token value is not an RFC 6750 b64token (letters, digits, - . _ ~ + / then trailing =)"
                    .into(),
            );
        }
        let now = now_ms();
        if token.lifetime_ms <= now {
            return bad(format!(
                "OAUTHBEARER token: md_lifetime_ms {} is not in the future (now {now} ms since the epoch): the token has expired",
                token.lifetime_ms
            ));
        }
        if token.principal.is_empty() {
            return bad("OAUTHBEARER token: md_principal_name is empty".into());
        }
        for (k, v) in &token.extensions {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) {
                return bad(format!(
                    "OAUTHBEARER token: extension key '{k}' is invalid: RFC 7628 keys are one or more ASCII letters"
                ));
            }
            if k == "auth" {
                return bad("OAUTHBEARER token: extension key 'auth' is reserved".into());
            }
            if !v
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b))
            {
                return bad(format!(
                    "OAUTHBEARER token: the value of extension '{k}' is invalid: RFC 7628                      values are printable ASCII, space, tab, CR or LF"
                ));
            }
        }
        let lifetime = token.lifetime_ms;
        *self.state.lock() = TokenState::Token(token);
        self.refresh.token_set(lifetime, now);
        Ok(())
    }

    /// Records that the application could not get a token: connections that need one
    /// fail with `errstr` until a token is set, unless the token set before is still
    /// valid (it is used until it expires). A refresh callback is called again 10 s
    /// later.
    pub fn set_failure(&self, errstr: &str) -> Result<()> {
        if errstr.is_empty() {
            return Err(Error::invalid_arg(
                "OAUTHBEARER token failure: errstr is empty (say why no token is available)",
            ));
        }
        let mut state = self.state.lock();
        let previous = match std::mem::take(&mut *state) {
            TokenState::Token(t) | TokenState::Failed(_, Some(t)) => Some(t),
            _ => None,
        };
        *state = TokenState::Failed(errstr.to_owned(), previous);
        drop(state);
        self.refresh.failed();
        Ok(())
    }

    /// The schedule of the application's token refresh callback.
    pub fn refresh(&self) -> &RefreshSchedule {
        &self.refresh
    }

    /// The token to send now, or why there is none.
    pub fn current(&self) -> Result<OAuthToken> {
        let fail = |m: String| Err(Error::new(local::AUTHENTICATION, m));
        match &*self.state.lock() {
            TokenState::Unset if self.refresh.is_enabled() => fail(
                "SASL OAUTHBEARER: no token has been set yet by the token refresh callback \
                 (it runs inside the handle's poll, or on the background thread of \
                 kc_*_sasl_background_callbacks_enable)"
                    .into(),
            ),
            TokenState::Unset => {
                fail("SASL OAUTHBEARER: no token has been set (kc_*_oauthbearer_set_token)".into())
            }
            TokenState::Failed(_, Some(t)) if t.lifetime_ms > now_ms() => Ok(t.clone()),
            TokenState::Failed(why, _) => {
                fail(format!("SASL OAUTHBEARER: no token available: {why}"))
            }
            TokenState::Token(t) if t.lifetime_ms <= now_ms() => fail(format!(
                "SASL OAUTHBEARER: the token of principal '{}' has expired and no new one \
                 has been set",
                t.principal
            )),
            TokenState::Token(t) => Ok(t.clone()),
        }
    }
}

/// RFC 7628's client first message: the token and the extensions.
fn oauth_client_first(token: &str, extensions: &[(String, String)]) -> Vec<u8> {
    let mut m = format!("n,,\x01auth=Bearer {token}\x01");
    for (k, v) in extensions {
        m.push_str(&format!("{k}={v}\x01"));
    }
    m.push('\x01');
    m.into_bytes()
}

/// What the client's connections did, for statistics and tests.
#[derive(Debug, Default)]
pub struct SaslStats {
    /// Authentications started at connection set-up.
    pub authentications: AtomicU64,
    /// Re-authentications (KIP-368) started on a connection already authenticated.
    pub reauthentications: AtomicU64,
    /// Authentications (either kind) the broker refused, or that failed otherwise.
    pub failures: AtomicU64,
}

/// What connections need to authenticate: the settings and where to count.
#[derive(Debug, Clone)]
pub struct SaslSetup {
    pub config: Arc<SaslConfig>,
    pub stats: Arc<SaslStats>,
    /// OAUTHBEARER without the unsecured JWT: the token the application set.
    pub tokens: Arc<TokenStore>,
}

/// Where one connection's conversation is.
enum State {
    /// SaslHandshake sent.
    Handshake,
    /// PLAIN's one token sent.
    PlainSent,
    /// SCRAM client-first sent.
    ScramFirst(ScramClient),
    /// SCRAM client-final sent; the server's signature expected.
    ScramFinal(Vec<u8>),
    /// OAUTHBEARER token sent.
    OAuthSent,
    /// The broker refused the token with this challenge (RFC 7628 section 3.2.2); the
    /// client's `%x01` acknowledgement sent, the final failure expected.
    OAuthRefused(String),
    Idle,
}

/// One connection's SASL conversation (see the module docs).
pub struct SaslAuthenticator {
    setup: SaslSetup,
    client_id: String,
    state: State,
    handshake_version: i16,
    auth_version: i16,
    reauth: bool,
    /// Re-authenticate this long after the last authentication.
    reauth_after: Option<Duration>,
    /// OAUTHBEARER: the principal of the token last sent.
    principal: Option<String>,
    rng: SystemRandom,
}

impl SaslAuthenticator {
    pub fn new(setup: SaslSetup, client_id: &str) -> SaslAuthenticator {
        SaslAuthenticator {
            setup,
            client_id: client_id.to_owned(),
            state: State::Idle,
            handshake_version: 1,
            auth_version: 0,
            reauth: false,
            reauth_after: None,
            principal: None,
            rng: SystemRandom::new(),
        }
    }

    fn config(&self) -> &SaslConfig {
        &self.setup.config
    }

    fn frame<R: Request>(&self, req: &R, version: i16) -> Vec<u8> {
        encode_request(req, version, 0, Some(&self.client_id))
    }

    fn authenticate(&self, token: Vec<u8>) -> AuthStep {
        let req = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
            ..Default::default()
        };
        AuthStep::Send(self.frame(&req, self.auth_version))
    }

    fn failed(&self, e: Error) -> Error {
        self.setup.stats.failures.fetch_add(1, Ordering::Relaxed);
        e
    }

    fn on_handshake(&mut self, body: &Bytes) -> Result<AuthStep> {
        let (_, resp) = decode_response::<SaslHandshakeRequest>(body, self.handshake_version)
            .map_err(|e| Error::protocol(format!("SaslHandshake response: {e}")))?;
        let mech = self.config().mechanism.name();
        match resp.error_code {
            0 => {}
            UNSUPPORTED_SASL_MECHANISM => {
                return Err(Error::new(
                    i32::from(UNSUPPORTED_SASL_MECHANISM),
                    format!(
                        "the broker does not enable SASL mechanism {mech} \
                         (UNSUPPORTED_SASL_MECHANISM); it enables: {}",
                        if resp.mechanisms.is_empty() {
                            "none".to_owned()
                        } else {
                            resp.mechanisms.join(", ")
                        }
                    ),
                ))
            }
            ILLEGAL_SASL_STATE => {
                return Err(Error::new(
                    local::AUTHENTICATION,
                    "the broker refused the SaslHandshake (ILLEGAL_SASL_STATE): this listener \
                     does not take SASL; check security.protocol (plaintext or ssl for it)",
                ))
            }
            code => return Err(Error::kafka(code, "SaslHandshake")),
        }
        let cfg = self.config().clone();
        match cfg.mechanism {
            Mechanism::Plain => {
                let mut token = Vec::with_capacity(cfg.username.len() + cfg.password.len() + 2);
                token.push(0);
                token.extend_from_slice(cfg.username.as_bytes());
                token.push(0);
                token.extend_from_slice(cfg.password.as_bytes());
                self.state = State::PlainSent;
                Ok(self.authenticate(token))
            }
            Mechanism::OAuthBearer => {
                let first = match cfg.oauth.as_ref() {
                    Some(jwt) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        jwt.client_first(now)
                    }
                    None => {
                        let t = self.setup.tokens.current()?;
                        self.principal = Some(t.principal.clone());
                        oauth_client_first(&t.value, &t.extensions)
                    }
                };
                self.state = State::OAuthSent;
                Ok(self.authenticate(first))
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let mut raw = [0u8; 24];
                self.rng
                    .fill(&mut raw)
                    .map_err(|_| Error::new(local::FAIL, "no random bytes for the SCRAM nonce"))?;
                let scram = ScramClient::new(cfg.mechanism, &cfg.username, &B64.encode(raw));
                let first = scram.client_first();
                self.state = State::ScramFirst(scram);
                Ok(self.authenticate(first.into_bytes()))
            }
        }
    }

    fn on_authenticate(&mut self, body: &Bytes) -> Result<(SaslAuthenticateResponse, State)> {
        let (_, resp) = decode_response::<SaslAuthenticateRequest>(body, self.auth_version)
            .map_err(|e| Error::protocol(format!("SaslAuthenticate response: {e}")))?;
        if resp.error_code != 0 {
            let mech = self.config().mechanism.name();
            let user = match (&self.config().oauth, &self.principal) {
                (Some(jwt), _) => &jwt.principal,
                (None, Some(p)) => p,
                (None, None) => &self.config().username,
            };
            let why = resp.error_message.as_deref().unwrap_or("no reason given");
            let code_name = if resp.error_code == SASL_AUTHENTICATION_FAILED {
                "SASL_AUTHENTICATION_FAILED".to_owned()
            } else {
                format!("error {}", resp.error_code)
            };
            return Err(Error::new(
                local::AUTHENTICATION,
                format!("SASL {mech} authentication of user '{user}' refused ({code_name}): {why}"),
            ));
        }
        let state = std::mem::replace(&mut self.state, State::Idle);
        Ok((resp, state))
    }

    fn done(&mut self, resp: &SaslAuthenticateResponse) -> AuthStep {
        self.state = State::Idle;
        self.reauth_after = (resp.session_lifetime_ms > 0).then(|| {
            let mut b = [0u8; 2];
            let r = if self.rng.fill(&mut b).is_ok() {
                f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
            } else {
                0.5
            };
            let ms = resp.session_lifetime_ms as f64 * (0.85 + 0.10 * r);
            Duration::from_millis(ms as u64)
        });
        AuthStep::Done
    }
}

impl Authenticator for SaslAuthenticator {
    fn start(&mut self, versions: &VersionTable, reauth: bool) -> Result<AuthStep> {
        let stats = &self.setup.stats;
        if reauth {
            stats.reauthentications.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.authentications.fetch_add(1, Ordering::Relaxed);
        }
        self.reauth = reauth;
        self.reauth_after = None;
        let which = |e: Error| {
            Error::new(
                local::AUTHENTICATION,
                format!(
                    "{}; the listener does not take SASL? (check security.protocol)",
                    e.message
                ),
            )
        };
        let picked = versions
            .pick::<SaslHandshakeRequest>("")
            .and_then(|h| Ok((h, versions.pick::<SaslAuthenticateRequest>("")?)));
        let (h, a) = picked.map_err(|e| self.failed(which(e)))?;
        self.handshake_version = h;
        self.auth_version = a;
        let req = SaslHandshakeRequest {
            mechanism: self.config().mechanism.name().to_owned(),
            ..Default::default()
        };
        self.state = State::Handshake;
        Ok(AuthStep::Send(self.frame(&req, h)))
    }

    fn on_response(&mut self, body: Bytes) -> Result<AuthStep> {
        let step = match self.state {
            State::Handshake => self.on_handshake(&body),
            State::Idle => Err(Error::protocol("SASL answer out of turn")),
            _ => self
                .on_authenticate(&body)
                .and_then(|(resp, state)| match state {
                    State::PlainSent => Ok(self.done(&resp)),
                    State::ScramFirst(scram) => {
                        let server_first = std::str::from_utf8(&resp.auth_bytes).map_err(|_| {
                            Error::new(local::AUTHENTICATION, "SCRAM server-first is not UTF-8")
                        })?;
                        let (final_msg, server_sig) =
                            scram.client_final(server_first, &self.config().password)?;
                        self.state = State::ScramFinal(server_sig);
                        Ok(self.authenticate(final_msg.into_bytes()))
                    }
                    State::ScramFinal(want) => {
                        verify_server_final(&resp.auth_bytes, &want)?;
                        Ok(self.done(&resp))
                    }
                    State::OAuthSent if resp.auth_bytes.is_empty() => Ok(self.done(&resp)),
                    State::OAuthSent => {
                        // Refused: the broker's challenge says why; the exchange ends with
                        // the client's acknowledgement and the broker's failure.
                        let why = String::from_utf8_lossy(&resp.auth_bytes).into_owned();
                        self.state = State::OAuthRefused(why);
                        Ok(self.authenticate(vec![1]))
                    }
                    State::OAuthRefused(why) => Err(Error::new(
                        local::AUTHENTICATION,
                        format!("SASL OAUTHBEARER token refused: {why}"),
                    )),
                    State::Handshake | State::Idle => unreachable!("handled above"),
                }),
        };
        step.map_err(|e| self.failed(e))
    }

    fn reauthenticate_after(&self) -> Option<Duration> {
        self.reauth_after
    }
}

/// The client side of one SCRAM exchange (RFC 5802), up to the client-final message.
pub struct ScramClient {
    mechanism: Mechanism,
    nonce: String,
    first_bare: String,
}

impl ScramClient {
    /// A new exchange for `user` with the client nonce `nonce` (printable, no ',').
    pub fn new(mechanism: Mechanism, user: &str, nonce: &str) -> ScramClient {
        let name = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            nonce: nonce.to_owned(),
            first_bare: format!("n={name},r={nonce}"),
        }
    }

    /// client-first-message: no channel binding, no authorization identity.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// From the server-first message, the client-final message and the server signature
    /// the server-final message must carry.
    pub fn client_final(&self, server_first: &str, password: &str) -> Result<(String, Vec<u8>)> {
        let bad = |what: &str| {
            Error::new(
                local::AUTHENTICATION,
                format!("invalid SCRAM server-first message: {what}"),
            )
        };
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        if server_first.starts_with("m=") {
            return Err(bad("mandatory extension not supported"));
        }
        if let Some(e) = attr("e") {
            return Err(Error::new(
                local::AUTHENTICATION,
                format!("the broker refused the SCRAM exchange: {e}"),
            ));
        }
        let nonce = attr("r").ok_or_else(|| bad("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("the nonce does not extend the client's"));
        }
        let salt = B64
            .decode(attr("s").ok_or_else(|| bad("no salt"))?)
            .map_err(|_| bad("the salt is not base64"))?;
        let iterations: u32 = attr("i")
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| bad("no iteration count"))?;
        if iterations < SCRAM_MIN_ITERATIONS {
            return Err(bad(&format!(
                "{iterations} iterations, fewer than the least accepted ({SCRAM_MIN_ITERATIONS})"
            )));
        }
        let (pbkdf, mac, hash) = match self.mechanism {
            Mechanism::ScramSha512 => (
                pbkdf2::PBKDF2_HMAC_SHA512,
                hmac::HMAC_SHA512,
                &digest::SHA512,
            ),
            _ => (
                pbkdf2::PBKDF2_HMAC_SHA256,
                hmac::HMAC_SHA256,
                &digest::SHA256,
            ),
        };
        let mut salted = vec![0u8; hash.output_len()];
        pbkdf2::derive(
            pbkdf,
            NonZeroU32::new(iterations).expect("at least the minimum"),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(mac, &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(hash, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let client_sig = hmac::sign(
            &hmac::Key::new(mac, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_sig.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_sig = hmac::sign(
            &hmac::Key::new(mac, server_key.as_ref()),
            auth_message.as_bytes(),
        );
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)),
            server_sig.as_ref().to_vec(),
        ))
    }
}

/// Checks the server-final message: `v=` with the expected signature (the broker knows
/// the password), or `e=` with the broker's reason.
pub fn verify_server_final(msg: &[u8], want: &[u8]) -> Result<()> {
    let msg = std::str::from_utf8(msg).unwrap_or("");
    if let Some(e) = msg.strip_prefix("e=") {
        return Err(Error::new(
            local::AUTHENTICATION,
            format!("the broker refused the SCRAM exchange: {e}"),
        ));
    }
    let sig = msg
        .split(',')
        .find_map(|a| a.strip_prefix("v="))
        .and_then(|v| B64.decode(v).ok());
    match sig {
        // Compared whole (no early exit): the time taken says nothing of where they differ.
        Some(s)
            if s.len() == want.len()
                && s.iter().zip(want).fold(0, |d, (a, b)| d | (a ^ b)) == 0 =>
        {
            Ok(())
        }
        _ => Err(Error::new(
            local::AUTHENTICATION,
            "the broker's SCRAM server signature is wrong: it does not know this user's \
             credentials (an impostor, or a broker of another cluster)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn scram_sha_256_rfc_7677_example() {
        let c = ScramClient::new(Mechanism::ScramSha256, "user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let (fin, sig) = c.client_final(server_first, "pencil").unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &sig).unwrap();
        let e = verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &sig)
            .unwrap_err();
        assert_eq!(e.code, local::AUTHENTICATION);
        assert!(e.message.contains("server signature"), "{e}");
        let e = verify_server_final(b"e=invalid-proof", &sig).unwrap_err();
        assert!(e.message.contains("invalid-proof"), "{e}");
    }

    #[test]
    fn scram_refuses_bad_server_first() {
        let c = ScramClient::new(Mechanism::ScramSha512, "a=b,c", "abc");
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        let fails = |sf: &str, what: &str| {
            let e = c.client_final(sf, "p").unwrap_err();
            assert_eq!(e.code, local::AUTHENTICATION);
            assert!(e.message.contains(what), "{sf}: {e}");
        };
        fails("r=xyz123,s=AAAA,i=4096", "nonce");
        fails("r=abc,s=AAAA,i=4096", "nonce");
        fails("r=abcd,s=AAAA,i=4095", "iterations");
        fails("r=abcd,s=!!,i=4096", "base64");
        fails("r=abcd,i=4096", "salt");
        fails("e=unknown-user", "unknown-user");
        let (fin, sig) = c.client_final("r=abcd,s=AAAA,i=4096", "p").unwrap();
        assert!(fin.starts_with("c=biws,r=abcd,p="), "{fin}");
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn unsecured_jwt() {
        let j = UnsecuredJwt::parse(
            "principal=alice scope=read,write lifeSeconds=60 extension_traceId=x1",
        )
        .unwrap();
        let tok = j.token(1000);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = tok.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(url.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        assert_eq!(
            String::from_utf8(url.decode(parts[1]).unwrap()).unwrap(),
            r#"{"sub":"alice","iat":1000,"exp":1060,"scope":["read","write"]}"#
        );
        assert_eq!(parts[2], "");
        let first = String::from_utf8(j.client_first(1000)).unwrap();
        assert_eq!(
            first,
            format!("n,,\x01auth=Bearer {tok}\x01traceId=x1\x01\x01")
        );
        for bad in [
            "scope=a",
            "principal=a lifeSeconds=0",
            "principal=a nope=1",
            "x",
        ] {
            let e = UnsecuredJwt::parse(bad).unwrap_err();
            assert_eq!(e.code, local::INVALID_CONFIG, "{bad}");
        }
    }

    #[test]
    fn mechanisms_and_refusals() {
        assert_eq!(
            Mechanism::parse("scram-sha-256").unwrap(),
            Mechanism::ScramSha256
        );
        assert_eq!(Mechanism::parse(" PLAIN ").unwrap(), Mechanism::Plain);
        let e = Mechanism::parse("GSSAPI").unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(e.message.contains("Kerberos"), "{e}");
        let e = Mechanism::parse("DIGEST-MD5").unwrap_err();
        assert!(e.message.contains("SCRAM-SHA-512"), "{e}");
        let cfg = SaslConfig::new(Mechanism::Plain, "u", "hunter2");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
