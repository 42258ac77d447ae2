//! Tokens: every call carries the token (when the server has one), and
//! deletion and retention carry the admin token.

use crate::ServerOptions;
use tonic::{Request, Status};

/// The interceptor that checks every call's bearer token.
#[derive(Clone)]
pub(crate) struct TokenCheck {
    /// `Bearer <token>` for the token and the admin token; empty when the
    /// server needs none.
    accepted: Vec<String>,
}

impl TokenCheck {
    pub(crate) fn new(opts: &ServerOptions) -> TokenCheck {
        let accepted = match &opts.token {
            None => Vec::new(),
            Some(t) => std::iter::once(t)
                .chain(opts.admin_token.iter())
                .map(|t| format!("Bearer {t}"))
                .collect(),
        };
        TokenCheck { accepted }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if self.accepted.is_empty() {
            return Ok(req);
        }
        match req.metadata().get("authorization") {
            None => Err(Status::unauthenticated(
                "missing token: send `authorization: Bearer <token>`",
            )),
            Some(v)
                if self
                    .accepted
                    .iter()
                    .any(|t| same(t.as_bytes(), v.as_bytes())) =>
            {
                Ok(req)
            }
            Some(_) => Err(Status::unauthenticated("wrong token")),
        }
    }
}

/// Whether a call carries the admin token (deletion and retention).
pub(crate) fn admin(
    opts: &ServerOptions,
    meta: &tonic::metadata::MetadataMap,
) -> Result<(), Status> {
    let Some(admin) = &opts.admin_token else {
        return Err(Status::permission_denied(
            "deletion and retention are disabled: start the server with an admin token",
        ));
    };
    let want = format!("Bearer {admin}");
    match meta.get("authorization") {
        Some(v) if same(want.as_bytes(), v.as_bytes()) => Ok(()),
        _ => Err(Status::permission_denied("this call needs the admin token")),
    }
}

/// Compare in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
