//! The client: configuration, the HTTP agent, and the calls of the API.

use crate::error::{Error, ErrorKind, Result, Target};
use crate::input::{self, Checked, Input, MAX_FILES_PER_REQUEST};
use crate::key::ApiKey;
use crate::multipart::{Multipart, Transfer, UploadGate};
use crate::observe::{self, Observer};
use crate::options::CompressOptions;
use crate::response::{self, ImageInfo, Usage};
use crate::retry::{Attempt, RetryPolicy};
use crate::save::{BatchFiles, Destination, ExistsPolicy};
use crate::url::Origin;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::Agent;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://fluximage.app";
/// The largest JSON answer read; a larger one is a protocol error (memory stays bounded).
pub const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;
/// The largest download accepted by [`Client::fetch`] and [`Client::save`].
pub const MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;
/// The most [`Client::fetch`] reserves up front from the size the server announced.
const MAX_PREALLOC_BYTES: u64 = 64 * 1024 * 1024;
pub use crate::limits::{MAX_CONCURRENCY, MAX_RETRIES};
/// Redirects followed by a download (each checked against the HTTPS rule).
const MAX_DOWNLOAD_REDIRECTS: u32 = 5;
/// Results of one request downloaded at once when a call saves them as they come (each over
/// its own keep-alive connection): one after another, each download's round trip adds up, on
/// a WAN link to more than the upload of the request.
pub(crate) const FETCHES_PER_REQUEST: usize = 4;

/// How a [`Client`] talks to the API. `Default` gives the production API (or
/// `FLUXIMAGE_BASE_URL` when set) with the documented defaults below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The API's origin, `https://fluximage.app` unless `FLUXIMAGE_BASE_URL` says otherwise.
    /// Plain `http` is accepted only for loopback hosts.
    pub base_url: String,
    /// Time to open a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Longest wait for the answer to start or for the next bytes of it (default 120 s: the
    /// server encodes every image of a request before it answers).
    pub read_timeout: Duration,
    /// Longest time for one whole request, upload to last byte (default 600 s).
    pub total_timeout: Duration,
    /// An explicit HTTP CONNECT proxy URL (`http://host:port`); when `None`, `HTTPS_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY` from the environment apply. Loopback targets are reached
    /// directly. SOCKS proxies are not supported: a `socks5://` URL here, or in the environment
    /// when a request needs it, is an [`ErrorKind::InvalidArgument`] error, never a direct
    /// connection.
    pub proxy: Option<String>,
    /// A PEM file of CA certificates trusted in addition to the system's (corporate proxies,
    /// the emulator's `--tls` mode).
    pub ca_file: Option<PathBuf>,
    /// Appended to the user agent, e.g. `fluximage-python/0.1.0`.
    pub user_agent_suffix: Option<String>,
    /// When and how failed requests are retried.
    pub retry: RetryPolicy,
    /// Requests of one batch in flight at once, 1..=[`MAX_CONCURRENCY`] (default 4: enough that
    /// one request uploads while the others wait for the server or download, on a WAN link).
    pub concurrency: u32,
}

impl Config {
    /// Checks the settings against their ranges (retries at most [`MAX_RETRIES`],
    /// concurrency 1..=[`MAX_CONCURRENCY`], non-zero timeouts); the message names the setting.
    /// [`Client::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.retry.max_retries > MAX_RETRIES {
            return Err(Error::invalid(format!(
                "max_retries must be between 0 and {MAX_RETRIES} (got {})",
                self.retry.max_retries
            )));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::invalid(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY} (got {})",
                self.concurrency
            )));
        }
        for (name, d) in [
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
            ("total timeout", self.total_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::invalid(format!(
                    "the {name} must be greater than zero"
                )));
            }
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        let base_url = std::env::var("FLUXIMAGE_BASE_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        Config {
            base_url,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(600),
            proxy: None,
            ca_file: None,
            user_agent_suffix: None,
            retry: RetryPolicy::default(),
            concurrency: 4,
        }
    }
}

/// A Fluximage client. Cheap to clone (clones share the connection pool); `Send + Sync`, so
/// one client serves many threads.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    key: ApiKey,
    config: Config,
    base: String,
    /// The proxy for API requests (see `proxy::for_url`); downloads decide per URL.
    api_proxy: Option<ureq::Proxy>,
    roots: RootCerts,
    /// The agent and the process it was made in: a forked child must not share pooled
    /// sockets with its parent, so it builds its own.
    agent: Mutex<(u32, Agent)>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("key", &self.key)
            .field("base_url", &self.base)
            .finish_non_exhaustive()
    }
}

/// One entry of a [`Batch`]: the outcome for one input, in input order.
#[derive(Clone, Debug)]
pub struct Item {
    /// The input's label: its path, or the name given to in-memory bytes.
    pub input: String,
    /// The input file, when the input was a path (saving never overwrites it).
    pub source: Option<PathBuf>,
    /// The optimized image, or why this image failed.
    pub outcome: Result<ImageInfo>,
    /// For [`Client::compress_into`]: the file the result was saved to, or why it could not be
    /// saved (the result itself stays in `outcome`, so it can still be saved elsewhere). `None`
    /// when the call saved nothing, or the image failed.
    pub saved: Option<Result<PathBuf>>,
    /// Position in the batch, and what the batch's saves wrote (shared by its items).
    index: usize,
    files: Arc<BatchFiles>,
}

