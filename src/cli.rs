//! The command line. Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand};

/// Prepare VM disk images for upload to a cloud without booting them.
///
/// imgseal attaches an image over NBD into one libguestfs appliance, checks it against the
/// cloud vendor's image rules (R1-R9), rewrites it in place, and seals it. The input image is
/// never written. Exit codes: 0 success (or compliant), 1 not compliant / verification
/// mismatch, 2 error.
#[derive(Debug, Parser)]
#[command(
    name = "imgseal",
    version = env!("IMGSEAL_VERSION"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Show host commands, guest commands and their output.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Only print results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what an image holds: OS, filesystems, cloud-init, firewall, network (read-only).
    Inspect(InspectArgs),
    /// Check an image against the profile's rules (read-only). Exit 0 compliant, 1 not
    /// compliant, 2 error.
    Check(CheckArgs),
    /// Rewrite an image until every rule passes, then seal it: OUTPUT plus OUTPUT.sha256
    /// and OUTPUT.manifest.json. The input is never written (--in-place replaces it
    /// atomically at the end). Exit 0 converted, 1 rules still fail (nothing written), 2
    /// error.
    Convert(ConvertArgs),
    /// Convert many images: N workers, live progress, a log per image, a summary; exit 0
    /// only if every image succeeded.
    Batch(BatchArgs),
    /// Boot an image under qemu with a NoCloud seed and judge what the guest reports:
    /// booted, cloud-init from NoCloud with the vendor's version, no firewall, MTU not
    /// pinned, no reboot required, powered off. The image is never written (a throwaway
    /// overlay takes the guest's writes). Exit 0 passed, 1 a judgement failed, 2 it could
    /// not run.
    BootTest(BootTestArgs),
    /// Merge the summaries the shards of a `batch --shard` array left in DIR into one: every
    /// image ok, failed, or missing because its shard never ran. Exit 0 only when every image
    /// is done (converted or up to date), 1 otherwise, 2 when DIR holds no shard summaries.
    BatchReport(BatchReportArgs),
    /// Re-hash an output against OUTPUT.sha256 and its manifest (exit 1 on a mismatch);
    /// --deep also recomputes the content digest and re-runs the checks.
    Verify(VerifyArgs),
    /// Compare two conversions by their manifests: whether their tree digests match, and
    /// which of input, profile, vendor packages, operations and environment (imgseal,
    /// libguestfs, qemu, appliance kernel, container image, base snapshot) differ. Exit 0
    /// when the tree digests match, 1 when they differ, 2 on bad input.
    DiffManifest(DiffManifestArgs),
    /// Print an image's content digest, the same for every container format (compare an image
    /// after a cloud converted it), as `ALGORITHM:HEX  PATH`; or with --file, the SHA-256 of
    /// the file's bytes as `HEX  PATH` (sha256sum's form).
    Digest(DigestArgs),
    /// List every check and operation with its rule, default state and summary.
    Rules(RulesArgs),
    /// Check that this host can run conversions (qemu tools, appliance launch, temp space).
    Doctor(DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// scripts/install.sh installs them where the shells look; use this to install
    /// elsewhere, e.g. `imgseal completions bash > ~/.local/share/bash-completion/completions/imgseal`.
    Completions(CompletionsArgs),
    /// Write the man pages (imgseal.1 and one imgseal-COMMAND.1 per command) into DIR.
    ///
    /// scripts/install.sh installs them under /usr/local/share/man/man1; use this to install
    /// elsewhere, e.g. `imgseal manpages ~/.local/share/man/man1`. Prints each file written.
    Manpages(ManpagesArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// The directory the pages go into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
}

/// Which rules apply and which vendor packages serve them.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// A built-in profile name (jdcloud) or a profile TOML file.
    #[arg(long, value_name = "NAME|FILE", default_value = crate::profile::DEFAULT)]
    pub profile: String,

    /// Directory holding vendor.toml and the vendor packages it lists.
    #[arg(long, value_name = "DIR", default_value = crate::vendor::DEFAULT_DIR)]
    pub vendor_dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Print the report as JSON (schema 1).
    #[arg(long)]
    pub json: bool,

    /// Also write a JUnit XML report to FILE for CI (GitLab, Jenkins): one testsuite for the
    /// image, one testcase per check ("R2 firewall-ufw"), a failing check as a failure.
    /// Written also when the image is not compliant (exit 1); FILE's directory must exist.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
}

/// How the operations run and what the output looks like (convert and batch).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Skip an operation (repeatable); see `imgseal rules`.
    #[arg(long, value_name = "OP")]
    pub skip: Vec<String>,

    /// Give the appliance a network (lets `apt-get install -f` fetch missing dependencies
    /// of the vendor package).
    #[arg(long)]
    pub network: bool,

    /// Accept a vendor package with no sha256 pinned in vendor.toml (a mismatch is always
    /// refused).
    #[arg(long)]
    pub allow_unpinned: bool,

    /// Output container format [default: qcow2; with --in-place, the input's format].
    #[arg(long, value_enum, value_name = "FMT")]
    pub output_format: Option<crate::seal::OutFormat>,

    /// Compress the output (qcow2 only).
    #[arg(long)]
    pub compress: bool,

    /// Also write OUTPUT.md5 (some cloud consoles ask for MD5).
    #[arg(long)]
    pub md5: bool,

    /// The algorithm of the manifest's content digest.
    #[arg(long, value_enum, value_name = "ALGORITHM", default_value_t)]
    pub digest: crate::digest::Algorithm,

    /// Leave out the tree digest (`output.tree_sha256`): every guest file is hashed inside
    /// the appliance, which under TCG is a large share of a conversion. Without it two
    /// conversions can still be compared by their content digest, not by their files.
    #[arg(long, env = "IMGSEAL_NO_TREE_DIGEST", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_tree_digest: bool,

    /// Boot the sealed image once before publishing it (see `imgseal boot-test`): a failing
    /// boot fails the conversion (exit 1, nothing published); the result is the manifest's
    /// `boot_test` section and the console log is kept as OUTPUT.boot.log. Minutes under
    /// TCG.
    #[arg(long)]
    pub boot_test: bool,

    /// The boot test's timeout in seconds.
    #[arg(long, value_name = "S", default_value_t = crate::boot::DEFAULT_TIMEOUT_S, requires = "boot_test")]
    pub boot_timeout: u64,
}

