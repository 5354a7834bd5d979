//! `GET /images/search` and `POST /auth`: the registry calls that touch no image.

use berth_distribution::{AuthConfig, DistError, SearchResult, DOCKER_HUB};

use super::pull::dist_error;
use super::ImageFilters;
use crate::{Daemon, Error, Result};

/// Splits a search term into the index to ask and the query (`host:5000/foo`
/// searches `foo` on `host:5000`; anything else goes to Docker Hub).
fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, term),
    }
}

fn keep(r: &SearchResult, filters: &ImageFilters) -> Result<bool> {
    for (k, values) in filters {
        for v in values {
            let ok = match k.as_str() {
                "stars" => {
                    let n: i64 = v.parse().map_err(|_| {
                        Error::InvalidParameter(format!("invalid filter 'stars={v}'"))
                    })?;
                    r.star_count >= n
                }
                "is-official" | "is-automated" => {
                    let want: bool = v.parse().map_err(|_| {
                        Error::InvalidParameter(format!("invalid filter '{k}={v}'"))
                    })?;
                    want == if k == "is-official" {
                        r.is_official
                    } else {
                        r.is_automated
                    }
                }
                _ => return Err(Error::InvalidParameter(format!("invalid filter '{k}'"))),
            };
            if !ok {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

impl Daemon {
    /// Searches the index of the term's registry.
    pub fn search_images(
        &self,
        term: &str,
        limit: Option<u32>,
        filters: &ImageFilters,
        auth: &AuthConfig,
    ) -> Result<Vec<SearchResult>> {
        let limit = limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(Error::InvalidParameter(format!(
                "limit {limit} is outside the range of [1, 100]"
            )));
        }
        // Reject unknown filters before asking anyone.
        if let Some(k) = filters
            .keys()
            .find(|k| !["stars", "is-official", "is-automated"].contains(&k.as_str()))
        {
            return Err(Error::InvalidParameter(format!("invalid filter '{k}'")));
        }
        let (index, query) = split_term(term);
        let creds = auth
            .credentials()
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let results = self
            .registry()?
            .search(index, query, limit, &creds)
            .map_err(dist_error)?;
        let mut out = Vec::new();
        for r in results {
            if keep(&r, filters)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Checks credentials as `POST /auth` does: `Ok(Ok(identity token))` when
    /// the registry accepts them, `Ok(Err(message))` when it refuses them.
    pub fn login(&self, auth: &AuthConfig) -> Result<std::result::Result<Option<String>, String>> {
        let creds = auth
            .credentials()
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let server = if auth.serveraddress.is_empty() {
            berth_distribution::DOCKER_HUB_AUTH_KEY
        } else {
            auth.serveraddress.as_str()
        };
        match self.registry()?.login(server, &creds) {
            Ok(r) => Ok(Ok(r.identity_token)),
            Err(e @ DistError::Protocol(_)) => Ok(Err(e.to_string())),
            Err(e) if e.is_denied() => Ok(Err(e.to_string())),
            Err(e) => Err(dist_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_filters() {
        assert_eq!(split_term("busybox"), (DOCKER_HUB, "busybox"));
        assert_eq!(
            split_term("library/busybox"),
            (DOCKER_HUB, "library/busybox")
        );
        assert_eq!(split_term("127.0.0.1:5000/x"), ("127.0.0.1:5000", "x"));
        let r = SearchResult {
            star_count: 10,
            is_official: true,
            ..Default::default()
        };
        let f = |k: &str, v: &str| ImageFilters::from([(k.to_string(), vec![v.to_string()])]);
        assert!(keep(&r, &f("stars", "5")).unwrap());
        assert!(!keep(&r, &f("stars", "11")).unwrap());
        assert!(keep(&r, &f("is-official", "true")).unwrap());
        assert!(!keep(&r, &f("is-automated", "true")).unwrap());
        assert!(keep(&r, &f("stars", "x")).is_err());
        assert_eq!(
            keep(&r, &f("color", "red")).unwrap_err().to_string(),
            "invalid filter 'color'"
        );
    }
}
