//! The command line: every flag, its help text and the examples shown by `--help`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  flx compress photo.jpg -o out/                    one file, WebP at quality 82
  flx compress -r --format avif --quality 60 shots/ -o web/
  flx compress --skip-existing shots/*.jpg -o web/  rerun: only what is not there yet
  flx sync photos/ -o site/img --exclude 'raw/**' --dry-run
  flx watch inbox/ -o outbox/ --jsonl
  flx usage --json

Configuration:
  FLUXIMAGE_API_KEY       the API key (flx_live_ + 40 hex); never printed
  FLUXIMAGE_API_KEY_FILE  read the key from this file instead (secrets managers)
  FLUXIMAGE_BASE_URL      API address (default https://fluximage.app)

Exit status:
  0    everything asked for was done
  1    some files failed (each failure is reported)
  2    usage or configuration error: nothing was uploaded
  3    not enough credits for the work: nothing was uploaded
  130  interrupted by SIGINT (129 for SIGHUP, 143 for SIGTERM); no temporary file is left";

/// flx: optimize images with the Fluximage API.
#[derive(Parser, Debug)]
#[command(name = "flx", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Flags that every subcommand accepts.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Connection and output")]
pub struct Global {
    /// API address (default: $FLUXIMAGE_BASE_URL, else https://fluximage.app)
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// Also trust the CA certificates in this PEM file
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Proxy URL (http://host:port, socks5://host:port); default: HTTPS_PROXY / ALL_PROXY
    #[arg(long, global = true, value_name = "URL")]
    pub proxy: Option<String>,
    /// Requests in flight at once
    #[arg(long, global = true, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub concurrency: u32,
    /// Retries of a failed request (429, 5xx, connection failures)
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: Option<u32>,
    /// Longest time in seconds for one request, upload to last byte
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,
    /// One JSON document on stdout when done
    #[arg(long, global = true, conflicts_with = "jsonl")]
    pub json: bool,
    /// One JSON line per file as it happens, then a summary line (schema in the README)
    #[arg(long, global = true)]
    pub jsonl: bool,
    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print skipped and up-to-date files, and the reasons
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compress files and folders into OUTDIR
    #[command(after_help = "\
Each result is saved as OUTDIR/<path below the argument>/<stem>.<format>. Before anything is
uploaded, flx creates OUTDIR, checks that it is writable and that no result would replace an
existing file; a file that exists stops the run unless --overwrite or --skip-existing says what
to do. Inputs that are results of other inputs of the same run (a.webp beside a.jpg) are not
compressed again. With --seo-rename the server names the results, so names are checked when
each result is saved (an existing file is still never replaced without --overwrite).")]
    Compress(CompressArgs),
    /// Mirror a folder tree, compressing only what changed since the last run
    Sync(SyncArgs),
    /// Sync once, then compress new and changed files as they arrive (Ctrl-C stops)
    Watch(WatchArgs),
    /// Show the plan and the credits left
    Usage,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout
    #[command(hide = true)]
    Man,
}

/// Output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Webp,
    Avif,
    #[value(alias = "jpeg")]
    Jpg,
    Png,
}

impl From<FormatArg> for fluximage::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Webp => fluximage::Format::Webp,
            FormatArg::Avif => fluximage::Format::Avif,
            FormatArg::Jpg => fluximage::Format::Jpg,
            FormatArg::Png => fluximage::Format::Png,
        }
    }
}

/// Watermark position: top/middle/bottom × left/center/right.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
#[allow(clippy::upper_case_acronyms)]
pub enum PositionArg {
    TL,
    TC,
    TR,
    ML,
    MC,
    MR,
    BL,
    BC,
    BR,
}

/// What a compress asks of the server: every option of the API.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Image options")]
pub struct ApiOptions {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = FormatArg::Webp)]
    pub format: FormatArg,
    /// Lossy quality for webp, avif and jpg (png is lossless)
    #[arg(short = 'Q', long, value_name = "40..100", default_value_t = 82,
          value_parser = clap::value_parser!(u32).range(40..=100))]
    pub quality: u32,
    /// Scale down to at most this many pixels wide (never enlarges)
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub max_width: Option<u32>,
    /// Scale down to at most this many pixels high (never enlarges)
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub max_height: Option<u32>,
    /// Draw this PNG on every image (paid plans)
    #[arg(long, value_name = "PNG")]
    pub watermark: Option<PathBuf>,
    /// Watermark width in percent of the image width
    #[arg(long, value_name = "5..50", default_value_t = 20, requires = "watermark",
          value_parser = clap::value_parser!(u32).range(5..=50))]
    pub watermark_scale: u32,
    /// Watermark opacity, 0 (invisible) to 100 (opaque)
    #[arg(long, value_name = "0..100", default_value_t = 100, requires = "watermark",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub watermark_opacity: u32,
    /// Watermark position
    #[arg(long, value_enum, value_name = "POS", default_value_t = PositionArg::BR, requires = "watermark")]
    pub watermark_position: PositionArg,
    /// Ask for AI-written alt text per image (1 AI credit per image)
    #[arg(long)]
    pub alt_text: bool,
    /// Name results with an AI-written SEO file name (1 AI credit per image, shared with --alt-text)
    #[arg(long)]
    pub seo_rename: bool,
    /// Group the results under this session id
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
}

impl ApiOptions {
    /// The library's options for these flags.
    pub fn to_options(&self) -> fluximage::CompressOptions {
        let watermark = self.watermark.as_ref().map(|p| fluximage::Watermark {
            path: p.clone(),
            scale: self.watermark_scale,
            opacity: self.watermark_opacity,
            position: fluximage::Position::ALL[self.watermark_position as usize],
        });
        fluximage::CompressOptions {
            format: self.format.into(),
            quality: self.quality,
            max_width: self.max_width,
            max_height: self.max_height,
            session_id: self.session_id.clone(),
            watermark,
            alt_text: self.alt_text,
            seo_rename: self.seo_rename,
        }
    }
}

#[derive(Args, Debug)]
pub struct CompressArgs {
    /// Image files, and folders whose images are compressed
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where the results go (created when missing)
    #[arg(short, long, value_name = "OUTDIR")]
    pub output: PathBuf,
    /// Descend into subfolders and mirror the tree in OUTDIR
    #[arg(short, long)]
    pub recursive: bool,
    /// Replace results that already exist in OUTDIR (never an input)
    #[arg(long, conflicts_with = "skip_existing")]
    pub overwrite: bool,
    /// Skip, without uploading, the files whose result already exists
    #[arg(long)]
    pub skip_existing: bool,
    /// Say what would be done; upload nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub api: ApiOptions,
}

/// What to do when a result is larger than its original.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfLargerArg {
    /// Keep the original's bytes under the result's name
    Original,
    /// Write the larger result anyway
    Write,
    /// Write nothing for that file
    Skip,
}

#[derive(Args, Debug, Clone)]
pub struct SyncFlags {
    /// Only files whose path below SRC matches (repeatable; default: every image)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files whose path below SRC matches (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Also consider hidden files and folders
    #[arg(long)]
    pub hidden: bool,
    /// Follow symbolic links
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Compress what the credits allow instead of refusing the whole run
    #[arg(long)]
    pub allow_partial: bool,
    /// When a result is larger than its original
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = IfLargerArg::Original)]
    pub if_larger: IfLargerArg,
    /// Replace each original by its result (needs --backup)
    #[arg(long, requires = "backup")]
    pub in_place: bool,
    /// With --in-place: move each original here first
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
    /// Give each result its original's modification time
    #[arg(long)]
    pub preserve_mtime: bool,
    /// Replace files in OUT that the last sync did not write
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The folder tree to mirror
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// Where the compressed tree goes (with --in-place: SRC itself, may be omitted)
    #[arg(short, long, value_name = "OUT", required_unless_present = "in_place")]
    pub output: Option<PathBuf>,
    /// Say what would be done; upload nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub sync: SyncFlags,
    #[command(flatten)]
    pub api: ApiOptions,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The folder tree to watch
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// Where the compressed tree goes
    #[arg(short, long, value_name = "OUT", required_unless_present = "in_place")]
    pub output: Option<PathBuf>,
    /// Milliseconds a new file's size must stay the same before it is picked up
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub settle_ms: u64,
    /// Milliseconds of quiet gathered into one batch
    #[arg(long, value_name = "MS", default_value_t = 2000, hide = true)]
    pub batch_ms: u64,
    #[command(flatten)]
    pub sync: SyncFlags,
    #[command(flatten)]
    pub api: ApiOptions,
}