impl Item {
    /// Item `index` of a batch with no input file, whose saves share `files` (the fuzz targets
    /// build batches from answers without a server).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn unsent(
        index: usize,
        input: String,
        outcome: Result<ImageInfo>,
        files: Arc<BatchFiles>,
    ) -> Item {
        Item {
            input,
            source: None,
            outcome,
            saved: None,
            index,
            files,
        }
    }

    /// Why this item failed: its image, or the save of its result. `None` when it succeeded.
    pub fn error(&self) -> Option<&Error> {
        self.outcome
            .as_ref()
            .err()
            .or_else(|| self.saved.as_ref().and_then(|s| s.as_ref().err()))
    }

    /// The position of this item in its batch (its input's position in the call).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The result's width and height: as the server said, or, when it did not, as read from
    /// the image's header once the result was saved or fetched through the C API.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let info = self.outcome.as_ref().ok()?;
        match (info.width, info.height) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => self.files.dimensions(self.index),
        }
    }

    /// Records the dimensions found in the first bytes of the downloaded result.
    pub(crate) fn learn_dimensions(&self, head: &[u8]) {
        self.files.learn_dimensions(self.index, head);
    }
}

/// The outcome of a compress call: one [`Item`] per input, in input order.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The items, in input order.
    pub items: Vec<Item>,
    /// The session the server grouped the results under (the first request's).
    pub session_id: Option<String>,
    /// The server's answer as received; with several requests, a JSON array of their answers.
    pub raw_json: String,
}

impl Batch {
    /// How many items failed.
    pub fn failed(&self) -> usize {
        self.items.iter().filter(|i| i.error().is_some()).count()
    }

    /// `Ok` when every image succeeded. When every image failed, the first failure (with its
    /// kind, HTTP status and `Retry-After`; its message says how many failed unless they all
    /// failed alike). Otherwise a [`ErrorKind::Partial`] error whose message names the first
    /// failure.
    pub fn status(&self) -> Result<()> {
        let Some(first) = self.items.iter().find_map(|i| i.error().map(|e| (i, e))) else {
            return Ok(());
        };
        if self.failed() == self.items.len() {
            let alike = self
                .items
                .iter()
                .all(|i| i.error().map(Error::message) == Some(first.1.message()));
            return Err(if alike {
                first.1.clone()
            } else {
                first.1.clone().context(format!(
                    "all {} images failed; first: {}",
                    self.items.len(),
                    first.0.input
                ))
            });
        }
        Err(Error::new(
            ErrorKind::Partial,
            format!(
                "{} of {} images failed; first: {}: {}",
                self.failed(),
                self.items.len(),
                first.0.input,
                first.1
            ),
        ))
    }
}

/// One request of a batch: the parsed answer and its raw text, or why it failed.
type ChunkResult = Result<(response::CompressAnswer, String)>;

/// An HTTP answer whose body was read.
struct Answer {
    body: String,
}

fn user_agent(suffix: Option<&str>) -> String {
    let base = format!(
        "libfluximage/{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    match suffix.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => format!("{base} {}", s.replace(|c: char| c.is_control(), "")),
        None => base,
    }
}

/// Connection pools inherited from a parent process, kept open and unused for the child's life.
static PARENT_POOLS: Mutex<Vec<Agent>> = Mutex::new(Vec::new());

/// The system's CA certificates, loaded once per process; `None` when the system has none.
static SYSTEM_ROOTS: once_cell::sync::Lazy<Option<Vec<Certificate<'static>>>> =
    once_cell::sync::Lazy::new(|| {
        let env_file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let candidates = env_file.into_iter().chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
                "/usr/local/etc/openssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
        candidates
            .filter_map(|p| std::fs::read(p).ok())
            .map(|pem| pem_certs(&pem))
            .find(|c| !c.is_empty())
    });

fn pem_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

