//! Parsing of `/v2/` paths into the spec's endpoints.
//!
//! Repository names contain slashes, so the router cannot split paths on fixed segments;
//! instead the endpoint is recognised from the end of the path and everything before it
//! is the name. The parser never panics and never allocates more than the path it reads;
//! names, digests and tags are returned raw for the caller to validate with the spec's
//! grammar, so that each gets its own precise error.

/// An endpoint of the OCI Distribution API, with its raw path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: &'a str },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: &'a str, reference: &'a str },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: &'a str, digest: &'a str },
    /// `/v2/<name>/blobs/uploads/`
    Uploads { name: &'a str },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: &'a str, id: &'a str },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: &'a str, digest: &'a str },
}

impl Endpoint<'_> {
    /// The methods the endpoint serves, as an `Allow` header lists them.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Endpoint::Base => "GET, HEAD",
            Endpoint::Catalog | Endpoint::Tags { .. } | Endpoint::Referrers { .. } => "GET",
            Endpoint::Manifest { .. } => "GET, HEAD, PUT, DELETE",
            Endpoint::Blob { .. } => "GET, HEAD, DELETE",
            Endpoint::Uploads { .. } => "POST",
            Endpoint::Upload { .. } => "GET, PATCH, PUT, DELETE",
        }
    }

    /// A short, fixed label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::Catalog => "catalog",
            Endpoint::Tags { .. } => "tags",
            Endpoint::Manifest { .. } => "manifest",
            Endpoint::Blob { .. } => "blob",
            Endpoint::Uploads { .. } | Endpoint::Upload { .. } => "upload",
            Endpoint::Referrers { .. } => "referrers",
        }
    }
}

/// Recognises a request path (without query). `None` when no endpoint matches.
pub fn parse(path: &str) -> Option<Endpoint<'_>> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Endpoint::Base);
    }
    if rest == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return non_empty(name).map(|name| Endpoint::Tags { name });
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads/") {
        return non_empty(name).map(|name| Endpoint::Uploads { name });
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads") {
        return non_empty(name).map(|name| Endpoint::Uploads { name });
    }

    // Every remaining endpoint is `<name>/<kind>/<last>` with a single final segment.
    let (head, last) = rest.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return non_empty(name).map(|name| Endpoint::Upload { name, id: last });
    }
    let (name, kind) = head.rsplit_once('/')?;
    let name = non_empty(name)?;
    match kind {
        "manifests" => Some(Endpoint::Manifest {
            name,
            reference: last,
        }),
        "blobs" => Some(Endpoint::Blob { name, digest: last }),
        "referrers" => Some(Endpoint::Referrers { name, digest: last }),
        _ => None,
    }
}

fn non_empty(name: &str) -> Option<&str> {
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_endpoint() {
        assert_eq!(parse("/v2/"), Some(Endpoint::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Endpoint::Catalog));
        assert_eq!(
            parse("/v2/team/app/api/tags/list"),
            Some(Endpoint::Tags {
                name: "team/app/api"
            })
        );
        assert_eq!(
            parse("/v2/a/manifests/latest"),
            Some(Endpoint::Manifest {
                name: "a",
                reference: "latest"
            })
        );
        assert_eq!(
            parse("/v2/a/b/blobs/sha256:00"),
            Some(Endpoint::Blob {
                name: "a/b",
                digest: "sha256:00"
            })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/"),
            Some(Endpoint::Uploads { name: "a" })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads"),
            Some(Endpoint::Uploads { name: "a" })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/abc"),
            Some(Endpoint::Upload {
                name: "a",
                id: "abc"
            })
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:00"),
            Some(Endpoint::Referrers {
                name: "a",
                digest: "sha256:00"
            })
        );
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(
            parse("/v2/blobs/manifests/tags/list"),
            Some(Endpoint::Tags {
                name: "blobs/manifests"
            })
        );
        assert_eq!(
            parse("/v2/manifests/blobs/uploads/x"),
            Some(Endpoint::Upload {
                name: "manifests",
                id: "x"
            })
        );
        assert_eq!(
            parse("/v2/x/blobs/manifests/v1"),
            Some(Endpoint::Manifest {
                name: "x/blobs",
                reference: "v1"
            })
        );
    }

    #[test]
    fn rejects_paths_that_are_no_endpoint() {
        for path in [
            "/v2",
            "/v3/",
            "/v2/a",
            "/v2/a/",
            "/v2/a/manifests/",
            "/v2/manifests/x",
            "/v2//manifests/x",
            "/v2/a/unknown/x",
            "/v2/tags/list",
            "/v2/blobs/uploads/",
            "/v2/a/blobs/uploads/x/y",
            "",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_paths() {
        let pieces = [
            "/",
            "v2",
            "blobs",
            "uploads",
            "manifests",
            "tags",
            "list",
            "a",
            "",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut path = String::from("/v2/");
            for _ in 0..(seed % 7) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                path.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let _ = parse(&path);
            seed = seed.wrapping_add(1);
        }
    }
}