#[derive(Debug, Args)]
pub struct BootTestArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// Seconds from qemu's start until the guest must have reported and powered off (1–3
    /// minutes is usual for a Linux guest under TCG, seconds under KVM).
    #[arg(long, value_name = "S", default_value_t = crate::boot::DEFAULT_TIMEOUT_S)]
    pub timeout: u64,

    /// The guest's firmware.
    #[arg(long, value_enum, value_name = "FW", default_value_t)]
    pub firmware: crate::boot::FirmwareChoice,

    /// Where the console log goes [default: IMAGE.boot.log].
    #[arg(long, value_name = "FILE")]
    pub log: Option<std::path::PathBuf>,

    /// Directory holding vendor.toml: the cloud-init version the guest must run.
    #[arg(long, value_name = "DIR", default_value = crate::vendor::DEFAULT_DIR)]
    pub vendor_dir: std::path::PathBuf,

    /// Print the result as JSON (schema 1).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// Where to write the sealed image (refused if it exists, unless --force).
    #[arg(short, long, value_name = "OUTPUT", required_unless_present_any = ["in_place", "dry_run"])]
    pub output: Option<std::path::PathBuf>,

    /// Replace the input with the sealed image (written beside it, renamed over it).
    #[arg(long, conflicts_with = "output")]
    pub in_place: bool,

    /// Replace an existing OUTPUT.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub profile: ProfileArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Run only these operations (repeatable).
    #[arg(long, value_name = "OP", conflicts_with = "skip")]
    pub only: Vec<String>,

    /// Attach read-only and print what each operation would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the manifest (or the plan, or the failed reports) as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also write a JUnit XML report to FILE for CI (GitLab, Jenkins): one testsuite for the
    /// image, one testcase per operation and per check after the operations (before them on
    /// a dry run or when the conversion stopped earlier). Written also when rules still fail
    /// (exit 1) or the conversion fails; FILE's directory must exist.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Images, directories (their *.qcow2, *.img, *.raw, *.vmdk, *.vhd(x), *.vdi, *.qed
    /// files) and job files (*.toml: [[job]] input = "..." output = "..." profile = "...").
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Where outputs, their sidecars and a log per image go (created if missing; locked
    /// while the batch runs).
    #[arg(long, value_name = "DIR")]
    pub out_dir: std::path::PathBuf,

    /// Conversions in parallel [default: the number of cores, but no more than the
    /// appliances available memory holds: (MemAvailable - 512 MiB) / 1.2 GB, at least 1].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Skip images whose output manifest already records this input (sha256) and profile.
    #[arg(long)]
    pub resume: bool,

    /// Redo images whose output exists (without --resume an existing output fails that image).
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub run: RunArgs,

    /// Print the summary as JSON (schema 1).
    #[arg(long)]
    pub json: bool,

    /// Also write a JUnit XML report to FILE for CI (GitLab, Jenkins): one testsuite per
    /// image with its operations and checks as `convert --junit` writes them; an image that
    /// failed before its checks ran has one error testcase. FILE's directory must exist.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,

    /// Convert only shard I of N (0-based) of the images: a stable partition by a hash of each
    /// output's name, the same on every host, so N array tasks given the same inputs share
    /// the work and one --out-dir. `auto` reads the array engine's task index and count
    /// (SLURM_ARRAY_TASK_ID/COUNT, JOB_COMPLETION_INDEX with --shard-count,
    /// AWS_BATCH_JOB_ARRAY_INDEX/SIZE). A shard resumes what an earlier attempt finished and
    /// writes DIR/.imgseal-shard-I-of-N.json for `imgseal batch-report`.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,

    /// The shard count for `--shard auto` where the engine does not export it (Kubernetes:
    /// the Job's completions).
    #[arg(long, value_name = "N", requires = "shard")]
    pub shard_count: Option<u32>,

    /// Print which images this batch (or shard) would convert, and into which outputs; convert
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BatchReportArgs {
    /// The shared output directory of the shards.
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,

    /// Print the merged summary as JSON (the batch summary, schema 1, with `shards`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The sealed image (its .sha256 and .manifest.json sit beside it).
    #[arg(value_name = "OUTPUT")]
    pub output: std::path::PathBuf,

    /// Also recompute the content digest over NBD and re-run the checks (one appliance launch).
    #[arg(long)]
    pub deep: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffManifestArgs {
    /// The first manifest (OUTPUT.manifest.json, or the OUTPUT it sits beside).
    #[arg(value_name = "A")]
    pub a: std::path::PathBuf,

    /// The second manifest.
    #[arg(value_name = "B")]
    pub b: std::path::PathBuf,

    /// Print `{"schema":1,"a","b","tree_digest_match","tree_sha256":[A,B],"fields":[{"name","same","a","b"}]}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The image (or any file, with --file).
    #[arg(value_name = "PATH")]
    pub path: std::path::PathBuf,

    /// Hash the file's bytes (like sha256sum) instead of the disk content.
    #[arg(long)]
    pub file: bool,

    /// The image's container format; detected once by qemu-img when not given.
    #[arg(long, value_name = "FMT", conflicts_with = "file")]
    pub format: Option<String>,

    /// The content digest's algorithm.
    #[arg(
        long,
        value_enum,
        value_name = "ALGORITHM",
        default_value_t,
        conflicts_with = "file"
    )]
    pub algorithm: crate::digest::Algorithm,

    /// The tree digest of the guest's files instead (format `imgseal-tree-v1`, what the
    /// manifest's `output.tree_sha256` records): one appliance launch, read-only.
    #[arg(long, conflicts_with_all = ["file", "algorithm"])]
    pub tree: bool,

    /// Print `{"path", "of": "content"|"file"|"tree", "algorithm", "value"}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,

    /// Print as the Markdown table docs/rules.md carries.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
}