fn root_certs(ca_file: Option<&PathBuf>) -> Result<RootCerts> {
    let Some(path) = ca_file else {
        return Ok(match SYSTEM_ROOTS.as_ref() {
            Some(certs) => RootCerts::new_with_certs(certs),
            None => RootCerts::WebPki,
        });
    };
    let pem =
        std::fs::read(path).map_err(|e| Error::io(format!("CA file {}", path.display()), &e))?;
    let extra = pem_certs(&pem);
    if extra.is_empty() {
        return Err(Error::invalid(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    let mut all = SYSTEM_ROOTS.clone().unwrap_or_default();
    all.extend(extra);
    Ok(RootCerts::Specific(Arc::new(all)))
}

impl Client {
    /// A client for `api_key` (or `FLUXIMAGE_API_KEY` when `None`). Checks the key's shape,
    /// the base URL and the CA file; makes no request.
    pub fn new(api_key: Option<&str>, config: Config) -> Result<Client> {
        let key = match api_key {
            Some(k) => ApiKey::parse(k)?,
            None => ApiKey::from_env()?,
        };
        Client::with_key(key, config)
    }

    fn with_key(key: ApiKey, config: Config) -> Result<Client> {
        Origin::parse(&config.base_url, "the base URL")?;
        let base = config.base_url.trim_end_matches('/').to_string();
        if let Some(p) = &config.proxy {
            crate::proxy::parse(p, "the proxy URL")?;
        }
        // Decided once for the API; a proxy that cannot be honoured fails here, not per call.
        let api_proxy = crate::proxy::for_url(config.proxy.as_deref(), &base)?;
        config.validate()?;
        let roots = root_certs(config.ca_file.as_ref())?;
        let agent = build_agent(&config, roots.clone());
        Ok(Client {
            inner: Arc::new(Inner {
                key,
                config,
                base,
                api_proxy,
                roots,
                agent: Mutex::new((crate::process::id(), agent)),
            }),
        })
    }

    /// The same key with a new configuration (a new connection pool).
    pub fn reconfigure(&self, config: Config) -> Result<Client> {
        Client::with_key(self.inner.key.clone(), config)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The key, masked (`flx_live_a3b4c...f8e9`).
    pub fn masked_key(&self) -> String {
        self.inner.key.masked()
    }

    fn agent(&self) -> Agent {
        let mut guard = self.inner.agent.lock().unwrap_or_else(|p| p.into_inner());
        let pid = crate::process::id();
        if guard.0 != pid {
            // Forked: the pooled connections belong to the parent. Keep them, unused, rather
            // than close them, since a TLS close from the child would end the parent's session.
            let old = std::mem::replace(
                &mut guard.1,
                build_agent(&self.inner.config, self.inner.roots.clone()),
            );
            PARENT_POOLS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(old);
            guard.0 = pid;
        }
        guard.1.clone()
    }

    /// Plan and credits of the key.
    pub fn usage(&self, obs: &mut Observer) -> Result<Usage> {
        let client = self.clone();
        let transfer = Arc::new(Transfer::default());
        let t = transfer.clone();
        observe::run(obs, &transfer, 0, move || {
            let answer = client.get_api("/api/usage", &t)?;
            response::parse_usage(&answer.body)
        })
    }

    /// Compresses `inputs` with `options`: local checks first (a failed check fails only its
    /// own item), then requests of at most 20 files, `concurrency` at a time. Once the inputs
    /// are checked the batch is always returned, with one item per input carrying its result
    /// or its own error, even when every image failed: [`Batch::status`] says how the call
    /// went. `Err` only for invalid options, no inputs, or a cancel.
    pub fn compress(
        &self,
        inputs: &[Input],
        options: &CompressOptions,
        obs: &mut Observer,
    ) -> Result<Batch> {
        self.compress_refusing(inputs, &[], options, None, obs)
    }

    /// [`Client::compress`], saving each result into the folder `dir` as soon as its request
    /// answers, while the next requests upload: on a slow link this takes about the time of
    /// the upload alone, where saving afterwards adds a round trip per result.
    ///
    /// Before anything is sent, `dir` is created when missing and proved writable (else `Err`,
    /// and nothing is spent), and each input's result name (its stem and the format's
    /// extension; not when the server picks names, with `seo_rename`) is checked under
    /// `policy` as [`Client::save`] would: an input whose result could not be saved (a file
    /// already there under [`ExistsPolicy::Error`], its own input file, or the same name as
    /// another input's result unless renaming) fails on its own and is not sent, so it costs
    /// no credit. Each item's [`Item::saved`] holds the file written or why the save failed;
    /// a result that could not be saved can still be saved elsewhere with [`Client::save`].
    /// Progress counts the downloads too, once their sizes are known.
    pub fn compress_into(
        &self,
        inputs: &[Input],
        options: &CompressOptions,
        dir: &Path,
        policy: ExistsPolicy,
        obs: &mut Observer,
    ) -> Result<Batch> {
        self.compress_refusing(inputs, &[], options, Some((dir, policy)), obs)
    }

    /// [`Client::compress`], where `refused[i]`, when set, is input `i`'s failed local check,
    /// found by the caller before the input was built (the C ABI checks a buffer's length
    /// before copying it).
    pub(crate) fn compress_refusing(
        &self,
        inputs: &[Input],
        refused: &[Option<Error>],
        options: &CompressOptions,
        save: Option<(&Path, ExistsPolicy)>,
        obs: &mut Observer,
    ) -> Result<Batch> {
        options.validate()?;
        if inputs.is_empty() {
            return Err(Error::invalid("no input images given"));
        }
        if let Some((dir, _)) = save {
            crate::save::prepare_output_dir(dir)?;
        }
        let watermark = match &options.watermark {
            Some(w) => Some(
                input::check(&Input::Path(w.path.clone())).map_err(|e| e.context("watermark"))?,
            ),
            None => None,
        };
        let mut checked: Vec<Result<Checked>> = inputs
            .iter()
            .enumerate()
            .map(|(i, inp)| match refused.get(i).cloned().flatten() {
                Some(e) => Err(e),
                None => input::check(inp),
            })
            .collect();
        let files = Arc::new(BatchFiles::default());
        let save = save.map(|(dir, policy)| {
            let target = SaveTarget {
                // The trailing separator: always a folder, even if someone removes it meanwhile.
                dir: dir.join(""),
                policy,
                sources: inputs
                    .iter()
                    .map(|i| i.file().map(Path::to_path_buf))
                    .collect(),
                files: files.clone(),
                saved: Mutex::new(vec![None; inputs.len()]),
            };
            if !options.seo_rename {
                target.check_names(&mut checked, options.format);
            }
            target
        });
        let sendable: Vec<usize> = (0..inputs.len()).filter(|&i| checked[i].is_ok()).collect();
        let chunks: Vec<Vec<usize>> = sendable
            .chunks(MAX_FILES_PER_REQUEST)
            .map(<[usize]>::to_vec)
            .collect();
        let takes_turns = chunks.len() > 1 && self.inner.config.concurrency > 1;
        let plan = Arc::new(Plan {
            files: checked.iter().map(|c| c.as_ref().ok().cloned()).collect(),
            chunks,
            watermark,
            options: options.clone(),
            // One request at a time has nobody to take turns with (a condvar wake is a system
            // call per request).
            gate: takes_turns.then(Arc::default),
            save,
        });
        let total: u64 = (0..plan.chunks.len())
            .map(|c| plan.form(c).content_length())
            .sum();
        let transfer = Arc::new(Transfer::default());
        let answers = if plan.chunks.is_empty() {
            Vec::new()
        } else {
            let (client, plan, t) = (self.clone(), plan.clone(), transfer.clone());
            observe::run(obs, &transfer, total, move || {
                Ok(client.run_chunks(&plan, &t))
            })?
        };
        let saved = match &plan.save {
            Some(s) => std::mem::take(&mut *s.saved.lock().unwrap_or_else(|p| p.into_inner())),
            None => vec![None; inputs.len()],
        };
        assemble(inputs, checked, &plan.chunks, answers, saved, files)
    }

    /// Runs every request of a batch, at most `concurrency` at a time; results by chunk index.
    fn run_chunks(&self, plan: &Plan, transfer: &Arc<Transfer>) -> Vec<ChunkResult> {
        let n = plan.chunks.len();
        let slots: Mutex<Vec<Option<ChunkResult>>> = Mutex::new((0..n).map(|_| None).collect());
        let workers = self.inner.config.concurrency.max(1) as usize;
        observe::each_on_threads(n, workers, |c| {
            let r = if transfer.cancelled.load(Ordering::Relaxed) {
                Err(Error::cancelled())
            } else {
                self.send_chunk(plan, c, transfer)
            };
            if let (Some(save), Ok((answer, _))) = (&plan.save, &r) {
                // Saved before this worker takes the next request, while others upload.
                self.save_chunk(save, &plan.chunks[c], answer, transfer);
            }
            slots.lock().unwrap_or_else(|p| p.into_inner())[c] = Some(r);
        });
        slots
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorKind::Internal,
                        "a batch request was never run",
                    ))
                })
            })
            .collect()
    }

    /// One compress request with retries.
    fn send_chunk(&self, plan: &Plan, chunk: usize, transfer: &Arc<Transfer>) -> ChunkResult {
        let url = format!("{}/api/compress", self.inner.base);
        let policy = &self.inner.config.retry;
        let names: Vec<&str> = plan.chunks[chunk]
            .iter()
            .filter_map(|&i| plan.files[i].as_ref())
            .map(|f| f.name.as_str())
            .collect();
        let mut number = 0;
        loop {
            let form = plan.form(chunk);
            let len = form.content_length();
            let attempt_bytes = Arc::new(AtomicU64::new(0));
            let content_type = form.content_type();
            let turn = plan
                .gate
                .as_ref()
                .map(|g| UploadGate::enter(g, &transfer.cancelled).ok_or_else(Error::cancelled))
                .transpose()?;
            let reader = form.into_reader(transfer.clone(), attempt_bytes.clone(), turn);
            let result = self.send_api(&url, Some((content_type, len, reader)), transfer);
            let sent = attempt_bytes.load(Ordering::Relaxed);
            let result = result.and_then(|a| {
                let parsed =
                    response::parse_compress(&a.body, &names, plan.options.format.as_str())?;
                Ok((parsed, a.body))
            });
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let at = Attempt {
                        number,
                        idempotent: false,
                        body_sent: sent >= len,
                    };
                    // Progress restarts for the bytes sent again.
                    transfer.done.fetch_sub(
                        sent.min(transfer.done.load(Ordering::Relaxed)),
                        Ordering::Relaxed,
                    );
                    match policy.delay(&e, at) {
                        Some(wait) if !transfer.cancelled.load(Ordering::Relaxed) => {
                            observe::sleep(wait, transfer)?
                        }
                        _ => return Err(e),
                    }
                }
            }
            number += 1;
        }
    }

    /// A GET of the API with the key, retried per policy (GETs are idempotent).
    fn get_api(&self, path: &str, transfer: &Arc<Transfer>) -> Result<Answer> {
        let url = format!("{}{}", self.inner.base, path);
        let mut number = 0;
        loop {
            match self.send_api(&url, None, transfer) {
                Ok(a) => return Ok(a),
                Err(e) => match self.inner.config.retry.delay(
                    &e,
                    Attempt {
                        number,
                        idempotent: true,
                        body_sent: true,
                    },
                ) {
                    Some(wait) => observe::sleep(wait, transfer)?,
                    None => return Err(e),
                },
            }
            number += 1;
        }
    }

    /// Sends one API request with the key (a POST of `form`, or a GET without one) and reads a
    /// JSON-sized answer. Redirects are never followed, so the key cannot reach another origin.
    fn send_api(
        &self,
        url: &str,
        form: Option<(String, u64, crate::multipart::FormReader)>,
        transfer: &Arc<Transfer>,
    ) -> Result<Answer> {
        let _call = crate::conn::enter(transfer);
        let agent = self.agent();
        let response = match form {
            Some((content_type, len, reader)) => agent
                .post(url)
                .config()
                .proxy(self.inner.api_proxy.clone())
                .build()
                .header("Authorization", self.inner.key.bearer())
                .header("Content-Type", content_type)
                .header("Content-Length", len.to_string())
                .send(ureq::SendBody::from_owned_reader(reader)),
            None => agent
                .get(url)
                .config()
                .proxy(self.inner.api_proxy.clone())
                .build()
                .header("Authorization", self.inner.key.bearer())
                .call(),
        }
        .map_err(|e| Error::from_transport(e, "the API request"))?;
        check_cancelled(transfer)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let location = header(&response, "location");
            let mut err = answer_error(Target::Api, response);
            if (300..400).contains(&status) {
                let to = location.map(|l| crate::url::join(url, &l));
                let origin = to
                    .as_deref()
                    .and_then(|l| Origin::parse(l, "the redirect").ok());
                err = err.context(match origin {
                    Some(o) => format!(
                        "redirect to {}://{}:{} refused (the key is never sent elsewhere)",
                        o.scheme, o.host, o.port
                    ),
                    None => "redirect refused (the key is never sent elsewhere)".to_string(),
                });
            }
            return Err(err);
        }
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the answer is larger than the {} MiB limit for JSON answers; not read",
                        MAX_JSON_BYTES >> 20
                    ),
                ),
                other => Error::from_transport(other, "reading the answer"),
            })?;
        // A server or proxy may reflect the request's headers: the key is scrubbed from the
        // answer before anything (messages, raw JSON, result fields) is taken from it.
        Ok(Answer {
            body: crate::redact::scrub(&body),
        })
    }

    /// Downloads a result into memory.
    pub fn fetch(&self, image: &ImageInfo, obs: &mut Observer) -> Result<Vec<u8>> {
        let client = self.clone();
        let (url, size) = (image.url.clone(), image.size);
        let transfer = Arc::new(Transfer::default());
        let t = transfer.clone();
        // One allocation of the announced size (capped; a larger download still grows): growing
        // by doubling copies the result several times and, once glibc's mmap threshold has
        // risen, leaves up to 1.5x its size resident.
        let expected = image.size.unwrap_or(0).min(MAX_PREALLOC_BYTES) as usize;
        observe::run(obs, &transfer, image.size.unwrap_or(0), move || {
            let mut out = Vec::with_capacity(expected);
            client.download(&url, size, &t, &mut out)?;
            Ok(out)
        })
    }

    /// Downloads the result of `item` to `path` and returns the path written.
    ///
    /// `path` is a file, or a folder (an existing directory, or a path ending in `/`) where
    /// the file is named after the result; missing folders are created. When a file is
    /// already there, `policy` decides: [`ExistsPolicy::Error`] fails with
    /// [`ErrorKind::Exists`] before anything is downloaded, [`ExistsPolicy::Rename`] picks the
    /// first free `stem-2.ext`, `stem-3.ext`, ..., [`ExistsPolicy::Overwrite`] replaces it.
    /// Under every policy, results of one batch never replace each other and the item's own
    /// input file is never replaced. The file is written through a temporary file in the same
    /// folder, so an interrupted or failed save leaves nothing behind.
    pub fn save(
        &self,
        item: &Item,
        path: &std::path::Path,
        policy: ExistsPolicy,
        obs: &mut Observer,
    ) -> Result<PathBuf> {
        let image = item.outcome.as_ref().map_err(Clone::clone)?;
        let dest = Destination::resolve(
            path,
            &image.name,
            item.source.as_deref(),
            item.index,
            policy,
            &item.files,
        )?;
        let tmp = crate::download::temp_path_for(&dest.target);
        self.download_to_temp(image, &tmp, obs)?;
        dest.commit(&tmp)
    }

    /// Compresses one file and writes the result to `output`, which the caller names and which
    /// is replaced when it exists (never when it is `input`). The output's folder is created
    /// when missing and proved writable before anything is uploaded.
    pub fn compress_file(
        &self,
        input: &std::path::Path,
        output: &std::path::Path,
        options: &CompressOptions,
        obs: &mut Observer,
    ) -> Result<u64> {
        crate::download::check_output(output, input)?;
        let batch = self.compress(&[Input::Path(input.to_path_buf())], options, obs)?;
        let item = &batch.items[0];
        let image = item.outcome.as_ref().map_err(Clone::clone)?;
        let tmp = crate::download::temp_path_for(output);
        let n = self.download_to_temp(image, &tmp, obs)?;
        let moved = crate::download::keep_permissions(&tmp, output).and_then(|()| {
            std::fs::rename(&tmp, output).map_err(|e| {
                Error::io(
                    format!("cannot move the result to {}", output.display()),
                    &e,
                )
            })
        });
        if moved.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        moved.map(|_| n)
    }

    /// Downloads `image` into the new temporary file `tmp`. On any failure `tmp` is removed
    /// before this returns: a cancelled call returns at once while its worker may still hold
    /// the file, so it is removed here as well as by the worker.
    fn download_to_temp(
        &self,
        image: &ImageInfo,
        tmp: &std::path::Path,
        obs: &mut Observer,
    ) -> Result<u64> {
        let client = self.clone();
        let (url, size) = (image.url.clone(), image.size);
        let transfer = Arc::new(Transfer::default());
        let t = transfer.clone();
        let worker_tmp = tmp.to_path_buf();
        let result = observe::run(obs, &transfer, image.size.unwrap_or(0), move || {
            crate::download::write_temp(&worker_tmp, |file| client.download(&url, size, &t, file))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        result
    }

    /// Saves the results of one answered request into `save`'s folder, a few at a time.
    fn save_chunk(
        &self,
        save: &SaveTarget,
        chunk: &[usize],
        answer: &response::CompressAnswer,
        transfer: &Arc<Transfer>,
    ) {
        let jobs: Vec<(usize, &ImageInfo)> = chunk
            .iter()
            .zip(&answer.entries)
            .filter_map(|(&i, e)| e.as_ref().ok().map(|info| (i, info)))
            .collect();
        for (_, info) in &jobs {
            transfer
                .more
                .fetch_add(info.size.unwrap_or(0), Ordering::Relaxed);
        }
        observe::each_on_threads(jobs.len(), FETCHES_PER_REQUEST, |k| {
            let (i, info) = jobs[k];
            let r = if transfer.cancelled.load(Ordering::Relaxed) {
                Err(Error::cancelled())
            } else {
                self.save_one(save, i, info, transfer)
            };
            save.saved.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
        });
    }

    /// Downloads result `i` through a temporary file into `save`'s folder, by the save rules.
    fn save_one(
        &self,
        save: &SaveTarget,
        i: usize,
        info: &ImageInfo,
        transfer: &Arc<Transfer>,
    ) -> Result<PathBuf> {
        let dest = Destination::resolve(
            &save.dir,
            &info.name,
            save.sources[i].as_deref(),
            i,
            save.policy,
            &save.files,
        )?;
        let tmp = crate::download::temp_path_for(&dest.target);
        crate::download::write_temp(&tmp, |file| {
            self.download(&info.url, info.size, transfer, file)
        })?;
        dest.commit(&tmp)
    }

    /// GETs a signed URL without the key, following redirects that keep to the HTTPS rule,
    /// retrying transient failures (downloads are idempotent), writing into `sink`. `size` is
    /// the size the compress answer announced: a download of another length is tried once more,
    /// then refused.
    fn download(
        &self,
        url: &str,
        size: Option<u64>,
        transfer: &Arc<Transfer>,
        sink: &mut dyn crate::download::Sink,
    ) -> Result<u64> {
        let mut number = 0;
        loop {
            let result = self.download_once(url, size, transfer, sink);
            match result {
                Ok(n) => return Ok(n),
                Err(e) => match self
                    .inner
                    .config
                    .retry
                    .delay(
                        &e,
                        Attempt {
                            number,
                            idempotent: true,
                            body_sent: true,
                        },
                    )
                    .or_else(|| {
                        let allowed = number == 0 && self.inner.config.retry.max_retries > 0;
                        (allowed && crate::verify::is_incomplete(&e))
                            .then_some(std::time::Duration::ZERO)
                    }) {
                    Some(wait) if e.kind() != ErrorKind::Cancelled => {
                        observe::sleep(wait, transfer)?;
                        sink.restart()
                            .map_err(|io| Error::io("restarting the download", &io))?;
                        transfer.done.store(0, Ordering::Relaxed);
                    }
                    _ => return Err(e),
                },
            }
            number += 1;
        }
    }

    fn download_once(
        &self,
        url: &str,
        size: Option<u64>,
        transfer: &Arc<Transfer>,
        sink: &mut dyn crate::download::Sink,
    ) -> Result<u64> {
        let _call = crate::conn::enter(transfer);
        let mut current = url.to_string();
        for _ in 0..=MAX_DOWNLOAD_REDIRECTS {
            crate::url::check_download(&current)?;
            let proxy = crate::proxy::for_url(self.inner.config.proxy.as_deref(), &current)?;
            let response = self
                .agent()
                .get(&current)
                .config()
                .proxy(proxy)
                .build()
                .header("Accept-Encoding", crate::verify::ACCEPT_ENCODING)
                .call()
                .map_err(|e| Error::from_transport(e, "the download"))?;
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                let location = header(&response, "location").ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("the download redirected ({status}) without a Location"),
                    )
                })?;
                current = crate::url::join(&current, &location);
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(answer_error(Target::Download, response));
            }
            crate::verify::check_encoding(header(&response, "content-encoding").as_deref())?;
            let content_length =
                header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
            let mut reader = response
                .into_body()
                .into_with_config()
                .limit(MAX_DOWNLOAD_BYTES)
                .reader();
            // Sized to the answer: zeroing 64 KiB for a small image costs more than reading it.
            let want =
                content_length.map_or(64 * 1024, |n| n.saturating_add(1).clamp(4096, 64 * 1024));
            let mut buf = vec![0u8; want as usize];
            let mut total = 0u64;
            loop {
                check_cancelled(transfer)?;
                let n = reader.read(&mut buf).map_err(|e| {
                    match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                        Some(ureq::Error::BodyExceedsLimit(_)) => Error::new(
                            ErrorKind::Protocol,
                            format!(
                                "the download is larger than the {} MiB limit",
                                MAX_DOWNLOAD_BYTES >> 20
                            ),
                        ),
                        _ => Error::from_transport(ureq::Error::Io(e), "the download"),
                    }
                })?;
                if n == 0 {
                    crate::verify::check_length(total, content_length, size)?;
                    return Ok(total);
                }
                sink.write_all(&buf[..n])
                    .map_err(|e| Error::io("writing the download", &e))?;
                total += n as u64;
                transfer.done.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        Err(Error::new(
            ErrorKind::Protocol,
            format!("the download redirected more than {MAX_DOWNLOAD_REDIRECTS} times"),
        ))
    }
}

