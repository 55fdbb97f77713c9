//! The two shapes of the compress answer: reference (camelCase) and alt (snake_case).

use serde::Serialize;

use crate::util::rfc3339;

pub(crate) struct Done<'a> {
    pub original: &'a str,
    pub name: String,
    pub format: &'static str,
    pub original_size: usize,
    pub size: usize,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub url: String,
    pub exp: u64,
    pub alt_text: Option<String>,
    pub seo_name: Option<String>,
}

pub(crate) enum Entry<'a> {
    Ok(Done<'a>),
    Failed {
        original: &'a str,
        error: &'static str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefAnswer<'a> {
    pub session_id: String,
    pub results: Vec<RefEntry<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum RefEntry<'a> {
    #[serde(rename_all = "camelCase")]
    Ok {
        original_name: &'a str,
        name: &'a str,
        format: &'static str,
        original_size: usize,
        size: usize,
        width: Option<u32>,
        height: Option<u32>,
        url: &'a str,
        expires_at: String,
        alt_text: Option<&'a str>,
        seo_name: Option<&'a str>,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        original_name: &'a str,
        error: &'static str,
    },
}

impl<'a> From<&'a Entry<'a>> for RefEntry<'a> {
    fn from(e: &'a Entry<'a>) -> Self {
        match e {
            Entry::Ok(d) => RefEntry::Ok {
                original_name: d.original,
                name: &d.name,
                format: d.format,
                original_size: d.original_size,
                size: d.size,
                width: d.width,
                height: d.height,
                url: &d.url,
                expires_at: rfc3339(d.exp),
                alt_text: d.alt_text.as_deref(),
                seo_name: d.seo_name.as_deref(),
            },
            Entry::Failed { original, error } => RefEntry::Failed {
                original_name: original,
                error,
            },
        }
    }
}

#[derive(Serialize)]
pub(crate) struct AltAnswer<'a> {
    pub session_id: String,
    pub data: Vec<AltEntry<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum AltEntry<'a> {
    Ok {
        original_filename: &'a str,
        filename: &'a str,
        format: &'static str,
        original_size: usize,
        compressed_size: usize,
        width: Option<u32>,
        height: Option<u32>,
        download_url: &'a str,
        expires_in: u64,
        alt_text: Option<&'a str>,
        seo_name: Option<&'a str>,
    },
    Failed {
        original_filename: &'a str,
        error: &'static str,
    },
}

impl<'a> AltEntry<'a> {
    pub fn new(e: &'a Entry<'a>, ttl: u64) -> Self {
        match e {
            Entry::Ok(d) => AltEntry::Ok {
                original_filename: d.original,
                filename: &d.name,
                format: d.format,
                original_size: d.original_size,
                compressed_size: d.size,
                width: d.width,
                height: d.height,
                download_url: &d.url,
                expires_in: ttl,
                alt_text: d.alt_text.as_deref(),
                seo_name: d.seo_name.as_deref(),
            },
            Entry::Failed { original, error } => AltEntry::Failed {
                original_filename: original,
                error,
            },
        }
    }
}
