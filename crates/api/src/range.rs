//! Byte ranges in the two forms the API meets them: a reader's `Range` header on blob
//! reads (RFC 9110) and an uploader's `Content-Range` on chunks (the spec's `<start>-<end>`).
//!
//! Both ends are inclusive, as in the headers; conversion to offsets and lengths happens
//! here so handlers never do off-by-one arithmetic.

/// A satisfiable slice of a blob: `start` and `length` in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub start: u64,
    pub length: u64,
}

impl Slice {
    /// The last byte's offset, as `Content-Range` writes it.
    pub fn end_inclusive(&self) -> u64 {
        self.start + self.length - 1
    }
}

/// How a `Range` header applies to a blob of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole blob: no header, or one this server chooses to ignore (several
    /// ranges), which RFC 9110 allows.
    Full,
    /// Serve one slice with 206.
    Partial(Slice),
    /// Answer 416: malformed, or outside the blob.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a blob of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(value) = header else {
        return RangeRequest::Full;
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        // RFC 9110: a range unit the server does not know is ignored, not refused.
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let slice = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let Ok(suffix) = suffix.parse::<u64>() else {
                return RangeRequest::Unsatisfiable;
            };
            if suffix == 0 || size == 0 {
                return RangeRequest::Unsatisfiable;
            }
            let length = suffix.min(size);
            Slice {
                start: size - length,
                length,
            }
        }
        (first, last) => {
            let Ok(start) = first.parse::<u64>() else {
                return RangeRequest::Unsatisfiable;
            };
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            let end = if last.is_empty() {
                size - 1
            } else {
                match last.parse::<u64>() {
                    Ok(end) if end >= start => end.min(size - 1),
                    _ => return RangeRequest::Unsatisfiable,
                }
            };
            Slice {
                start,
                length: end - start + 1,
            }
        }
    };
    RangeRequest::Partial(slice)
}

/// Parses an upload chunk's `Content-Range`: `<start>-<end>`, inclusive. Tolerates the
/// `bytes ` and `bytes=` prefixes some clients send. `None` when malformed.
pub fn parse_content_range(value: &str) -> Option<Slice> {
    let value = value.trim();
    let value = value
        .strip_prefix("bytes ")
        .or_else(|| value.strip_prefix("bytes="))
        .unwrap_or(value);
    let value = value.split_once('/').map_or(value, |(range, _)| range);
    let (first, last) = value.split_once('-')?;
    let start: u64 = first.trim().parse().ok()?;
    let end: u64 = last.trim().parse().ok()?;
    let length = end.checked_sub(start)?.checked_add(1)?;
    Some(Slice { start, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, length: u64) -> RangeRequest {
        RangeRequest::Partial(Slice { start, length })
    }

    #[test]
    fn range_forms() {
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), partial(0, 5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), partial(5, 5));
        assert_eq!(parse_range(Some("bytes=-3"), 10), partial(7, 3));
        assert_eq!(parse_range(Some("bytes=-30"), 10), partial(0, 10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), partial(8, 2));
        assert_eq!(parse_range(Some("bytes=9-9"), 10), partial(9, 1));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Full);
    }

    #[test]
    fn unsatisfiable_ranges() {
        for header in [
            "bytes=10-",
            "bytes=10-12",
            "bytes=5-4",
            "bytes=-0",
            "bytes=a-b",
            "bytes=",
            "bytes=1",
            "bytes=--1",
        ] {
            assert_eq!(
                parse_range(Some(header), 10),
                RangeRequest::Unsatisfiable,
                "{header}"
            );
        }
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-1"), 0),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn content_range_forms() {
        let slice = Slice {
            start: 10,
            length: 11,
        };
        assert_eq!(parse_content_range("10-20"), Some(slice));
        assert_eq!(parse_content_range("bytes 10-20/*"), Some(slice));
        assert_eq!(parse_content_range("bytes=10-20"), Some(slice));
        assert_eq!(slice.end_inclusive(), 20);
        let overflowing = "0-18446744073709551615";
        for bad in ["", "10", "20-10", "a-b", "-5", "5-", "1-2-3", overflowing] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