/// A header of `response` as text, when present and printable.
fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The error for a non-2xx answer, from its status, `Content-Type`, `Retry-After` and the
/// start of its body (all a message needs; the rest is not read).
fn answer_error(target: Target, response: ureq::http::Response<ureq::Body>) -> Error {
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let retry_after =
        header(&response, "retry-after").and_then(|v| crate::time::parse_retry_after(&v));
    let mut head = Vec::new();
    let _ = response
        .into_body()
        .as_reader()
        .take(4096)
        .read_to_end(&mut head);
    Error::from_http(target, status, content_type.as_deref(), &head, retry_after)
}

fn check_cancelled(transfer: &Transfer) -> Result<()> {
    if transfer.cancelled.load(Ordering::Relaxed) {
        Err(Error::cancelled())
    } else {
        Ok(())
    }
}

/// How long a resolved host name is reused (connections are pooled longer than this anyway).
const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// A name resolver that costs nothing per request. ureq's default resolver starts a thread for
/// every request when a timeout is set (ours always are), even for an IP address and even when
/// a pooled connection is then reused. Here IP literals are parsed in place, and names are
/// resolved by the default resolver (its thread bounded by the timeout) once per RESOLVE_TTL.
#[derive(Debug, Default)]
struct Resolver {
    inner: ureq::unversioned::resolver::DefaultResolver,
    cache: Mutex<
        std::collections::HashMap<
            String,
            (
                std::time::Instant,
                ureq::unversioned::resolver::ResolvedSocketAddrs,
            ),
        >,
    >,
}

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> std::result::Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return self.inner.resolve(uri, config, timeout);
        };
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == &ureq::http::uri::Scheme::HTTPS {
                443
            } else {
                80
            });
        let host = authority.host();
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{scheme}://{host}:{port}");
        let now = std::time::Instant::now();
        if let Some((at, addrs)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if now.duration_since(*at) < RESOLVE_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (now, addrs.clone()));
        Ok(addrs)
    }
}