/// How an input image is attached.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// The disk image: a file, or an NBD URI (nbd://HOST:PORT/EXPORT,
    /// nbd+unix:///EXPORT?socket=PATH).
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The input's container format (raw, qcow2, vmdk, vpc, vhdx, vdi, qed). Without it,
    /// qemu-img detects it once and imgseal passes it explicitly from then on.
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,

    /// Accept an input with a backing file (or other external files). Refused by default:
    /// a crafted image could make qemu read host files.
    #[arg(long)]
    pub allow_backing: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// Print JSON (schema 1) instead of the aligned summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn junit_is_an_option_of_check_convert_and_batch() {
        let j = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Check(a) => a.junit,
            Command::Convert(a) => a.junit,
            Command::Batch(a) => a.junit,
            _ => panic!("wrong subcommand"),
        };
        let want = Some(std::path::PathBuf::from("r.xml"));
        assert_eq!(
            j(&["imgseal", "check", "--junit", "r.xml", "d.qcow2"]),
            want
        );
        assert_eq!(
            j(&[
                "imgseal",
                "convert",
                "--dry-run",
                "--junit",
                "r.xml",
                "d.qcow2"
            ]),
            want
        );
        assert_eq!(
            j(&[
                "imgseal",
                "batch",
                "--out-dir",
                "o",
                "--junit",
                "r.xml",
                "d.qcow2"
            ]),
            want
        );
        assert_eq!(j(&["imgseal", "check", "d.qcow2"]), None);
    }

    #[test]
    fn inspect_parses() {
        let c = Cli::try_parse_from([
            "imgseal", "inspect", "--json", "--format", "qcow2", "d.qcow2",
        ])
        .unwrap();
        match c.command {
            Command::Inspect(a) => {
                assert!(a.json);
                assert_eq!(a.image.image, "d.qcow2");
                assert_eq!(a.image.format.as_deref(), Some("qcow2"));
            }
            _ => panic!("wrong subcommand"),
        }
    }
}
