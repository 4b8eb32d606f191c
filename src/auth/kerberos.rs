//! SASL GSSAPI (RFC 4752), the server's side, in the privileged parent:
//! the client's tokens (relayed by the login process as they came) go to
//! the GSS-API acceptor (`auth::gss`) until the context is established;
//! then the security layer is negotiated, and answered "none" (TLS, where
//! there is any, protects the link); then the client's principal is mapped
//! to a local user (krb5.conf's `auth_to_local`), which an authorisation
//! identity, if the client gives one, must name (no proxy authorisation).

use crate::auth::gss::{self, Acceptor, Progress};
use crate::config::Config;

/// RFC 4752 3.1: the security layer bit "no security layer".
const LAYER_NONE: u8 = 1;

/// What to tell the client after one of its messages.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send this challenge (possibly empty) and pass the answer on.
    Challenge(Vec<u8>),
    /// Authenticated: the local user, and the principal for the log.
    Success { user: String, principal: String },
    /// Refused; the reason is for the log.
    Fail(String),
}

enum State {
    /// Tokens go to gss_accept_sec_context.
    Accepting,
    /// The context is established and its last token sent: the client's
    /// answer is empty (RFC 4752 3.1).
    Established,
    /// The wrapped security layer offer is sent: the client's choice and
    /// authorisation identity come back wrapped.
    LayerOffered,
    Over,
}

/// One GSSAPI exchange.
pub struct Exchange {
    acceptor: Acceptor,
    state: State,
}

impl Exchange {
    /// A new exchange with the configured keytab and principal
    /// (`gssapi_service`/`gssapi_hostname`, `*`: any key in the keytab).
    pub fn new(config: &Config) -> Result<Exchange, String> {
        gss::use_keytab(&config.gssapi_keytab)?;
        let host = Some(config.gssapi_hostname.as_str()).filter(|h| *h != "*");
        Ok(Exchange {
            acceptor: Acceptor::new(&config.gssapi_service, host)?,
            state: State::Accepting,
        })
    }

    pub fn step(&mut self, token: &[u8]) -> Answer {
        match std::mem::replace(&mut self.state, State::Over) {
            State::Accepting => match self.acceptor.step(token) {
                Ok(Progress::Continue(out)) => {
                    self.state = State::Accepting;
                    Answer::Challenge(out)
                }
                Ok(Progress::Complete(out)) if !out.is_empty() => {
                    self.state = State::Established;
                    Answer::Challenge(out)
                }
                Ok(Progress::Complete(_)) => self.offer_layers(),
                Err(e) => Answer::Fail(e),
            },
            State::Established if token.is_empty() => self.offer_layers(),
            State::Established => Answer::Fail("GSSAPI: data after the last token".into()),
            State::LayerOffered => self.chosen(token),
            State::Over => Answer::Fail("GSSAPI: exchange driven out of turn".into()),
        }
    }

    /// RFC 4752 3.1: four octets, wrapped: the layers offered (none
    /// only) and the largest buffer we take (0: no layer).
    fn offer_layers(&mut self) -> Answer {
        match self.acceptor.wrap(&[LAYER_NONE, 0, 0, 0]) {
            Ok(t) => {
                self.state = State::LayerOffered;
                Answer::Challenge(t)
            }
            Err(e) => Answer::Fail(e),
        }
    }

    /// The client's wrapped choice: the layer, its buffer size, and the
    /// authorisation identity.
    fn chosen(&mut self, token: &[u8]) -> Answer {
        let data = match self.acceptor.unwrap(token) {
            Ok(d) => d,
            Err(e) => return Answer::Fail(e),
        };
        let principal = self.acceptor.principal();
        let Some((layer, authzid)) = data.split_first_chunk::<4>() else {
            return Answer::Fail("GSSAPI: short security layer message".into());
        };
        if layer[0] != LAYER_NONE {
            return Answer::Fail(format!(
                "GSSAPI: {principal} chose a security layer not offered"
            ));
        }
        let user = match self.acceptor.local_name() {
            Ok(u) => u,
            Err(e) => return Answer::Fail(format!("{principal}: {e}")),
        };
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return Answer::Fail(format!("GSSAPI: {principal} asked to act as another user"));
        }
        Answer::Success { user, principal }
    }
}