fn build_agent(config: &Config, roots: RootCerts) -> Agent {
    let agent_config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.read_timeout))
        .timeout_recv_response(Some(config.read_timeout))
        .timeout_global(Some(config.total_timeout))
        .user_agent(user_agent(config.user_agent_suffix.as_deref()))
        // Chosen per request by `proxy::for_url`, never from the environment by ureq.
        .proxy(None)
        .max_idle_connections_per_host(config.concurrency.max(1) as usize + 2)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build();
    Agent::with_parts(
        agent_config,
        crate::conn::CancelConnector::default(),
        Resolver::default(),
    )
}

/// What a batch will send: the checked files, how they are grouped into requests, and the form
/// fields every request repeats.
struct Plan {
    files: Vec<Option<Checked>>,
    chunks: Vec<Vec<usize>>,
    watermark: Option<Checked>,
    options: CompressOptions,
    /// One request of the batch uploads at a time (see [`UploadGate`]).
    gate: Option<Arc<UploadGate>>,
    /// Where results are saved as their requests answer ([`Client::compress_into`]).
    save: Option<SaveTarget>,
}

/// The folder a batch saves into, and what its saves wrote.
struct SaveTarget {
    /// The folder, with a trailing separator.
    dir: PathBuf,
    policy: ExistsPolicy,
    /// Each input's file, when it is one (never replaced).
    sources: Vec<Option<PathBuf>>,
    files: Arc<BatchFiles>,
    /// Per input: the file written, or why the save failed.
    saved: Mutex<Vec<Option<Result<PathBuf>>>>,
}

impl SaveTarget {
    /// Fails, before anything is sent, each input whose predicted result could not be saved:
    /// a file in the way under the policy, its own input file, or (unless renaming) the same
    /// name as an earlier input's result.
    fn check_names(&self, checked: &mut [Result<Checked>], format: crate::Format) {
        let mut taken: HashMap<PathBuf, usize> = HashMap::new();
        for (i, c) in checked.iter_mut().enumerate() {
            let Ok(file) = c else { continue };
            let name = crate::save::predicted_name(&file.name, format);
            let verdict = Destination::resolve(&self.dir, &name, self.sources[i].as_deref(), i, self.policy, &self.files).and_then(|d| {
                match taken.get(&d.target) {
                    Some(&first) if self.policy != ExistsPolicy::Rename => Err(Error::new(
                        ErrorKind::Exists,
                        format!(
                            "{} would also be the result of input {} of this batch; results of one batch never replace each other (use the rename policy)",
                            d.target.display(),
                            first + 1
                        ),
                    )),
                    _ => {
                        taken.insert(d.target.clone(), i);
                        Ok(())
                    }
                }
            });
            if let Err(e) = verdict {
                *c = Err(e.context("not sent"));
            }
        }
    }
}

impl Plan {
    /// The form of request `chunk` (rebuilt for each attempt; the files are opened lazily).
    fn form(&self, chunk: usize) -> Multipart {
        let mut m = Multipart::new();
        for (name, value) in self.options.fields() {
            m.text(name, &value);
        }
        if let Some(w) = &self.watermark {
            m.file("watermarkFile", &w.name, w.source.clone(), w.len);
        }
        for &i in &self.chunks[chunk] {
            let f = self.files[i]
                .as_ref()
                .expect("chunks hold checked files only");
            m.file("file", &f.name, f.source.clone(), f.len);
        }
        m
    }
}

/// Puts the per-request answers back into input order; a request that failed as a whole
/// fails each of its items with its error.
fn assemble(
    inputs: &[Input],
    checked: Vec<Result<Checked>>,
    chunks: &[Vec<usize>],
    answers: Vec<ChunkResult>,
    saved: Vec<Option<Result<PathBuf>>>,
    files: Arc<BatchFiles>,
) -> Result<Batch> {
    let mut outcomes: Vec<Option<Result<ImageInfo>>> =
        checked.into_iter().map(|c| c.err().map(Err)).collect();
    let mut raws = Vec::new();
    let mut session_id = None;
    for (chunk, answer) in chunks.iter().zip(answers) {
        match answer {
            Ok((parsed, raw)) => {
                session_id = session_id.or(parsed.session_id);
                raws.push(raw);
                for (&i, entry) in chunk.iter().zip(parsed.entries) {
                    outcomes[i] = Some(entry.map_err(|m| {
                        Error::new(
                            ErrorKind::Server,
                            format!("the server could not process this image: {m}"),
                        )
                    }));
                }
            }
            Err(e) => {
                if e.kind() == ErrorKind::Cancelled {
                    return Err(e);
                }
                for &i in chunk {
                    outcomes[i] = Some(Err(e.clone()));
                }
            }
        }
    }
    let raw_json = match raws.len() {
        0 => String::new(),
        1 => raws.pop().unwrap_or_default(),
        _ => format!("[{}]", raws.join(",")),
    };
    let items = inputs
        .iter()
        .zip(outcomes)
        .zip(saved)
        .enumerate()
        .map(|(index, ((input, outcome), saved))| Item {
            input: input.label(),
            source: input.file().map(Path::to_path_buf),
            outcome: outcome
                .unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "no outcome recorded"))),
            saved,
            index,
            files: files.clone(),
        })
        .collect();
    Ok(Batch {
        items,
        session_id,
        raw_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_and_debug_masks_the_key() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
        let key = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3";
        let c = Client::new(
            Some(key),
            Config {
                base_url: "http://127.0.0.1:9".into(),
                ..Config::default()
            },
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(key), "{dbg}");
        assert!(dbg.contains("flx_live_f2e72...dfd3"), "{dbg}");
    }

    #[test]
    fn refuses_plain_http_to_remote_hosts_before_connecting() {
        let key = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3";
        let e = Client::new(
            Some(key),
            Config {
                base_url: "http://example.com".into(),
                ..Config::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("https is required"), "{}", e.message());
    }

    #[test]
    fn user_agent_names_library_and_platform() {
        let ua = user_agent(Some("gimp-plugin/1.0"));
        assert!(
            ua.starts_with(&format!("libfluximage/{} (", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
        assert!(ua.ends_with(" gimp-plugin/1.0"), "{ua}");
    }
}
